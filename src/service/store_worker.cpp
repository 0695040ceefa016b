#include "radsync/service/store_worker.hpp"

#include "radsync/session/plan.hpp"

#include <algorithm>
#include <future>
#include <set>
#include <utility>

#include "radsync/log/log.hpp"
#include "radsync/officernd/booking_window.hpp"
#include "radsync/reconcile/reconciler.hpp"
#include "radsync/session/plan.hpp"
#include "radsync/webhook/envelope.hpp"

namespace radsync::service {

namespace {

constexpr std::chrono::seconds kPruneEvery{3600};
// Entity changes remembered for merging into a poll under way: a poll fetches for seconds to
// minutes, a burst applies a few thousand events a second.
constexpr std::size_t kMaxRecentWrites = 200'000;
// Transitions applied by one run: midnight can end or start thousands of memberships at once;
// the rest follow in the next rounds of the loop.
constexpr std::size_t kMaxTransitionsPerRun = 2'000;
// A transition run that failed (the database was busy) is tried again after this long.
constexpr std::chrono::seconds kTransitionRetry{5};

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

StoreWorker::StoreWorker(store::Stores stores, std::shared_ptr<const config::Config> config,
                         const core::Clock& clock, mapping::PasswordGenerator generator,
                         metrics::Registry& metrics, Options options)
    : stores_(std::move(stores)),
      state_(stores_.state.get()),
      env_{*stores_.state, *stores_.radius, clock, std::move(generator)},
      config_(std::move(config)),
      clock_(clock),
      metrics_(metrics),
      options_(options),
      log_(log::get("store")) {}

StoreWorker::~StoreWorker() {
    stop();
}

Status StoreWorker::reload_snapshot() {
    auto snap = state_->load_snapshot();
    if (!snap) {
        return snap.error();
    }
    auto tombstones = state_->load_tombstones();
    if (!tombstones) {
        return tombstones.error();
    }
    snapshot_ = std::move(*snap);
    tombstones_ = std::move(*tombstones);
    return {};
}

Status StoreWorker::start() {
    if (auto s = reload_snapshot(); !s) {
        return s;
    }
    if (auto s = state_->checkpoint_in_background(); !s) {
        log_->warn("background checkpoints unavailable, SQLite checkpoints inside commits: {}",
                   s.error().message);
    }
    if (auto s = stores_.radius->checkpoint_in_background(); !s) {
        log_->warn("background checkpoints of the RADIUS database unavailable: {}",
                   s.error().message);
    }
    // After a stop that was not clean the RADIUS database may lack its last commits (it does
    // not wait for the disk: its rows are derived) or hold rows the state never recorded (a
    // crash between the two commits): every row is derived again from the state first.
    // A database no daemon ran on yet is derived too (it costs one remap): a command that
    // wrote it may have died between its two commits.
    using Previous = store::StateStore::PreviousRun;
    const auto previous = state_->mark_running();
    if (!previous || *previous == Previous::kDidNotStop) {
        log_->warn("the previous run did not stop cleanly: deriving the RADIUS rows again");
        repair_at_start_ = true;
    } else if (*previous == Previous::kNone) {
        log_->info("first start of the daemon on this database: deriving the RADIUS rows");
        repair_at_start_ = true;
    }
    // No mailer runs yet: a message still marked sending was with the relay when a daemon
    // died. It may have been delivered; it is sent again, once, with its Message-ID.
    if (auto resent = state_->outbox_recover(clock_.now()); !resent) {
        log_->error("outbox recovery failed: {}", resent.error().message);
    } else if (*resent > 0) {
        log_->warn("e-mails left sending by the previous run will be sent again count={}", *resent);
    }
    if (auto accounts = state_->load_accounts(); accounts) {
        for (const auto& [id, acc] : *accounts) {
            ++(acc.state == store::AccountState::kActive ? active_accounts_ : revoked_accounts_);
        }
        publish_account_counts();
    }
    if (auto depth = state_->inbox_depth(); depth) {
        depth_ = *depth;
        metrics_.set("radsync_inbox_depth", {}, static_cast<double>(*depth));
    }
    publish_parked();
    thread_ = std::thread([this] {
        // Whatever a previous run acknowledged but did not apply goes first, not after the
        // first idle wait.
        if (repair_at_start_) {
            remap_all("repair", "state");
        }
        if (options_.process_events) {
            process_pending();
        }
        // Transitions missed while no daemon ran fall due at once.
        refresh_schedule();
        run();
    });
    return {};
}

void StoreWorker::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_ && !thread_.joinable()) {
            return;
        }
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
        if (auto s = state_->mark_stopped(); !s) {
            log_->warn(
                "cannot record the clean stop error={}; the next start re-derives the "
                "RADIUS rows",
                s.error().message);
        }
    }
}

void StoreWorker::set_config(std::shared_ptr<const config::Config> config) {
    {
        std::lock_guard lock(mu_);
        config_ = std::move(config);
        remap_requested_ = true;
    }
    cv_.notify_one();
}

void StoreWorker::remap_all(const char* mode, const char* source) {
    const std::shared_ptr<const config::Config> cfg = current_config();
    state_->set_secret_properties(cfg->accounts.secret_properties());
    // Every member and every group row against the new mapping, from the snapshot already
    // held: no API call, and the stored snapshot and its tombstones stay as they are. The
    // deletion guard applies as in any full run.
    reconcile::RunOptions options;
    options.mode = mode;
    options.source = source;
    auto report = reconcile::reconcile(env_, *cfg, snapshot_, options, {});
    record_full_run(options.mode, report, false);
    if (!report) {
        log_->error("remapping ({}) failed error={}; the next full run retries", mode,
                    report.error().message);
        return;
    }
    log_->info("remapped ({}) rows={} accounts={}", mode, report->row_changes.size(),
               report->account_changes.size());
}

std::shared_ptr<const config::Config> StoreWorker::current_config() {
    std::lock_guard lock(mu_);
    return config_;
}

void StoreWorker::refresh_schedule() {
    auto next = state_->next_transition();
    if (!next) {
        // Kept as it was: the next round that runs anything reads it again.
        metrics_.add("radsync_store_errors_total", {{"kind", "schedule_read"}});
        log_->warn("cannot read the schedule error={}", next.error().message);
        return;
    }
    next_transition_ = std::move(*next);
    metrics_.set("radsync_next_transition_timestamp_seconds", {},
                 next_transition_
                     ? static_cast<double>(next_transition_->at.time_since_epoch().count())
                     : 0.0);
}

void StoreWorker::apply_due_transitions() {
    const auto now = clock_.now();
    if (!next_transition_ || now < next_transition_->at ||
        SteadyClock::now() < transition_retry_at_) {
        return;
    }
    auto due = state_->due_transitions(now, kMaxTransitionsPerRun);
    if (!due || due->empty()) {
        if (!due) {
            metrics_.add("radsync_store_errors_total", {{"kind", "schedule_read"}});
            log_->warn("cannot read the due transitions error={}; retrying in {}s",
                       due.error().message, kTransitionRetry.count());
            transition_retry_at_ = SteadyClock::now() + kTransitionRetry;
        }
        refresh_schedule();
        return;
    }
    const std::shared_ptr<const config::Config> cfg = current_config();
    // The members whose transitions fell due, as a webhook run would map them: nothing else
    // is read or written, and each one's next transition replaces the one applied.
    reconcile::RunOptions options;
    options.mode = "schedule";
    options.source = "clock";
    options.scope.emplace();
    for (const auto& t : *due) {
        options.scope->insert(t.subject);
    }
    auto report = reconcile::reconcile(env_, *cfg, snapshot_, options, {});
    metrics_.add("radsync_reconcile_runs_total",
                 {{"mode", "schedule"}, {"result", report ? "success" : "failure"}});
    if (!report) {
        metrics_.add("radsync_transitions_total", {{"result", "failed"}},
                     static_cast<double>(due->size()));
        log_->error("scheduled transitions failed count={} error={}; retrying in {}s", due->size(),
                    report.error().message, kTransitionRetry.count());
        transition_retry_at_ = SteadyClock::now() + kTransitionRetry;
        return;
    }
    record_success(options.mode, *report);
    metrics_.add("radsync_transitions_total", {{"result", "applied"}},
                 static_cast<double>(due->size()));
    const auto& first = due->front();
    log_->info("scheduled transitions applied count={} first=\"{}\" subject={} due={} late={}s",
               due->size(), first.what, first.subject, core::format_instant(first.at),
               (now - first.at).count());
    refresh_schedule();
}

bool StoreWorker::wait_processed(std::uint64_t count, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return processed_cv_.wait_for(lock, limit, [&] { return processed_.load() >= count; });
}

void StoreWorker::ingest(store::InboxEvent event, IngestDone done) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_ && queue_.size() < options_.max_queue) {
            queue_.push_back({std::move(event), std::move(done)});
            arrivals_.push_back(SteadyClock::now());
            while (arrivals_.size() > options_.processing.burst_events) {
                arrivals_.pop_front();
            }
            cv_.notify_one();
            return;
        }
    }
    // Refuse rather than queue without bound: OfficeRnD retries a non-2xx delivery.
    done(Error(Errc::kStoreBusy, "inbox queue full or shutting down"));
}

sched::ProcessingPolicy::Decision StoreWorker::processing_decision(SteadyClock::time_point now) {
    if (!options_.process_events) {
        return {false, SteadyClock::time_point::max()};
    }
    if (process_failed_) {
        return {now >= retry_at_, retry_at_};
    }
    std::optional<SteadyClock::time_point> oldest;
    if (!waiting_.empty()) {
        oldest = waiting_.front().second;
    } else if (depth_ > 0) {
        oldest = now - options_.processing.max_defer;  // left by an earlier run: overdue
    }
    std::optional<SteadyClock::time_point> marker;
    {
        std::lock_guard lock(mu_);
        if (arrivals_.size() >= options_.processing.burst_events) {
            marker = arrivals_.front();
        }
    }
    return options_.processing.decide({now, marker, oldest});
}

void StoreWorker::run() {
    for (;;) {
        heartbeat_.beat();
        // Asked outside the lock (it takes the lock for the burst marker); a delivery arriving
        // meanwhile wakes the wait below, and the next round asks again.
        const auto decision = processing_decision(SteadyClock::now());
        std::vector<Pending> batch;
        std::optional<FullRun> full;
        std::deque<std::function<void()>> calls;
        bool remap = false;
        {
            std::unique_lock lock(mu_);
            if (!decision.process_now) {
                // At least once a second, for pruning, and for the next transition: the wall
                // clock is read each round, so a clock stepped forward past a transition
                // applies it within a second.
                auto wake =
                    std::min(decision.ask_again_at, SteadyClock::now() + std::chrono::seconds{1});
                if (next_transition_) {
                    const auto left =
                        std::max(next_transition_->at - clock_.now(), std::chrono::seconds{0});
                    // After a failed transition run, not before its retry (no busy loop).
                    wake =
                        std::min(wake, std::max(SteadyClock::now() + left, transition_retry_at_));
                }
                cv_.wait_until(lock, wake, [&] {
                    return stopping_ || !queue_.empty() || !full_runs_.empty() ||
                           remap_requested_ || !calls_.empty();
                });
            }
            calls.swap(calls_);
            if (stopping_ && queue_.empty()) {
                for (auto& job : full_runs_) {
                    job.done(Error(Errc::kStoreBusy, "shutting down"));
                }
                full_runs_.clear();
                lock.unlock();
                for (auto& call : calls) {
                    call();  // a waiting caller is answered; calls check nothing about state
                }
                return;
            }
            while (!queue_.empty() && batch.size() < options_.max_batch) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
            if (!full_runs_.empty()) {
                full.emplace(std::move(full_runs_.front()));
                full_runs_.pop_front();
            }
            remap = std::exchange(remap_requested_, false);
        }
        // A beat after every unit of work: the watchdog's limit is per unit, not per round.
        if (!batch.empty()) {
            ingest_batch(batch);
            heartbeat_.beat();
        }
        for (auto& call : calls) {
            call();
            heartbeat_.beat();
        }
        if (full) {
            full_run(*full);
            heartbeat_.beat();
        }
        if (remap) {
            remap_all("reload", "configuration");
            heartbeat_.beat();
        }
        // One slice at most, then the deliveries that arrived meanwhile are committed.
        bool sliced = false;
        if (processing_decision(SteadyClock::now()).process_now) {
            process_slice();
            sliced = true;
        }
        // Any run may have moved the schedule (its transitions are written with its accounts).
        if (full || remap || sliced || !calls.empty()) {
            refresh_schedule();
        }
        apply_due_transitions();
        // Idle: look for events made pending outside this process (`radsync inbox requeue`).
        // An indexed count, at most once a second.
        if (options_.process_events && waiting_.empty() && depth_ == 0 && !process_failed_ &&
            SteadyClock::now() - last_depth_check_ >= std::chrono::seconds{1}) {
            last_depth_check_ = SteadyClock::now();
            if (auto depth = state_->inbox_depth(); !depth) {
                // Not logged: a database that cannot be read is logged by the next write.
                metrics_.add("radsync_store_errors_total", {{"kind", "inbox_read"}});
            } else if (*depth > 0) {
                depth_ = *depth;
                publish_parked();  // they may have been parked ones
            }
        }
        if (clock_.now() - last_prune_ >= kPruneEvery) {
            last_prune_ = clock_.now();
            if (auto pruned = state_->inbox_prune(clock_.now() - options_.keep_processed);
                pruned && *pruned > 0) {
                log_->info("inbox pruned events={}", *pruned);
                publish_parked();  // parked events older than keep_processed go too
            }
            // Sent and cancelled messages stay a month for `accounts show`; their payloads are
            // already gone.
            constexpr std::chrono::hours kKeepMessages{24 * 30};
            if (auto pruned = state_->outbox_prune(clock_.now() - kKeepMessages);
                pruned && *pruned > 0) {
                log_->info("outbox pruned messages={}", *pruned);
            }
        }
    }
}

void StoreWorker::submit_full(snapshot::Snapshot snap, reconcile::RunOptions options,
                              std::optional<std::uint64_t> fetch_started, FullRunDone done) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_) {
            full_runs_.push_back(
                {std::move(snap), std::move(options), fetch_started, std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    done(Error(Errc::kStoreBusy, "shutting down"));
}

void StoreWorker::post(std::function<void()> call, const std::function<void()>& refused) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_) {
            calls_.push_back(std::move(call));
            cv_.notify_one();
            return;
        }
    }
    refused();
}

void StoreWorker::stall_for_test(std::chrono::milliseconds d) {
    post(
        [this, d] {
            log_->warn("stalling the store worker for {} ms (test)", d.count());
            std::this_thread::sleep_for(d);
        },
        [] {});
}

void StoreWorker::reset_password(std::string key, bool print, ResetDone done) {
    auto shared = std::make_shared<ResetDone>(std::move(done));
    post(
        [this, key = std::move(key), print, shared] {
            const std::shared_ptr<const config::Config> cfg = current_config();
            auto outcome = reconcile::reset_password(env_, *cfg, snapshot_, key, print);
            if (outcome) {
                log_->info("password reset member={} username={} emailed={}",
                           outcome->decision.member_id, outcome->decision.account->username,
                           !outcome->emailed_to.empty());
                if (!outcome->emailed_to.empty() && messages_queued_) {
                    messages_queued_();
                }
            }
            (*shared)(std::move(outcome));
        },
        [shared] { (*shared)(Error(Errc::kStoreBusy, "shutting down")); });
}

Result<std::vector<store::OutboxMessage>> StoreWorker::outbox_claim(std::size_t limit) {
    Result<std::vector<store::OutboxMessage>> out = Error(Errc::kStoreBusy, "shutting down");
    call_on_worker([&] { out = state_->outbox_claim(clock_.now(), limit); });
    return out;
}

Status StoreWorker::outbox_settle(std::vector<store::OutboxSettlement> settled) {
    Status out = Error(Errc::kStoreBusy, "shutting down");
    call_on_worker([&] { out = state_->outbox_settle(settled, clock_.now()); });
    return out;
}

Result<std::optional<core::Instant>> StoreWorker::outbox_next_due() {
    Result<std::optional<core::Instant>> out = Error(Errc::kStoreBusy, "shutting down");
    call_on_worker([&] { out = state_->outbox_next_due(); });
    return out;
}

Result<std::map<std::string, std::size_t>> StoreWorker::outbox_counts() {
    Result<std::map<std::string, std::size_t>> out = Error(Errc::kStoreBusy, "shutting down");
    call_on_worker([&] { out = state_->outbox_counts(); });
    return out;
}

void StoreWorker::outbox_requeue(std::optional<std::int64_t> id, RequeueDone done) {
    auto shared = std::make_shared<RequeueDone>(std::move(done));
    post(
        [this, id, shared] {
            auto n = state_->outbox_requeue(id, clock_.now());
            if (n && *n > 0) {
                log_->info("parked e-mails requeued count={}", *n);
                if (messages_queued_) {
                    messages_queued_();
                }
            }
            (*shared)(std::move(n));
        },
        [shared] { (*shared)(Error(Errc::kStoreBusy, "shutting down")); });
}

void StoreWorker::requeue_parked(std::optional<std::string> event_id, RequeueDone done) {
    auto shared = std::make_shared<RequeueDone>(std::move(done));
    post(
        [this, event_id = std::move(event_id), shared] {
            auto n = state_->inbox_requeue_parked(event_id);
            if (n && *n > 0) {
                log_->info("parked webhooks requeued count={}", *n);
                last_depth_check_ = {};  // picked up in this round, not in a second
                publish_parked();
            }
            (*shared)(std::move(n));
        },
        [shared] { (*shared)(Error(Errc::kStoreBusy, "shutting down")); });
}

void StoreWorker::call_on_worker(std::function<void()> call) {
    std::promise<void> finished;
    auto future = finished.get_future();
    {
        std::lock_guard lock(mu_);
        if (stopping_) {
            return;  // the thread may be gone; the caller's default answer stands
        }
        calls_.push_back([&call, &finished] {
            call();
            finished.set_value();
        });
    }
    cv_.notify_one();
    future.wait();
}

Result<std::pair<std::map<std::string, std::string>, std::vector<session::PresenceSite>>>
StoreWorker::presence_directory() {
    using Directory =
        std::pair<std::map<std::string, std::string>, std::vector<session::PresenceSite>>;
    Result<Directory> out = Error(Errc::kStoreBusy, "shutting down");
    call_on_worker([&] {
        auto accounts = state_->load_accounts();
        if (!accounts) {
            out = accounts.error();
            return;
        }
        Directory d;
        for (const auto& [id, acc] : *accounts) {
            // Members and day-pass holders; a guest is a visitor, not a member to check in.
            if (acc.kind != store::AccountKind::kGuest) {
                d.first.emplace(acc.username, id);
            }
        }
        d.second = session::presence_sites(*current_config(), snapshot_);
        out = std::move(d);
    });
    return out;
}

Result<std::vector<reconcile::Vanished>> StoreWorker::vanished(const snapshot::Snapshot& fetched,
                                                               std::uint64_t fetch_started) {
    Result<std::vector<reconcile::Vanished>> out = Error(Errc::kStoreBusy, "shutting down");
    call_on_worker([&] {
        auto accounts = state_->load_accounts();
        if (!accounts) {
            out = accounts.error();
            return;
        }
        std::set<std::string> active;
        for (const auto& [id, acc] : *accounts) {
            if (acc.state == store::AccountState::kActive) {
                active.insert(id);
            }
        }
        auto found = reconcile::find_vanished(snapshot_, fetched, active);
        const auto recent = written_since(fetch_started);
        std::erase_if(found, [&](const reconcile::Vanished& v) {
            return recent.count({v.kind, v.id}) > 0;  // merged by submit_full instead
        });
        out = std::move(found);
    });
    return out;
}

std::set<StoreWorker::EntityKey> StoreWorker::written_since(std::uint64_t seq) const {
    std::set<EntityKey> out;
    for (auto it = recent_writes_.rbegin(); it != recent_writes_.rend() && it->first > seq; ++it) {
        out.insert(it->second);
    }
    return out;
}

void StoreWorker::merge_recent_writes(snapshot::Snapshot& snap, std::uint64_t seq,
                                      snapshot::Tombstones& removed) const {
    for (const auto& key : written_since(seq)) {
        // What the webhooks left is what radsync holds now: the current copy, or its tombstone.
        std::string raw;
        bool is_removal = false;
        if (auto t = tombstones_.find(key); t != tombstones_.end()) {
            raw = t->second.raw;
            is_removal = true;
        } else if (auto copy = snapshot::raw_of(snapshot_, key.first, key.second)) {
            raw = std::move(*copy);
        } else {
            continue;
        }
        // The usual ordering rules decide against the fetched copy, if any; a stale write is
        // simply not applied.
        if (auto merged = snapshot::merge_event(snap, removed, key.first, raw, is_removal);
            !merged) {
            log_->warn("could not merge a webhook change into the poll kind={} id={} error={}",
                       snapshot::to_string(key.first), key.second, merged.error().message);
        }
    }
}

void StoreWorker::full_run(FullRun& job) {
    const std::shared_ptr<const config::Config> cfg = current_config();
    job.snap.normalise();
    const bool dry_run = job.options.dry_run;
    snapshot::Tombstones removed;
    if (job.fetch_started) {
        if (*job.fetch_started < dropped_through_) {
            // More webhooks arrived during this poll than can be merged into it: applying it
            // could undo some of them. Nothing is applied; the poller retries.
            Error e(Errc::kIncomplete,
                    "webhooks changed more entities during the poll than can be merged into "
                    "it; the poll is retried");
            record_full_run(job.options.mode, e, dry_run);
            job.done(std::move(e));
            return;
        }
        merge_recent_writes(job.snap, *job.fetch_started, removed);
        if (const auto kept = snapshot::keep_running_series(
                snapshot_, job.snap, clock_.now() - officernd::kBookingWindowBack);
            kept > 0) {
            log_->debug("recurring bookings kept from before the poll's window count={}", kept);
        }
    }
    // Kept for the in-memory snapshot: the run consumes its own copy.
    snapshot::Snapshot fresh = job.snap;
    reconcile::SnapshotChanges changes;
    changes.replace = std::move(job.snap);
    for (const auto& [key, version] : removed) {
        changes.entities.push_back({key.first, key.second, version});
    }
    auto report =
        reconcile::reconcile(env_, *cfg, *changes.replace, job.options, std::move(changes));
    record_full_run(job.options.mode, report, dry_run);
    if (report && !dry_run) {
        healthy_ = true;
        // The stored snapshot was replaced wholesale; its only tombstones are the removals
        // webhooks made while the poll ran.
        snapshot_ = std::move(fresh);
        tombstones_ = std::move(removed);
        recent_writes_.clear();
    }
    job.done(std::move(report));
}

void StoreWorker::ingest_batch(std::vector<Pending>& batch) {
    std::vector<store::InboxEvent> events;
    events.reserve(batch.size());
    for (auto& p : batch) {
        events.push_back(std::move(p.event));
    }
    auto fresh = state_->inbox_append(events);
    if (!fresh) {
        healthy_ = false;
        metrics_.add("radsync_store_errors_total", {{"kind", "inbox_append"}});
        log_->error("inbox commit failed events={} error={}", batch.size(), fresh.error().message);
        for (auto& p : batch) {
            p.done(fresh.error());
        }
        return;
    }
    healthy_ = true;
    const auto now = SteadyClock::now();
    for (std::size_t i = 0; i < batch.size(); ++i) {
        // Bounded: past the cap the oldest entries still decide deferral correctly.
        if ((*fresh)[i] && waiting_.size() < options_.max_queue * 10) {
            waiting_.emplace_back(std::move(events[i].event_id), now);
        }
        batch[i].done((*fresh)[i] ? Ingest::kStored : Ingest::kDuplicate);
    }
    depth_ += static_cast<std::size_t>(std::count(fresh->begin(), fresh->end(), true));
    metrics_.set("radsync_inbox_depth", {}, static_cast<double>(depth_.load()));
}

void StoreWorker::process_pending() {
    while (process_slice()) {
    }
}

void StoreWorker::pause_processing() {
    process_failed_ = true;
    retry_at_ = SteadyClock::now() + options_.processing.retry_after;
}

bool StoreWorker::process_slice() {
    auto events = state_->inbox_pending(options_.processing.slice);
    if (!events) {
        healthy_ = false;
        metrics_.add("radsync_store_errors_total", {{"kind", "inbox_read"}});
        log_->error("inbox read failed error={}", events.error().message);
        pause_processing();
        return false;
    }
    if (events->empty()) {
        process_failed_ = false;
        depth_ = 0;
        waiting_.clear();
        metrics_.set("radsync_inbox_depth", {}, 0);
        return false;
    }
    auto applied = apply_events(*events);
    if (applied) {
        return true;
    }
    if (events->size() == 1) {
        handle_failure(events->front(), applied.error());
        return false;
    }
    // One bad event must not hold back the others: find it by taking them one at a time.
    for (const auto& e : *events) {
        if (auto one = apply_events({e}); !one) {
            handle_failure(e, one.error());
            return false;
        }
    }
    return true;
}

void StoreWorker::handle_failure(const store::InboxEvent& event, const Error& error) {
    // Only a failure on a writable database counts against the event: recording the attempt
    // is itself a write. A locked or broken database pauses processing and counts nothing.
    if (error.code == Errc::kStoreBusy) {
        pause_processing();
        return;
    }
    auto attempts = state_->inbox_record_failure(event.event_id, error.message);
    if (!attempts) {
        log_->error("inbox write failed error={}", attempts.error().message);
        pause_processing();
        return;
    }
    healthy_ = true;  // the database took the write: the event is the problem
    if (!options_.processing.park(*attempts)) {
        log_->warn("webhook processing failed delivery_id={} event={} attempt={} error={}",
                   event.event_id, event.event_type, *attempts, error.message);
        pause_processing();
        return;
    }
    if (auto parked = state_->inbox_park(event.event_id, clock_.now()); !parked) {
        log_->error("inbox write failed error={}", parked.error().message);
        pause_processing();
        return;
    }
    log_->error(
        "webhook parked after {} failed attempts delivery_id={} event={} error={}; the next full "
        "reconcile repairs what it would have changed",
        *attempts, event.event_id, event.event_type, error.message);
    metrics_.add("radsync_inbox_events_total", {{"result", "parked"}});
    publish_parked();
    process_failed_ = false;
    settled({event});
}

void StoreWorker::settled(const std::vector<store::InboxEvent>& events) {
    std::set<std::string_view> ids;
    for (const auto& e : events) {
        ids.insert(e.event_id);
    }
    while (!waiting_.empty() && ids.count(waiting_.front().first) > 0) {
        metrics_.observe("radsync_webhook_processing_seconds",
                         seconds_since(waiting_.front().second));
        waiting_.pop_front();
    }
    {
        std::lock_guard lock(mu_);
        processed_ += events.size();
    }
    processed_cv_.notify_all();
    depth_ = depth_ > events.size() ? depth_ - events.size() : 0;
    metrics_.set("radsync_inbox_depth", {}, static_cast<double>(depth_.load()));
}

Status StoreWorker::apply_events(const std::vector<store::InboxEvent>& events) {
    reconcile::SnapshotChanges changes;
    std::map<std::string, std::size_t> results;
    std::set<std::string> affected;
    std::vector<EntityKey> written;
    Result<reconcile::RunReport> report = Error(Errc::kStoreFailed, "not run");
    try {
        for (const auto& e : events) {
            std::string result;
            auto envelope = webhook::parse_envelope(e.body);
            if (!envelope) {
                result = "malformed: " + envelope.error().message;
            } else if (envelope->action == webhook::Action::kIgnore) {
                result = "ignored";
            } else if (envelope->action == webhook::Action::kHint) {
                snapshot::collect_affected_members(snapshot_, envelope->kind, envelope->object_id,
                                                   affected);
                result = "applied";
            } else {
                // Owners before and after the change: a membership moved to another member
                // must re-map both.
                snapshot::collect_affected_members(snapshot_, envelope->kind, envelope->object_id,
                                                   affected);
                auto merged = snapshot::merge_event(snapshot_, tombstones_, envelope->kind,
                                                    envelope->object_json,
                                                    envelope->action == webhook::Action::kRemove);
                snapshot::collect_affected_members(snapshot_, envelope->kind, envelope->object_id,
                                                   affected);
                if (!merged) {
                    result = "malformed: " + merged.error().message;
                } else if (merged->first == snapshot::MergeOutcome::kStale) {
                    result = "stale";
                } else {
                    result = "applied";
                    written.emplace_back(envelope->kind, envelope->object_id);
                    changes.entities.push_back(std::move(merged->second));
                }
            }
            log_->debug("webhook processed delivery_id={} event={} result={}", e.event_id,
                        e.event_type, result.substr(0, result.find(':')));
            ++results[result.substr(0, result.find(':'))];
            changes.processed_events.push_back({e.event_id, result});
        }

        // One snapshot of the configuration per unit of work (a reload swaps the pointer).
        const std::shared_ptr<const config::Config> cfg = current_config();
        reconcile::RunOptions options;
        options.mode = "webhook";
        options.source = "inbox";
        options.scope = std::move(affected);
        report = reconcile::reconcile(env_, *cfg, snapshot_, options, std::move(changes));
    } catch (const std::exception& ex) {
        // Nothing in the path is expected to throw; if something does, it is this event's
        // problem, not a reason to take the daemon down.
        report = Error(Errc::kStoreFailed, std::string("processing threw: ") + ex.what());
    }
    if (!report) {
        healthy_ = false;
        metrics_.add("radsync_reconcile_runs_total", {{"mode", "webhook"}, {"result", "failure"}});
        metrics_.add("radsync_store_errors_total", {{"kind", "apply"}});
        log_->error("webhook processing failed events={} error={}", events.size(),
                    report.error().message);
        // The in-memory snapshot already holds the merged events; the database does not.
        // Reload so both agree again, and leave the events in the inbox for the retry.
        if (auto s = reload_snapshot(); !s) {
            log_->error("snapshot reload failed error={}", s.error().message);
        }
        return report.error();
    }
    healthy_ = true;
    process_failed_ = false;
    for (auto& key : written) {
        recent_writes_.emplace_back(++write_seq_, std::move(key));
    }
    while (recent_writes_.size() > kMaxRecentWrites) {
        dropped_through_ = recent_writes_.front().first;
        recent_writes_.pop_front();
    }
    metrics_.add("radsync_reconcile_runs_total", {{"mode", "webhook"}, {"result", "success"}});
    record_success("webhook", *report);
    for (const auto& [result, count] : results) {
        metrics_.add("radsync_inbox_events_total", {{"result", result}},
                     static_cast<double>(count));
    }
    settled(events);
    return {};
}

void StoreWorker::record_full_run(const std::string& mode,
                                  const Result<reconcile::RunReport>& report, bool dry_run) {
    const char* result = !report ? "failure" : report->guarded ? "guarded" : "success";
    metrics_.add("radsync_reconcile_runs_total", {{"mode", mode}, {"result", result}});
    if (!report) {
        metrics_.add("radsync_store_errors_total", {{"kind", "full_run"}});
    } else if (!dry_run) {
        record_success(mode, *report);
        // A guarded run decided removals it did not apply: its deltas are right, its
        // decisions are not.
        if (!report->guarded) {
            count_from_decisions(report->decisions);
        }
        metrics_.set("radsync_deletion_guard_tripped", {}, report->guarded ? 1 : 0);
    }
}

void StoreWorker::record_success(const std::string& mode, const reconcile::RunReport& report) {
    if (!report.queued_to.empty() && messages_queued_) {
        messages_queued_();
    }
    if (rows_applied_ && !report.row_changes.empty()) {
        // A group's own rows changed (a reload): its members' sessions need to hear, so the
        // memberships are read, which only then costs a scan of the owned rows.
        std::vector<store::RadRow> memberships;
        if (session::group_rows_changed(report.row_changes)) {
            if (auto owned = env_.radius.load_owned_rows()) {
                for (auto& o : *owned) {
                    if (o.row.table == store::Table::kRadusergroup) {
                        memberships.push_back(std::move(o.row));
                    }
                }
            } else {
                log_->warn("cannot read group memberships for the new plan limits: {}",
                           owned.error().message);
            }
        }
        rows_applied_(report.row_changes, memberships, *current_config());
    }
    // Per mode: a webhook applied a second ago says nothing about whether polling works.
    metrics_.set("radsync_reconcile_last_success_timestamp_seconds", {{"mode", mode}},
                 static_cast<double>(clock_.now().time_since_epoch().count()));
    // By mode too: rows a poll had to change are what webhooks missed (RadsyncWebhooksSilent).
    metrics_.add("radsync_reconcile_changes_total", {{"mode", mode}, {"op", "insert"}},
                 static_cast<double>(report.applied.rows_inserted));
    metrics_.add("radsync_reconcile_changes_total", {{"mode", mode}, {"op", "update"}},
                 static_cast<double>(report.applied.rows_updated));
    metrics_.add("radsync_reconcile_changes_total", {{"mode", mode}, {"op", "delete"}},
                 static_cast<double>(report.applied.rows_deleted));
    active_accounts_ = std::max(0LL, active_accounts_ + report.active_delta);
    revoked_accounts_ = std::max(0LL, revoked_accounts_ + report.revoked_delta);
    publish_account_counts();
}

void StoreWorker::publish_parked() {
    auto counts = state_->inbox_counts();
    if (!counts) {
        // Kept as it was; not logged: a database that cannot be read is logged by the next
        // write.
        metrics_.add("radsync_store_errors_total", {{"kind", "inbox_read"}});
        return;
    }
    const auto parked = counts->find("parked");
    metrics_.set("radsync_inbox_parked", {},
                 parked == counts->end() ? 0.0 : static_cast<double>(parked->second));
}

void StoreWorker::count_from_decisions(const std::vector<mapping::Decision>& decisions) {
    long long active = 0;
    long long revoked = 0;
    std::map<std::string, double> refused = {
        {"conflict", 0}, {"username", 0}, {"password", 0}, {"unmapped", 0}, {"address", 0}};
    for (const auto& d : decisions) {
        if (d.outcome == mapping::Decision::Outcome::kGranted) {
            ++active;
        } else if (d.account && d.account->state == store::AccountState::kRevoked) {
            ++revoked;
        }
        if (d.problem != mapping::Decision::Problem::kNone) {
            ++refused[mapping::to_string(d.problem)];
        }
    }
    active_accounts_ = active;
    revoked_accounts_ = revoked;
    publish_account_counts();
    for (const auto& [reason, n] : refused) {
        metrics_.set("radsync_members_refused", {{"reason", reason}}, n);
    }
}

void StoreWorker::publish_account_counts() {
    metrics_.set("radsync_radius_users", {{"state", "active"}},
                 static_cast<double>(active_accounts_));
    metrics_.set("radsync_radius_users", {{"state", "revoked"}},
                 static_cast<double>(revoked_accounts_));
}

}  // namespace radsync::service
