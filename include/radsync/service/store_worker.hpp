#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/logger.h>

#include "radsync/config/config.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/mapping/credentials.hpp"
#include "radsync/mapping/engine.hpp"
#include "radsync/metrics/registry.hpp"
#include "radsync/reconcile/reconciler.hpp"
#include "radsync/reconcile/vanished.hpp"
#include "radsync/sched/processing.hpp"
#include "radsync/sched/watchdog.hpp"
#include "radsync/session/presence.hpp"
#include "radsync/snapshot/merge.hpp"
#include "radsync/store/store.hpp"

namespace radsync::service {

/// The one thread that writes the database (design.md: "One writer"). It commits webhook
/// deliveries to the inbox in batches — a burst costs a few fsyncs, not one per event — and
/// applies committed events to the snapshot and the RADIUS tables through the reconcile path,
/// in slices, when sched::ProcessingPolicy says so (at once, or after a burst). Committing
/// always goes first. The network thread only enqueues and is never blocked on disk.
///
/// An event whose processing fails on its own is retried; after ProcessingPolicy::max_attempts
/// it is parked (result "parked: <error>") so the events behind it go on.
class StoreWorker {
public:
    struct Options {
        bool process_events = true;   ///< false only for crash-recovery tests
        std::size_t max_batch = 512;  ///< events per inbox commit
        std::size_t max_queue =
            10'000;  ///< beyond this, ingest fails fast (503, OfficeRnD retries)
        std::chrono::hours keep_processed{24 * 8};  ///< dedupe window (>= 7 days)
        sched::ProcessingPolicy processing;
    };

    /// What happened to a delivery. An enum, not bool: boost::system::result<bool> in Boost
    /// 1.81 converts through `explicit operator bool` when copied from a non-const lvalue,
    /// silently turning an error into a success.
    enum class Ingest { kStored, kDuplicate };

    /// Called on the worker thread: kStored = new event committed, kDuplicate = already held,
    /// error = could not be made durable.
    using IngestDone = std::function<void(Result<Ingest>)>;

    StoreWorker(store::Stores stores, std::shared_ptr<const config::Config> config,
                const core::Clock& clock, mapping::PasswordGenerator generator,
                metrics::Registry& metrics, Options options);
    ~StoreWorker();
    StoreWorker(const StoreWorker&) = delete;
    StoreWorker& operator=(const StoreWorker&) = delete;

    /// Loads the stored snapshot and starts the thread, which first processes anything left
    /// unprocessed by a previous run (a crash after acknowledging loses nothing).
    [[nodiscard]] Status start();
    /// Commits everything queued, finishes the current processing run, joins. Idempotent.
    void stop();

    /// Thread-safe. `done` runs on the worker thread once the event is durable (or not).
    void ingest(store::InboxEvent event, IngestDone done);

    using FullRunDone = std::function<void(Result<reconcile::RunReport>)>;
    /// Thread-safe: queues a full reconcile of `snap` (a complete poll). `done` runs on the
    /// worker thread with the report; webhook acknowledgements queued meanwhile go first.
    ///
    /// `fetch_started`, from begin_fetch() before the fetch began: every entity a webhook
    /// changed since then is merged into `snap` by the usual ordering rules (newer modifiedAt,
    /// removals tombstoned), so a poll that was already under way cannot undo a member who
    /// joined, or bring back one who left, while it ran.
    void submit_full(snapshot::Snapshot snap, reconcile::RunOptions options,
                     std::optional<std::uint64_t> fetch_started, FullRunDone done);

    using RequeueDone = std::function<void(Result<std::size_t>)>;
    using ResetDone = std::function<void(Result<reconcile::ResetOutcome>)>;
    /// Thread-safe: reconcile::reset_password for the member `key` names, against the held
    /// snapshot (e-mailed, or returned for printing when `print`); `done` runs on the worker
    /// thread.
    void reset_password(std::string key, bool print, ResetDone done);

    // The outbox, for the mailer's threads. Thread-safe and blocking; Errc::kStoreBusy once
    // the worker stops.
    /// StateStore::outbox_claim at the worker's clock.
    [[nodiscard]] Result<std::vector<store::OutboxMessage>> outbox_claim(std::size_t limit);
    [[nodiscard]] Status outbox_settle(std::vector<store::OutboxSettlement> settled);
    [[nodiscard]] Result<std::optional<core::Instant>> outbox_next_due();
    [[nodiscard]] Result<std::map<std::string, std::size_t>> outbox_counts();
    /// Thread-safe: StateStore::outbox_requeue; `done` runs on the worker thread.
    void outbox_requeue(std::optional<std::int64_t> id, RequeueDone done);
    /// Called on the worker thread after a run that queued messages (the mailer wakes). Set
    /// before start().
    void on_messages_queued(std::function<void()> wake) { messages_queued_ = std::move(wake); }
    /// Called on the worker thread after every applied run with the row changes it made, the
    /// radusergroup rows when a group's own rows changed (else none), and the configuration
    /// it ran with: the session worker tells the access points. Set before start().
    using RowsApplied = std::function<void(const std::vector<reconcile::RowChange>& changes,
                                           const std::vector<store::RadRow>& memberships,
                                           const config::Config& config)>;
    void on_rows_applied(RowsApplied f) { rows_applied_ = std::move(f); }

    /// Thread-safe, blocking (for the check-in worker's thread): who is who in radacct (member
    /// accounts' usernames -> member ids) and where check-ins are made
    /// (session::presence_sites of the held snapshot under the current configuration).
    [[nodiscard]] Result<
        std::pair<std::map<std::string, std::string>, std::vector<session::PresenceSite>>>
    presence_directory();

    /// Thread-safe: makes parked events pending again (one, or all with nullopt) and processes
    /// them; `done` runs on the worker thread with how many.
    void requeue_parked(std::optional<std::string> event_id, RequeueDone done);

    /// Thread-safe: marks the start of a fetch; pass the value to submit_full() and vanished().
    [[nodiscard]] std::uint64_t begin_fetch() const { return write_seq_.load(); }

    /// Thread-safe, blocking (for the poller's thread): the members, companies and memberships
    /// the held snapshot has and `fetched` lacks whose absence could cost an active account
    /// access (reconcile::find_vanished), leaving out those a webhook changed since
    /// `fetch_started` (submit_full merges them anyway).
    [[nodiscard]] Result<std::vector<reconcile::Vanished>> vanished(
        const snapshot::Snapshot& fetched, std::uint64_t fetch_started);

    /// Thread-safe: the configuration used from the next unit of work on (SIGHUP reload).
    /// Every member and group row is then re-mapped from the held snapshot at once, so a
    /// mapping change (a group's bandwidth, a plan's group) needs no API poll to take effect.
    void set_config(std::shared_ptr<const config::Config> config);

    /// Thread-safe: false after a store operation failed, until one succeeds again.
    [[nodiscard]] bool healthy() const { return healthy_.load(); }
    /// Thread-safe: number of unprocessed inbox events at the last check.
    [[nodiscard]] std::size_t inbox_depth() const { return depth_.load(); }
    /// Thread-safe: events processed since start (tests and benchmarks wait on it).
    [[nodiscard]] std::uint64_t processed_count() const { return processed_.load(); }
    /// Thread-safe: waits until at least `count` events were processed (applied, ignored or
    /// parked) since start, or `limit` passed; true if reached.
    [[nodiscard]] bool wait_processed(std::uint64_t count, std::chrono::milliseconds limit);

    /// Beats at every round of the worker's loop, which waits at most a second when idle: a
    /// worker that stops beating is stuck inside a unit of work (the watchdog's view).
    [[nodiscard]] const sched::Heartbeat& heartbeat() const { return heartbeat_; }
    /// Thread-safe: keeps the worker busy for `d` (the watchdog test's stuck worker; `serve
    /// --stall-store-worker-for-test`). Never called otherwise.
    void stall_for_test(std::chrono::milliseconds d);

private:
    struct Pending {
        store::InboxEvent event;
        IngestDone done;
    };
    struct FullRun {
        snapshot::Snapshot snap;
        reconcile::RunOptions options;
        std::optional<std::uint64_t> fetch_started;
        FullRunDone done;
    };
    using EntityKey = std::pair<snapshot::Kind, std::string>;

    using SteadyClock = std::chrono::steady_clock;

    void run();
    /// Runs `call` on the worker thread and waits for it (callers on other threads only).
    void call_on_worker(std::function<void()> call);
    /// Queues `call` for the worker thread; runs `refused` instead when it is stopping.
    void post(std::function<void()> call, const std::function<void()>& refused);
    /// Entities webhooks changed after `seq` (worker thread).
    [[nodiscard]] std::set<EntityKey> written_since(std::uint64_t seq) const;
    /// Merges into `snap` what webhooks changed since `seq`; the tombstones among them go into
    /// `removed` (worker thread).
    void merge_recent_writes(snapshot::Snapshot& snap, std::uint64_t seq,
                             snapshot::Tombstones& removed) const;
    void ingest_batch(std::vector<Pending>& batch);
    void full_run(FullRun& job);
    /// Every member and group row from the held snapshot (a reload; a repair at start).
    void remap_all(const char* mode, const char* source);
    /// The configuration for the next unit of work (a reload swaps the pointer under mu_).
    std::shared_ptr<const config::Config> current_config();
    /// Reads the earliest scheduled transition and publishes it (worker thread, after a run).
    void refresh_schedule();
    /// Applies the scheduled transitions that are due, as one scoped run (worker thread).
    void apply_due_transitions();
    /// Worker thread: whether the policy wants a processing slice now; else when to ask again.
    sched::ProcessingPolicy::Decision processing_decision(SteadyClock::time_point now);
    /// Applies the oldest pending events (at most one slice). False when nothing more can be
    /// done now: the inbox is empty, or processing failed and waits for its retry.
    bool process_slice();
    /// Slices until the inbox is empty or processing fails (at start).
    void process_pending();
    /// Merges and applies `events` in one transaction; on failure nothing is kept.
    Status apply_events(const std::vector<store::InboxEvent>& events);
    /// An event failed on its own: count the attempt, park it after too many.
    void handle_failure(const store::InboxEvent& event, const Error& error);
    void pause_processing();
    void settled(const std::vector<store::InboxEvent>& events);
    Status reload_snapshot();
    /// Metrics of a full run or a remap: its outcome, and on success what record_success sets.
    void record_full_run(const std::string& mode, const Result<reconcile::RunReport>& report,
                         bool dry_run);
    /// Metrics every successful run (webhook or full) updates; `mode` labels the timestamp and
    /// the row changes.
    void record_success(const std::string& mode, const reconcile::RunReport& report);
    /// Full runs: every account and refusal is in the decisions, so the counts start afresh.
    void count_from_decisions(const std::vector<mapping::Decision>& decisions);
    void publish_account_counts();
    /// Reads how many events are parked now into radsync_inbox_parked (at start, and after
    /// anything that parks, requeues or prunes them).
    void publish_parked();

    store::Stores stores_;
    store::StateStore* state_;  // = stores_.state
    reconcile::Environment env_;
    std::shared_ptr<const config::Config> config_;  // guarded by mu_
    const core::Clock& clock_;
    metrics::Registry& metrics_;
    Options options_;
    std::shared_ptr<spdlog::logger> log_;

    snapshot::Snapshot snapshot_;
    snapshot::Tombstones tombstones_;
    // Events committed by this run and not yet applied, in inbox order, with their
    // acknowledgement time: the oldest decides deferral; each gives a processing latency.
    std::deque<std::pair<std::string, SteadyClock::time_point>> waiting_;
    // Entities webhooks changed, in order, for merging into a poll that was under way
    // (worker thread; write_seq_ is readable anywhere). Bounded: past kMaxRecentWrites the
    // oldest are dropped and a poll that started before them is refused (retried).
    std::deque<std::pair<std::uint64_t, EntityKey>> recent_writes_;
    std::atomic<std::uint64_t> write_seq_{0};
    std::uint64_t dropped_through_ = 0;
    // Accounts by state (worker thread): counted at start, then kept by every run.
    long long active_accounts_ = 0;
    long long revoked_accounts_ = 0;
    core::Instant last_prune_{};
    SteadyClock::time_point last_depth_check_{};
    bool process_failed_ = false;
    SteadyClock::time_point retry_at_{};
    // The earliest scheduled transition (worker thread), and when to try again after a
    // transition run failed.
    std::optional<store::Transition> next_transition_;
    SteadyClock::time_point transition_retry_at_{};

    std::mutex mu_;
    std::condition_variable cv_;
    std::condition_variable processed_cv_;
    std::deque<Pending> queue_;
    // Arrival times of the latest ProcessingPolicy::burst_events deliveries (burst detection).
    std::deque<SteadyClock::time_point> arrivals_;
    std::deque<FullRun> full_runs_;
    std::deque<std::function<void()>> calls_;
    bool stopping_ = false;
    bool remap_requested_ = false;
    bool repair_at_start_ = false;  // set by start(), read by the worker thread it starts
    sched::Heartbeat heartbeat_;
    std::thread thread_;

    RowsApplied rows_applied_;
    std::function<void()> messages_queued_;
    std::atomic<bool> healthy_{true};
    std::atomic<std::size_t> depth_{0};
    std::atomic<std::uint64_t> processed_{0};
};

}  // namespace radsync::service
