#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <spdlog/logger.h>

#include "radsync/core/error.hpp"
#include "radsync/metrics/registry.hpp"
#include "radsync/reconcile/reconciler.hpp"
#include "radsync/reconcile/vanished.hpp"
#include "radsync/sched/policy.hpp"
#include "radsync/sched/watchdog.hpp"
#include "radsync/service/store_worker.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::service {

/// The fallback that makes lost webhooks harmless: fetches the whole OfficeRnD account on its
/// own thread (network waits never hold up the store worker or the webhook listener) and hands
/// each complete snapshot to the store worker for one full reconcile. Runs at start (initial
/// import), then every `policy.interval` ± jitter, backing off after failures, and on demand.
///
/// Before a snapshot is applied, every member, company or membership that vanished from the
/// lists since the last one (and whose absence would cost someone access) is confirmed with a
/// single GET, on this thread: nobody loses access only because a list left them out.
class Poller {
public:
    /// Where the snapshots come from (OfficeRnD, or a fake in tests).
    struct Source {
        /// Fetches a complete snapshot or fails; never returns a partial one.
        std::function<Result<snapshot::Snapshot>()> fetch;
        /// Asks about one entity that vanished from the lists (reconcile::settle_vanished).
        reconcile::Confirm confirm;
        /// At most this many confirmations per run (sync.deletion_guard.confirm_vanished).
        std::size_t max_confirm = 25;
    };
    using Done = std::function<void(Result<reconcile::RunReport>)>;

    struct Request {
        bool dry_run = false;
        bool allow_mass_removal = false;
        Done done;  ///< runs on a worker thread when the run ends (may be empty)
    };

    Poller(Source source, StoreWorker& worker, sched::Policy policy, metrics::Registry& metrics);
    ~Poller();
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;

    void start();
    /// Stops after the run in progress (its fetch may take up to the request timeout).
    void stop();
    /// Thread-safe: run as soon as possible (after the current run, if any).
    void trigger(Request request);

    /// Thread-safe: fetch from `source` from the next run on (a reload: new credentials, a
    /// new request timeout). The run in progress finishes with the old one.
    void replace_source(Source source);

    struct State {
        std::optional<std::chrono::system_clock::time_point> next_run;
        int consecutive_failures = 0;
        std::string last_error;
        bool running = false;
        /// When the last run that applied a snapshot ended (not dry runs).
        std::optional<std::chrono::system_clock::time_point> last_success;
    };
    /// Thread-safe snapshot of the schedule, for /status.
    [[nodiscard]] State state() const;

    /// Beats at least once a second while the thread waits, and at every step of a run that
    /// calls progress() (the OfficeRnD client's exchanges and retry waits): the watchdog's view.
    [[nodiscard]] const sched::Heartbeat& heartbeat() const { return heartbeat_; }
    /// Thread-safe: the run in progress is still moving (called by its fetch).
    void progress() { heartbeat_.beat(); }

private:
    void run();
    Result<reconcile::RunReport> run_once(const Request& request);
    void record_vanished(const reconcile::VanishedReport& v);

    Source source_;                      // the poller thread's
    std::optional<Source> next_source_;  // guarded by mu_
    StoreWorker& worker_;
    sched::Policy policy_;
    metrics::Registry& metrics_;
    std::shared_ptr<spdlog::logger> log_;
    std::mt19937 rng_{std::random_device{}()};

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Request> requests_;
    State state_;
    bool stopping_ = false;
    sched::Heartbeat heartbeat_;
    std::thread thread_;
};

}  // namespace radsync::service
