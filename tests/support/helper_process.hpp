#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace radsync::test {

/// A helper server a test starts (the OfficeRnD simulator, the SMTP sink): a real process,
/// its stdout and stderr in a log file, the port it bound written to a file once it listens.
/// Stopped (SIGTERM, then SIGKILL after 5 s) by stop() or the destructor.
class HelperProcess {
public:
    HelperProcess() = default;
    ~HelperProcess() { stop(); }
    HelperProcess(const HelperProcess&) = delete;
    HelperProcess& operator=(const HelperProcess&) = delete;

    /// Spawns `args` (args[0] found on PATH) and waits, at most 15 s, for `port_file` to hold
    /// a port. Returns the port, or nullopt with `error` saying why (with the log).
    [[nodiscard]] std::optional<unsigned> start(const std::vector<std::string>& args,
                                                const std::string& log_file,
                                                const std::string& port_file, bool append_log,
                                                std::string& error);
    void stop();
    [[nodiscard]] bool running() const { return pid_ > 0; }
    [[nodiscard]] pid_t pid() const { return pid_; }
    /// Everything the process wrote so far.
    [[nodiscard]] std::string log() const;

private:
    pid_t pid_ = -1;
    std::string log_file_;
};

}  // namespace radsync::test
