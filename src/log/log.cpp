#include "radsync/log/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace radsync::log {

namespace {

constexpr const char* kPlainPattern = "%Y-%m-%dT%H:%M:%S%z [%n] %l %v";

// Every logger writes through this one sink, and the format is the sink's: a logger made
// after setup() (a module's first get()) must not change how the others' lines look.
std::shared_ptr<spdlog::sinks::sink> shared_sink() {
    static auto sink = [] {
        auto s = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        s->set_pattern(kPlainPattern);
        return s;
    }();
    return sink;
}

/// "%*": the "<N>" journald reads as the line's priority (SyslogLevelPrefix=, on by default).
class JournalPriority final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        const char prefix[] = {'<', static_cast<char>('0' + journal_priority(msg.level)), '>'};
        dest.append(prefix, prefix + sizeof prefix);
    }
    [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JournalPriority>();
    }
};

// sd-daemon(3): JOURNAL_STREAM is "DEVICE:INODE" of the stream journald gave the service; it
// counts only while stderr is still that stream (a command run from the service, its stderr
// redirected, must not write "<6>" into a file or a pipe).
bool stderr_is_the_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) {
        return false;
    }
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) {
        return false;
    }
    unsigned long long device = 0;
    unsigned long long inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) {
        return false;
    }
    return device == static_cast<unsigned long long>(st.st_dev) &&
           inode == static_cast<unsigned long long>(st.st_ino);
}

std::unique_ptr<spdlog::formatter> make_formatter() {
    if (!stderr_is_the_journal()) {
        return std::make_unique<spdlog::pattern_formatter>(kPlainPattern);
    }
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<JournalPriority>('*').set_pattern("%*[%n] %l %v");
    return f;
}

}  // namespace

int journal_priority(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::critical:
            return 2;  // SD_CRIT
        case spdlog::level::err:
            return 3;  // SD_ERR
        case spdlog::level::warn:
            return 4;  // SD_WARNING
        case spdlog::level::info:
            return 6;  // SD_INFO
        default:
            return 7;  // SD_DEBUG: debug and trace
    }
}

void setup(const std::string& level, const std::map<std::string, std::string>& modules) {
    const auto all = spdlog::level::from_str(level);
    for (const char* name : kModules) {
        auto logger = get(name);
        const auto own = modules.find(name);
        logger->set_level(own == modules.end() ? all : spdlog::level::from_str(own->second));
    }
    shared_sink()->set_formatter(make_formatter());
}

std::shared_ptr<spdlog::logger> get(const char* module) {
    if (auto existing = spdlog::get(module)) {
        return existing;
    }
    auto logger = std::make_shared<spdlog::logger>(module, shared_sink());
    logger->set_level(spdlog::level::info);
    spdlog::register_logger(logger);
    return logger;
}

}  // namespace radsync::log
