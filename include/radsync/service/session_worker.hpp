#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "radsync/config/config.hpp"
#include "radsync/control/protocol.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/metrics/registry.hpp"
#include "radsync/sched/watchdog.hpp"
#include "radsync/session/plan.hpp"
#include "radsync/store/accounting.hpp"

namespace radsync::service {

/// What became of one Disconnect- or CoA-Request.
struct DynauthOutcome {
    std::string username;
    std::string session_id;  ///< Acct-Session-Id of the session it named
    std::string nas;         ///< the NAS entry's name
    std::string request;     ///< "disconnect" or "coa"
    std::string result;      ///< "ack", "nak", "timeout" or "error"
    std::string detail;      ///< a NAK's Error-Cause, or what failed
    std::string why;         ///< the access change behind it
    int attempts = 0;
    core::Instant at{};
    double seconds = 0;  ///< from the change being applied to the answer
};

/// Owns FreeRADIUS's accounting database on its own thread (design.md "Sessions"): closes stale
/// sessions every sessions.sweep_interval, and for each access change a run applied finds the
/// user's open sessions and sends their NAS a Disconnect- or CoA-Request (RFC 5176,
/// radius::dynauth), resending with back-off until an answer that matches or sessions.attempts
/// sends. Outcomes are logged (module "session") and counted. At most kMaxInFlight exchanges
/// run at once; Disconnects go before CoAs, and at most kMaxQueued wait.
class SessionWorker {
public:
    static constexpr std::size_t kMaxInFlight = 64;
    static constexpr std::size_t kMaxQueued = 10000;
    using DisconnectDone = std::function<void(Result<std::vector<DynauthOutcome>>)>;

    SessionWorker(std::shared_ptr<const config::Config> config, const core::Clock& clock,
                  metrics::Registry& metrics);
    ~SessionWorker();
    SessionWorker(const SessionWorker&) = delete;
    SessionWorker& operator=(const SessionWorker&) = delete;

    /// Opens and migrates the accounting database, reads the NAS secrets, starts the thread.
    /// Errc::kConfigInvalid for a secret file that cannot be read.
    [[nodiscard]] Status start();
    /// Stops the thread. Requests waiting or in flight end as "error: shutting down", and every
    /// caller of disconnect() gets its answer; nothing is accepted afterwards.
    void stop();

    /// A reload in two steps, so a reload that another part refuses changes nothing here:
    /// prepare() reads the new NAS secrets (Errc::kConfigInvalid if one cannot be read),
    /// apply() switches to them.
    struct Prepared {
        std::shared_ptr<const config::Config> config;
        std::map<std::string, std::string> secrets;
    };
    [[nodiscard]] static Result<Prepared> prepare(std::shared_ptr<const config::Config> config);
    void apply(Prepared prepared);

    /// The access changes of a run applied at `applied_at` (steady clock, for the latency).
    void submit(std::vector<session::AccessChange> changes,
                std::chrono::steady_clock::time_point applied_at);
    /// Ends every open session of `username` (sessions disconnect); `done` gets one outcome per
    /// session once all have answered or timed out, on the worker's thread (or at once with an
    /// error when the worker is not running).
    void disconnect(std::string username, DisconnectDone done);

    /// Beaten every second by the worker's own loop: a thread stuck in the accounting database
    /// stops it (the systemd watchdog's view).
    [[nodiscard]] const sched::Heartbeat& heartbeat() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// `sessions disconnect USER`, in the daemon or here: Disconnect-Request for each of the
/// user's open sessions, and one line per answer. Exit 0 only if every NAS acknowledged; 1 with
/// no open session or an empty name.
[[nodiscard]] control::Answer sessions_disconnect_answer(SessionWorker& worker,
                                                         const std::string& username);

}  // namespace radsync::service
