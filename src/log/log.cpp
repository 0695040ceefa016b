#include "radsync/log/log.hpp"

#include <cstdlib>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace radsync::log {

namespace {

std::shared_ptr<spdlog::sinks::sink> shared_sink() {
    static auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    return sink;
}

}  // namespace

void setup(const std::string& level) {
    const bool under_journald = std::getenv("JOURNAL_STREAM") != nullptr;
    const auto lvl = spdlog::level::from_str(level);
    for (const char* name : kModules) {
        auto logger = get(name);
        logger->set_level(lvl);
        logger->set_pattern(under_journald ? "[%n] %l %v" : "%Y-%m-%dT%H:%M:%S%z [%n] %l %v");
    }
}

std::shared_ptr<spdlog::logger> get(const char* module) {
    if (auto existing = spdlog::get(module)) {
        return existing;
    }
    auto logger = std::make_shared<spdlog::logger>(module, shared_sink());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S%z [%n] %l %v");
    logger->set_level(spdlog::level::info);
    spdlog::register_logger(logger);
    return logger;
}

}  // namespace radsync::log
