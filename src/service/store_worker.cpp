#include "radsync/service/store_worker.hpp"

#include <algorithm>
#include <set>

#include "radsync/log/log.hpp"
#include "radsync/reconcile/reconciler.hpp"
#include "radsync/webhook/envelope.hpp"

namespace radsync::service {

namespace {

// After a failed processing run the events stay in the inbox; try again after this pause so
// a broken disk is not hammered.
constexpr std::chrono::seconds kProcessRetry{5};
constexpr std::chrono::seconds kPruneEvery{3600};

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

StoreWorker::StoreWorker(std::unique_ptr<store::RadiusStore> store,
                         std::shared_ptr<const config::Config> config, const core::Clock& clock,
                         mapping::PasswordGenerator generator, metrics::Registry& metrics,
                         Options options)
    : store_(std::move(store)),
      config_(std::move(config)),
      clock_(clock),
      generator_(std::move(generator)),
      metrics_(metrics),
      options_(options),
      log_(log::get("store")) {}

StoreWorker::~StoreWorker() {
    stop();
}

Status StoreWorker::reload_snapshot() {
    auto snap = store_->load_snapshot();
    if (!snap) {
        return snap.error();
    }
    auto tombstones = store_->load_tombstones();
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
    if (auto depth = store_->inbox_depth(); depth) {
        depth_ = *depth;
        metrics_.set("radsync_inbox_depth", {}, static_cast<double>(*depth));
    }
    thread_ = std::thread([this] {
        // Whatever a previous run acknowledged but did not apply goes first, not after the
        // first idle wait.
        if (options_.process_events) {
            process_pending();
        }
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
    }
}

void StoreWorker::set_config(std::shared_ptr<const config::Config> config) {
    std::lock_guard lock(mu_);
    config_ = std::move(config);
}

void StoreWorker::ingest(store::InboxEvent event, IngestDone done) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_ && queue_.size() < options_.max_queue) {
            queue_.push_back({std::move(event), std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    // Refuse rather than queue without bound: OfficeRnD retries a non-2xx delivery.
    done(Error(Errc::kStoreBusy, "inbox queue full or shutting down"));
}

void StoreWorker::run() {
    auto retry_due = [this] {
        return process_failed_ && std::chrono::steady_clock::now() >= retry_at_;
    };
    for (;;) {
        std::vector<Pending> batch;
        std::optional<FullRun> full;
        {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, std::chrono::seconds{1}, [&] {
                return stopping_ || !queue_.empty() || !full_runs_.empty() || retry_due();
            });
            if (stopping_ && queue_.empty()) {
                for (auto& job : full_runs_) {
                    job.done(Error(Errc::kStoreBusy, "shutting down"));
                }
                full_runs_.clear();
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
        }
        if (!batch.empty()) {
            ingest_batch(batch);
        }
        if (full) {
            full_run(*full);
        }
        if (options_.process_events && (!process_failed_ || retry_due())) {
            process_pending();
        }
        if (clock_.now() - last_prune_ >= kPruneEvery) {
            last_prune_ = clock_.now();
            if (auto pruned = store_->inbox_prune(clock_.now() - options_.keep_processed);
                pruned && *pruned > 0) {
                log_->info("inbox pruned events={}", *pruned);
            }
        }
    }
}

void StoreWorker::submit_full(snapshot::Snapshot snap, reconcile::RunOptions options,
                              FullRunDone done) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_) {
            full_runs_.push_back({std::move(snap), std::move(options), std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    done(Error(Errc::kStoreBusy, "shutting down"));
}

void StoreWorker::full_run(FullRun& job) {
    std::shared_ptr<const config::Config> cfg;
    {
        std::lock_guard lock(mu_);
        cfg = config_;
    }
    job.snap.normalise();
    // Kept for the in-memory snapshot: the run consumes its own copy.
    snapshot::Snapshot fresh = job.snap;
    const bool dry_run = job.options.dry_run;
    auto report = reconcile::reconcile_full(*store_, *cfg, std::move(job.snap), clock_, generator_,
                                            job.options);
    const char* result = !report ? "failure" : report->guarded ? "guarded" : "success";
    metrics_.add("radsync_reconcile_runs_total", {{"mode", job.options.mode}, {"result", result}});
    if (report && !dry_run) {
        healthy_ = true;
        // The stored snapshot was replaced wholesale (tombstones included).
        snapshot_ = std::move(fresh);
        tombstones_.clear();
        metrics_.set("radsync_reconcile_last_success_timestamp_seconds", {},
                     static_cast<double>(clock_.now().time_since_epoch().count()));
        metrics_.add("radsync_reconcile_changes_total", {{"op", "insert"}},
                     static_cast<double>(report->applied.rows_inserted));
        metrics_.add("radsync_reconcile_changes_total", {{"op", "update"}},
                     static_cast<double>(report->applied.rows_updated));
        metrics_.add("radsync_reconcile_changes_total", {{"op", "delete"}},
                     static_cast<double>(report->applied.rows_deleted));
        metrics_.set("radsync_deletion_guard_tripped", {}, report->guarded ? 1 : 0);
        set_account_gauges(report->decisions);
    } else if (!report) {
        metrics_.add("radsync_store_errors_total", {{"kind", "full_run"}});
    }
    job.done(std::move(report));
}

void StoreWorker::ingest_batch(std::vector<Pending>& batch) {
    std::vector<store::InboxEvent> events;
    events.reserve(batch.size());
    for (const auto& p : batch) {
        events.push_back(p.event);
    }
    auto fresh = store_->inbox_append(events);
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
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if ((*fresh)[i] && acked_at_.size() < options_.max_queue * 10) {
            acked_at_.emplace(batch[i].event.event_id, now);
        }
        batch[i].done((*fresh)[i] ? Ingest::kStored : Ingest::kDuplicate);
    }
    depth_ += static_cast<std::size_t>(std::count(fresh->begin(), fresh->end(), true));
    metrics_.set("radsync_inbox_depth", {}, static_cast<double>(depth_.load()));
}

void StoreWorker::process_pending() {
    for (;;) {
        auto events = store_->inbox_pending(options_.max_batch);
        if (!events) {
            healthy_ = false;
            metrics_.add("radsync_store_errors_total", {{"kind", "inbox_read"}});
            log_->error("inbox read failed error={}", events.error().message);
            process_failed_ = true;
            retry_at_ = std::chrono::steady_clock::now() + kProcessRetry;
            return;
        }
        if (events->empty()) {
            process_failed_ = false;
            depth_ = 0;
            metrics_.set("radsync_inbox_depth", {}, 0);
            return;
        }

        reconcile::SnapshotChanges changes;
        std::map<std::string, std::size_t> results;
        std::set<std::string> affected;
        for (const auto& e : *events) {
            std::string result;
            auto envelope = webhook::parse_envelope(e.body, e.t);
            if (!envelope) {
                result = "malformed: " + envelope.error().message;
            } else if (envelope->action == webhook::Action::kIgnore) {
                result = "ignored";
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
                    changes.entities.push_back(std::move(merged->second));
                }
            }
            log_->debug("webhook processed delivery_id={} event={} result={}", e.event_id,
                        e.event_type, result.substr(0, result.find(':')));
            ++results[result.substr(0, result.find(':'))];
            changes.processed_events.push_back({e.event_id, result});
        }

        // One snapshot of the configuration per unit of work (a reload swaps the pointer).
        std::shared_ptr<const config::Config> cfg;
        {
            std::lock_guard lock(mu_);
            cfg = config_;
        }
        reconcile::RunOptions options{false, "webhook", "inbox", std::move(affected)};
        auto report = reconcile::reconcile(*store_, *cfg, snapshot_, clock_, generator_, options,
                                           std::move(changes));
        if (!report) {
            healthy_ = false;
            metrics_.add("radsync_reconcile_runs_total",
                         {{"mode", "webhook"}, {"result", "failure"}});
            metrics_.add("radsync_store_errors_total", {{"kind", "apply"}});
            log_->error("webhook processing failed events={} error={}", events->size(),
                        report.error().message);
            // The in-memory snapshot already holds the merged events; the database does not.
            // Reload so both agree again, and leave the events in the inbox for the retry.
            if (auto s = reload_snapshot(); !s) {
                log_->error("snapshot reload failed error={}", s.error().message);
            }
            process_failed_ = true;
            retry_at_ = std::chrono::steady_clock::now() + kProcessRetry;
            return;
        }
        healthy_ = true;
        process_failed_ = false;
        metrics_.add("radsync_reconcile_runs_total", {{"mode", "webhook"}, {"result", "success"}});
        metrics_.set("radsync_reconcile_last_success_timestamp_seconds", {},
                     static_cast<double>(clock_.now().time_since_epoch().count()));
        metrics_.add("radsync_reconcile_changes_total", {{"op", "insert"}},
                     static_cast<double>(report->applied.rows_inserted));
        metrics_.add("radsync_reconcile_changes_total", {{"op", "update"}},
                     static_cast<double>(report->applied.rows_updated));
        metrics_.add("radsync_reconcile_changes_total", {{"op", "delete"}},
                     static_cast<double>(report->applied.rows_deleted));
        for (const auto& [result, count] : results) {
            metrics_.add("radsync_inbox_events_total", {{"result", result}},
                         static_cast<double>(count));
        }
        for (const auto& e : *events) {
            if (auto it = acked_at_.find(e.event_id); it != acked_at_.end()) {
                metrics_.observe("radsync_webhook_processing_seconds", seconds_since(it->second));
                acked_at_.erase(it);
            }
        }
        set_account_gauges(report->decisions);
        processed_ += events->size();
        depth_ = depth_ > events->size() ? depth_ - events->size() : 0;
    }
}

void StoreWorker::set_account_gauges(const std::vector<mapping::Decision>& decisions) {
    std::size_t active = 0;
    std::size_t revoked = 0;
    for (const auto& d : decisions) {
        if (d.outcome == mapping::Decision::Outcome::kGranted) {
            ++active;
        } else if (d.account && d.account->state == store::AccountState::kRevoked) {
            ++revoked;
        }
    }
    metrics_.set("radsync_radius_users", {{"state", "active"}}, static_cast<double>(active));
    metrics_.set("radsync_radius_users", {{"state", "revoked"}}, static_cast<double>(revoked));
}

}  // namespace radsync::service
