#pragma once

#include <string>

namespace radsync::service {

struct ServeOptions {
    std::string config_file;
    /// Acknowledge and store events but do not process them (crash-recovery tests only).
    bool process_events = true;
};

/// Runs the daemon until SIGTERM/SIGINT: webhook listener, health/metrics listener, store
/// worker. Returns the process exit code (0 after a clean drain, 1 if start-up failed).
[[nodiscard]] int serve(const ServeOptions& options);

}  // namespace radsync::service
