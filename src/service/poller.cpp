#include "radsync/service/poller.hpp"

#include <future>

#include "radsync/log/log.hpp"

namespace radsync::service {

Poller::Poller(Source source, StoreWorker& worker, sched::Policy policy, metrics::Registry& metrics)
    : source_(std::move(source)),
      worker_(worker),
      policy_(policy),
      metrics_(metrics),
      log_(log::get("sched")) {}

Poller::~Poller() {
    stop();
}

void Poller::start() {
    // The first run is the initial import: due at once.
    trigger(Request{});
    thread_ = std::thread([this] { run(); });
}

void Poller::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
    std::deque<Request> abandoned;
    {
        std::lock_guard lock(mu_);
        abandoned.swap(requests_);
    }
    for (auto& r : abandoned) {
        if (r.done) {
            r.done(Error(Errc::kStoreBusy, "shutting down"));
        }
    }
}

void Poller::trigger(Request request) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_) {
            requests_.push_back(std::move(request));
            cv_.notify_all();
            return;
        }
    }
    // After stop() nobody would run it: a caller waiting for `done` (a control request) must
    // still get an answer, or the shutdown that waits for that caller would never end.
    if (request.done) {
        request.done(Error(Errc::kStoreBusy, "shutting down"));
    }
}

Poller::State Poller::state() const {
    std::lock_guard lock(mu_);
    return state_;
}

void Poller::run() {
    for (;;) {
        Request request;
        {
            std::unique_lock lock(mu_);
            const auto due = state_.next_run;
            auto ready = [&] { return stopping_ || !requests_.empty(); };
            // In slices of at most a second, each a heartbeat: waiting is not being stuck.
            for (;;) {
                heartbeat_.beat();
                const auto slice = std::chrono::system_clock::now() + std::chrono::seconds{1};
                const auto until = due ? std::min(*due, slice) : slice;
                if (cv_.wait_until(lock, until, ready) ||
                    (due && std::chrono::system_clock::now() >= *due)) {
                    break;
                }
            }
            heartbeat_.beat();
            if (stopping_) {
                return;
            }
            if (!requests_.empty()) {
                request = std::move(requests_.front());
                requests_.pop_front();
            }  // else: the scheduled run, with default options
            state_.running = true;
        }
        auto report = run_once(request);
        {
            std::lock_guard lock(mu_);
            state_.running = false;
            if (!request.dry_run) {
                if (report) {
                    state_.consecutive_failures = 0;
                    state_.last_error.clear();
                    state_.last_success = std::chrono::system_clock::now();
                } else {
                    ++state_.consecutive_failures;
                    state_.last_error = report.error().message;
                }
                metrics_.set("radsync_reconcile_consecutive_failures", {},
                             static_cast<double>(state_.consecutive_failures));
            }
            const auto delay = policy_.next_delay(
                state_.consecutive_failures, std::uniform_real_distribution<double>(0, 1)(rng_));
            state_.next_run = std::chrono::system_clock::now() + delay;
            metrics_.set("radsync_next_reconcile_timestamp_seconds", {},
                         static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                                 state_.next_run->time_since_epoch())
                                                 .count()));
        }
        if (request.done) {
            request.done(std::move(report));
        }
    }
}

void Poller::replace_source(Source source) {
    std::lock_guard lock(mu_);
    next_source_ = std::move(source);
}

Result<reconcile::RunReport> Poller::run_once(const Request& request) {
    const auto started = std::chrono::steady_clock::now();
    auto fail = [&](const Error& e, const char* what) -> Result<reconcile::RunReport> {
        // Nothing is applied: the accounts radsync already wrote stay as they are.
        metrics_.add("radsync_officernd_fetch_failures_total", {{"error", to_string(e.code)}});
        metrics_.add("radsync_reconcile_runs_total", {{"mode", "full"}, {"result", "failure"}});
        log_->warn("full reconcile skipped: {} error={}", what, e.message);
        return e;
    };
    {
        std::lock_guard lock(mu_);
        if (next_source_) {
            source_ = std::move(*next_source_);
            next_source_.reset();
        }
    }
    const auto fetch_started = worker_.begin_fetch();
    auto snap = source_.fetch();
    if (!snap) {
        return fail(snap.error(), "OfficeRnD fetch failed");
    }
    auto vanished = [&] {
        const sched::Heartbeat::HandOff waiting(heartbeat_);  // the worker's pulse covers it
        return worker_.vanished(*snap, fetch_started);
    }();
    if (!vanished) {
        return fail(vanished.error(), "cannot compare with the held snapshot");
    }
    reconcile::RunOptions options;
    options.dry_run = request.dry_run;
    options.mode = "full";
    options.source = "officernd";
    options.allow_mass_removal = request.allow_mass_removal;
    options.vanished = reconcile::settle_vanished(*snap, *vanished, source_.confirm,
                                                  source_.max_confirm, request.allow_mass_removal);
    record_vanished(*options.vanished);
    std::promise<Result<reconcile::RunReport>> promise;
    auto future = promise.get_future();
    worker_.submit_full(
        std::move(*snap), std::move(options), fetch_started,
        [&promise](Result<reconcile::RunReport> r) { promise.set_value(std::move(r)); });
    auto report = [&] {
        const sched::Heartbeat::HandOff waiting(heartbeat_);  // the whole run is the worker's
        return future.get();
    }();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    if (report) {
        log_->info(
            "full reconcile finished run_id={} dry_run={} rows_inserted={} rows_updated={} "
            "rows_deleted={} guarded={} took_ms={}",
            report->applied.run_id, request.dry_run, report->applied.rows_inserted,
            report->applied.rows_updated, report->applied.rows_deleted, report->guarded.has_value(),
            took.count());
    } else {
        log_->error("full reconcile failed error={}", report.error().message);
    }
    return report;
}

void Poller::record_vanished(const reconcile::VanishedReport& v) {
    if (v.vanished == 0) {
        return;
    }
    metrics_.add("radsync_officernd_vanished_total", {{"outcome", "gone"}},
                 static_cast<double>(v.gone));
    metrics_.add("radsync_officernd_vanished_total", {{"outcome", "listed_late"}},
                 static_cast<double>(v.listed_late));
    metrics_.add("radsync_officernd_vanished_total", {{"outcome", "kept"}},
                 static_cast<double>(v.kept));
    log_->warn("{}", reconcile::describe(v));
    for (const auto& note : v.notes) {
        log_->warn("vanished {}", note);
    }
}

}  // namespace radsync::service
