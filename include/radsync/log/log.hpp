#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace radsync::log {

/// The fixed list of module loggers (style.md c.6). One per module; lines carry "[name]".
inline constexpr const char* kModules[] = {
    "cli",       "config", "mapping", "store",   "reconcile",  "webhook", "http",
    "officernd", "sched",  "metrics", "service", "migrations", "notify"};

/// Creates every module logger writing to stderr. `level` is an spdlog level name; under
/// systemd (JOURNAL_STREAM set) lines carry no timestamp because journald stamps them.
void setup(const std::string& level);

/// The logger for a module in kModules; created on first use if setup() was not called.
[[nodiscard]] std::shared_ptr<spdlog::logger> get(const char* module);

}  // namespace radsync::log
