#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "radsync/reconcile/reconciler.hpp"

namespace radsync::service {

struct ServeOptions {
    std::string config_file;
    /// Acknowledge and store events but do not process them (crash-recovery tests only).
    bool process_events = true;
    /// Wait this long between a relay's 250 and its record (crash tests only: it widens the
    /// window in which a kill -9 makes the e-mail go out once more).
    std::chrono::milliseconds hold_after_accept{0};
    /// Keep the store worker busy this long, 2 s after READY (the watchdog test only: a worker
    /// stuck on purpose must stop WATCHDOG=1).
    std::chrono::milliseconds stall_store_worker{0};
};

/// Exit status of a start refused for its configuration (EX_CONFIG): the organization does
/// not exist, the files do not load. The systemd unit does not restart on it.
inline constexpr int kExitConfigError = 78;

/// The text `accounts reset-password` prints: the username and the new password, once, or
/// where it was e-mailed to.
[[nodiscard]] std::string reset_password_text(const reconcile::ResetOutcome& r);

/// The number of a message in `outbox list`; nullopt unless a positive integer.
[[nodiscard]] std::optional<std::int64_t> parse_message_number(const std::string& text);

/// Runs the daemon until SIGTERM/SIGINT: webhook listener, health/metrics listener, store
/// worker. Returns the process exit code (0 after a clean drain, 1 if start-up failed,
/// kExitConfigError if the configuration cannot work). Under systemd it reports READY, STATUS,
/// RELOADING, STOPPING and, with WatchdogSec=, WATCHDOG=1 while every thread makes progress.
[[nodiscard]] int serve(const ServeOptions& options);

}  // namespace radsync::service
