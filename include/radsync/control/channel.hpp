#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <spdlog/logger.h>

#include "radsync/config/config.hpp"
#include "radsync/control/protocol.hpp"
#include "radsync/core/error.hpp"

namespace radsync::control {

/// Who is on the other end of a control connection (SO_PEERCRED), for the log.
struct Peer {
    long pid = 0;
    unsigned uid = 0;
    unsigned gid = 0;
};

/// The daemon's end of the control socket. Plain POSIX on threads of its own: each request
/// waits for the store worker (a reconcile may take minutes), and the filesystem permissions
/// of the socket are the whole access control, so nothing here needs the io_context.
/// Bounded: at most kMaxConnections at once (more are answered "busy"), a header of 64 KiB,
/// a payload of snapshot::kMaxSnapshotBytes, kIoTimeout per read or write.
class Server {
public:
    static constexpr std::size_t kMaxConnections = 4;
    static constexpr std::chrono::seconds kIoTimeout{30};

    /// Runs on a connection's thread; may block until the work is done.
    using Handler = std::function<Answer(const Request&, std::string payload, const Peer&)>;

    /// Creates the socket with `cfg`'s mode and group, under a temporary name renamed into
    /// place once its permissions are right (nobody can connect to it before). A stale socket
    /// at the path is replaced: the caller holds the instance lock, so no daemon owns it.
    /// Errc::kIoFailed with the reason (missing directory, unknown group, ...).
    [[nodiscard]] static Result<std::unique_ptr<Server>> open(const config::Control& cfg,
                                                              Handler handler);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void start();
    /// No new connections; the socket file is removed. Requests in progress go on.
    void stop_accepting();
    /// Waits for the requests in progress (their work must be able to finish or fail).
    void join();

private:
    Server(std::string path, int listen_fd, int wake_fd, Handler handler);
    void accept_loop();
    void serve(int fd);
    void reap_finished();

    std::string path_;
    int listen_fd_;
    int wake_fd_;
    Handler handler_;
    std::shared_ptr<spdlog::logger> log_;
    std::thread acceptor_;
    std::mutex mu_;
    struct Connection {
        std::thread thread;
        bool finished = false;
    };
    std::list<Connection> connections_;  // guarded by mu_
};

/// Why a call did not reach a daemon.
enum class Unreached {
    kNoDaemon,  ///< no socket, or nobody listening on it: run here, under the instance lock
    kFailed,    ///< a daemon is there but the exchange failed (permissions, timeout, garbage)
};

struct CallError {
    Unreached kind = Unreached::kFailed;
    std::string message;
};

/// The command's end: sends `request` (and `payload`) to the daemon at `socket_path` and
/// waits up to `timeout` for its answer.
[[nodiscard]] boost::system::result<Answer, CallError> call(const std::string& socket_path,
                                                            const Request& request,
                                                            std::string_view payload,
                                                            std::chrono::seconds timeout);

}  // namespace radsync::control
