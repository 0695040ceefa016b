#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "radsync/config/config.hpp"
#include "radsync/control/protocol.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/metrics/registry.hpp"
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
/// sessions every sweep, and for each access change a run applied finds the user's open
/// sessions and sends their NAS a Disconnect- or CoA-Request (RFC 5176, radius::dynauth),
/// resending with back-off until an answer that matches or sessions.attempts sends. Outcomes
/// are logged, counted and kept (the latest kKeptOutcomes) for `sessions` and `accounts show`.
class SessionWorker {
public:
    static constexpr std::size_t kKeptOutcomes = 1000;
    using DisconnectDone = std::function<void(Result<std::vector<DynauthOutcome>>)>;

    SessionWorker(std::shared_ptr<const config::Config> config, const core::Clock& clock,
                  metrics::Registry& metrics);
    ~SessionWorker();
    SessionWorker(const SessionWorker&) = delete;
    SessionWorker& operator=(const SessionWorker&) = delete;

    /// Opens and migrates the accounting database, reads the NAS secrets, starts the thread.
    /// Errc::kConfigInvalid for a secret file that cannot be read.
    [[nodiscard]] Status start();
    /// Stops the thread; requests still waiting for an answer end as they are (not recorded).
    void stop();
    /// A reload: new NAS list and secrets (kept as they were if a secret cannot be read).
    [[nodiscard]] Status set_config(std::shared_ptr<const config::Config> config);

    /// The access changes of a run applied at `applied_at` (steady clock, for the latency).
    void submit(std::vector<session::AccessChange> changes,
                std::chrono::steady_clock::time_point applied_at);
    /// Ends every open session of `username` (sessions disconnect); `done` gets one outcome per
    /// session, once all have answered or timed out. Called on the worker's thread.
    void disconnect(std::string username, DisconnectDone done);
    /// The open sessions (of one user), from the worker's own connection.
    [[nodiscard]] Result<std::vector<store::Session>> open_sessions(
        const std::optional<std::string>& username);
    /// The latest outcomes, newest first (of one user).
    [[nodiscard]] std::vector<DynauthOutcome> outcomes(const std::optional<std::string>& username,
                                                       std::size_t limit) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// `sessions disconnect USER`, in the daemon or here: Disconnect-Request for each of the
/// user's open sessions, and one line per answer. Exit 0 only if every NAS acknowledged; 1 with
/// no open session.
[[nodiscard]] control::Answer sessions_disconnect_answer(SessionWorker& worker,
                                                         const std::string& username);

}  // namespace radsync::service
