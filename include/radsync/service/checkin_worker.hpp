#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/logger.h>

#include "radsync/config/config.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/metrics/registry.hpp"
#include "radsync/sched/watchdog.hpp"
#include "radsync/service/officernd_fetch.hpp"
#include "radsync/session/presence.hpp"
#include "radsync/store/accounting.hpp"

namespace radsync::service {

/// Presence to OfficeRnD check-ins (sessions.checkins, design.md "Sessions"), on its own thread
/// with its own OfficeRnD client (back-off, Retry-After, the token limit) and its own
/// connection to the accounting database. Every sessions.sweep_interval it reads the sessions
/// of the last two days and its records (radsync_checkins), and carries out
/// session::plan_checkins:
/// * a check-in is recorded as pending before anything is sent; then the day's check-ins of
///   that member and location are read, and only when there is none is one created. One found
///   with the start radsync chose is radsync's own (its answer was lost); any other was made
///   by someone else and is adopted, never checked out by radsync. So neither a retry, a crash
///   after the POST, nor a restart creates a second check-in for a day;
/// * a POST is never re-sent blindly (officernd::Client): a failure is counted on the record
///   and tried again at the next sweep, read first, and ends that sweep (OfficeRnD is likely
///   down for the rest too). Nothing is given up on for a number of failures: a pending
///   check-in whose day ended is resolved from what OfficeRnD has (never POSTed late), and a
///   check-out is retried until it is confirmed, read first so that a check-in made since is
///   never ended by a second one.
/// Outcomes are logged (module "session") and counted in radsync_checkins_total{action,result}.
class CheckinWorker {
public:
    /// At most this many calls to OfficeRnD per sweep; the rest wait for the next one.
    static constexpr std::size_t kMaxActionsPerSweep = 200;

    using Directory = std::function<Result<
        std::pair<std::map<std::string, std::string>, std::vector<session::PresenceSite>>>()>;

    /// `directory`: StoreWorker::presence_directory. `tokens`: the OfficeRnD token it shares
    /// with the poller.
    CheckinWorker(std::shared_ptr<const config::Config> config, const core::Clock& clock,
                  metrics::Registry& metrics, Directory directory,
                  std::shared_ptr<officernd::TokenShare> tokens = {});
    ~CheckinWorker();
    CheckinWorker(const CheckinWorker&) = delete;
    CheckinWorker& operator=(const CheckinWorker&) = delete;

    /// Opens the accounting database and the OfficeRnD client, starts the thread.
    [[nodiscard]] Status start();
    /// Ends the sweep in progress at its next call (a back-off is cut short) and joins.
    void stop();
    /// Thread-safe: checkout_after and the sweep interval from the next sweep on; with
    /// checkins.enabled false the worker idles.
    void set_config(std::shared_ptr<const config::Config> config);
    /// Beaten every second while idle and after every OfficeRnD exchange.
    [[nodiscard]] const sched::Heartbeat& heartbeat() const { return heartbeat_; }

private:
    void run();
    void sweep();
    /// Carries out one action and records the outcome (`recorded`: the record is stored);
    /// false when OfficeRnD failed.
    bool carry_out(const session::CheckinAction& action, session::CheckinRecord record,
                   bool recorded);
    void settle(session::CheckinRecord& record, const char* action, const char* result);
    /// Records a failed call; always false.
    bool failed(session::CheckinRecord& record, const char* action, const Error& error);
    std::shared_ptr<const config::Config> current_config();
    [[nodiscard]] bool stopping();

    const core::Clock& clock_;
    metrics::Registry& metrics_;
    Directory directory_;
    std::shared_ptr<officernd::TokenShare> tokens_;
    std::shared_ptr<spdlog::logger> log_;
    std::unique_ptr<store::AccountingStore> store_;
    OfficeRndAccess api_;
    sched::Heartbeat heartbeat_;
    core::Instant next_prune_{};  // worker thread

    std::mutex mu_;
    std::condition_variable cv_;
    std::shared_ptr<const config::Config> config_;  // guarded by mu_
    bool stopping_ = false;                         // guarded by mu_
    std::thread thread_;
};

}  // namespace radsync::service
