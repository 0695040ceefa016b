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
#include "radsync/sched/policy.hpp"
#include "radsync/service/store_worker.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::service {

/// The fallback that makes lost webhooks harmless: fetches the whole OfficeRnD account on its
/// own thread (network waits never hold up the store worker or the webhook listener) and hands
/// each complete snapshot to the store worker for one full reconcile. Runs at start (initial
/// import), then every `policy.interval` ± jitter, backing off after failures, and on demand.
class Poller {
public:
    /// Fetches a complete snapshot or fails; never returns a partial one.
    using Fetch = std::function<Result<snapshot::Snapshot>()>;
    using Done = std::function<void(Result<reconcile::RunReport>)>;

    struct Request {
        bool dry_run = false;
        bool allow_mass_removal = false;
        Done done;  ///< runs on a worker thread when the run ends (may be empty)
    };

    Poller(Fetch fetch, StoreWorker& worker, sched::Policy policy, metrics::Registry& metrics);
    ~Poller();
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;

    void start();
    /// Stops after the run in progress (its fetch may take up to the request timeout).
    void stop();
    /// Thread-safe: run as soon as possible (after the current run, if any).
    void trigger(Request request);

    struct State {
        std::optional<std::chrono::system_clock::time_point> next_run;
        int consecutive_failures = 0;
        std::string last_error;
        bool running = false;
    };
    /// Thread-safe snapshot of the schedule, for /status.
    [[nodiscard]] State state() const;

private:
    void run();
    Result<reconcile::RunReport> run_once(const Request& request);

    Fetch fetch_;
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
    std::thread thread_;
};

}  // namespace radsync::service
