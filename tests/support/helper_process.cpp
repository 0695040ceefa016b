#include "support/helper_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;  // what the helper inherits (posix_spawn wants it explicitly)

namespace radsync::test {

using namespace std::chrono_literals;

std::optional<unsigned> HelperProcess::start(const std::vector<std::string>& args,
                                             const std::string& log_file,
                                             const std::string& port_file, bool append_log,
                                             std::string& error) {
    stop();
    log_file_ = log_file;
    std::filesystem::remove(port_file);  // a previous instance's, in multi-start tests
    std::vector<std::string> owned = args;
    std::vector<char*> argv;
    for (auto& a : owned) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_file_.c_str(),
                                     O_WRONLY | O_CREAT | (append_log ? O_APPEND : O_TRUNC), 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        pid_ = -1;
        error = "cannot start " + args.front();
        return std::nullopt;
    }
    // Bounded polling for the port file (start-up is a real process; nothing to inject).
    const auto give_up = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < give_up) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            error = args.back() + " exited during start-up:\n" + log();
            return std::nullopt;
        }
        std::ifstream in(port_file);
        unsigned port = 0;
        if (in >> port && port > 0 && port < 65536) {
            return port;
        }
        std::this_thread::sleep_for(20ms);
    }
    error = "no port in " + port_file + " within 15 s:\n" + log();
    return std::nullopt;
}

void HelperProcess::stop() {
    if (pid_ <= 0) {
        return;
    }
    kill(pid_, SIGTERM);
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > give_up) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
}

std::string HelperProcess::log() const {
    std::ifstream in(log_file_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace radsync::test
