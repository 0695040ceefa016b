#pragma once

#include <map>
#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace radsync::log {

/// The fixed list of module loggers (style.md c.6). One per module; lines carry "[name]".
inline constexpr const char* kModules[] = {
    "cli",       "config", "mapping", "store",   "reconcile",  "webhook", "http",
    "officernd", "sched",  "metrics", "service", "migrations", "notify",  "session"};

/// (Re)configures every module logger writing to stderr: `level` (an spdlog level name) for
/// all, `modules` over it for some (config log_modules). Called again on reload. Under systemd
/// (stderr is the stream JOURNAL_STREAM names) lines carry no timestamp, since journald stamps
/// them, and start with the sd-daemon(3) priority prefix ("<3>" for errors), so
/// `journalctl -p err` finds them.
void setup(const std::string& level, const std::map<std::string, std::string>& modules = {});

/// The logger for a module in kModules; created on first use if setup() was not called.
[[nodiscard]] std::shared_ptr<spdlog::logger> get(const char* module);

/// The syslog priority journald files a line of this level under (sd-daemon.h SD_ERR...).
[[nodiscard]] int journal_priority(spdlog::level::level_enum level);

}  // namespace radsync::log
