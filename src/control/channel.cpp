#include "radsync/control/channel.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "radsync/log/log.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::control {

namespace {

std::string errno_text() {
    return std::strerror(errno);
}

std::optional<sockaddr_un> address_of(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path) {
        return std::nullopt;
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

void set_timeouts(int fd, std::chrono::seconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count());
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Reads until `out` holds `want` bytes (or, with `want` unset, until the peer closes), never
// more than `limit`. False on a timeout, an error or an early close (when `want` is set).
bool receive(int fd, std::string& out, std::optional<std::size_t> want, std::size_t limit) {
    char buf[65536];
    while (!want || out.size() < *want) {
        std::size_t room = limit - out.size();
        if (want) {
            room = std::min(room, *want - out.size());
        }
        if (room == 0) {
            return false;  // over the limit
        }
        const ssize_t n = ::recv(fd, buf, std::min(room, sizeof buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return false;
        }
        if (n == 0) {
            return !want;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    return true;
}

// The header line; what follows it (the start of the payload) stays in `rest`.
bool receive_line(int fd, std::string& line, std::string& rest) {
    char buf[4096];
    for (;;) {
        if (const auto nl = line.find('\n'); nl != std::string::npos) {
            rest = line.substr(nl + 1);
            line.resize(nl);
            return true;
        }
        if (line.size() > kMaxHeaderBytes) {
            return false;
        }
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        line.append(buf, static_cast<std::size_t>(n));
    }
}

// Sends the answer (a refusal may come before the request was read to its end), then reads
// and drops what is left for at most `budget`: closing with unread data would reset the
// connection, and the caller would lose the answer with it.
void answer_and_close(int fd, const std::string& answer, std::chrono::milliseconds budget) {
    (void)send_all(fd, answer);
    ::shutdown(fd, SHUT_WR);
    const auto deadline = std::chrono::steady_clock::now() + budget;
    char buf[65536];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0 ||
            ::recv(fd, buf, sizeof buf, 0) <= 0) {
            break;
        }
    }
    ::close(fd);
}

Answer refusal(std::string message) {
    return Answer{1, "", "error: " + std::move(message) + "\n"};
}

}  // namespace

Result<std::unique_ptr<Server>> Server::open(const config::Control& cfg, Handler handler) {
    const std::string temp = cfg.socket + "." + std::to_string(::getpid()) + ".new";
    const auto addr = address_of(temp);
    if (!addr) {
        return Error(Errc::kIoFailed, "control socket path " + cfg.socket + " is too long");
    }
    std::optional<gid_t> gid;
    if (!cfg.group.empty()) {
        const group* g = ::getgrnam(cfg.group.c_str());
        if (g == nullptr) {
            return Error(Errc::kIoFailed, "control.group: no group named " + cfg.group);
        }
        gid = g->gr_gid;
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return Error(Errc::kIoFailed, "cannot create the control socket: " + errno_text());
    }
    const auto fail = [&](const std::string& what) {
        const std::string reason = errno_text();
        ::close(fd);
        ::unlink(temp.c_str());
        return Error(Errc::kIoFailed, what + " " + cfg.socket + ": " + reason);
    };
    ::unlink(temp.c_str());
    // Created with no permissions at all, then given the configured ones; only then does it
    // appear under its name.
    const mode_t old_umask = ::umask(0777);
    const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
    ::umask(old_umask);
    if (bound != 0) {
        return fail("cannot create the control socket");
    }
    if (gid && ::chown(temp.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
        return fail("cannot give control.group to");
    }
    if (::chmod(temp.c_str(), static_cast<mode_t>(cfg.mode)) != 0) {
        return fail("cannot set control.mode of");
    }
    if (::listen(fd, 16) != 0) {
        return fail("cannot listen on");
    }
    if (::rename(temp.c_str(), cfg.socket.c_str()) != 0) {
        return fail("cannot put in place the control socket");
    }
    const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake < 0) {
        ::close(fd);
        ::unlink(cfg.socket.c_str());
        return Error(Errc::kIoFailed, "eventfd: " + errno_text());
    }
    return std::unique_ptr<Server>(new Server(cfg.socket, fd, wake, std::move(handler)));
}

Server::Server(std::string path, int listen_fd, int wake_fd, Handler handler)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      handler_(std::move(handler)),
      log_(log::get("control")) {}

Server::~Server() {
    stop_accepting();
    join();
    ::close(wake_fd_);
}

void Server::start() {
    acceptor_ = std::thread([this] { accept_loop(); });
}

void Server::stop_accepting() {
    const std::uint64_t one = 1;
    (void)::write(wake_fd_, &one, sizeof one);
    if (acceptor_.joinable()) {
        acceptor_.join();
    }
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
        ::unlink(path_.c_str());
    }
}

void Server::join() {
    std::list<Connection> all;
    {
        std::lock_guard lock(mu_);
        all.swap(connections_);
    }
    for (auto& c : all) {
        c.thread.join();
    }
}

void Server::reap_finished() {
    std::list<Connection> done;
    {
        std::lock_guard lock(mu_);
        for (auto it = connections_.begin(); it != connections_.end();) {
            auto next = std::next(it);
            if (it->finished) {
                done.splice(done.end(), connections_, it);
            }
            it = next;
        }
    }
    for (auto& c : done) {
        c.thread.join();
    }
}

void Server::accept_loop() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            log_->error("control socket poll failed error={}", errno_text());
            return;
        }
        if ((fds[1].revents & POLLIN) != 0) {
            return;
        }
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;  // the peer gave up already, or descriptors ran out for a moment
        }
        reap_finished();
        std::lock_guard lock(mu_);
        if (connections_.size() >= kMaxConnections) {
            set_timeouts(fd, std::chrono::seconds{1});
            answer_and_close(
                fd,
                encode(refusal("the daemon is busy with " + std::to_string(kMaxConnections) +
                               " other commands; try again")),
                std::chrono::seconds{1});
            continue;
        }
        connections_.emplace_back();
        auto it = std::prev(connections_.end());
        it->thread = std::thread([this, fd, it] {
            serve(fd);
            std::lock_guard done(mu_);
            it->finished = true;
        });
    }
}

void Server::serve(int fd) {
    set_timeouts(fd, kIoTimeout);
    Peer peer;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        peer = {cred.pid, cred.uid, cred.gid};
    }
    std::string header;
    std::string payload;
    Answer answer;
    if (!receive_line(fd, header, payload)) {
        answer = refusal("no complete request within " + std::to_string(kIoTimeout.count()) +
                         " s (or a header over 64 KiB)");
    } else if (auto request = decode_request(header); !request) {
        answer = refusal(request.error().message);
    } else if (payload.size() > request->payload_bytes ||
               !receive(fd, payload, request->payload_bytes, snapshot::kMaxSnapshotBytes)) {
        answer = refusal("the payload did not arrive as announced");
    } else {
        log_->info("control request command={} uid={} pid={}", to_string(request->command),
                   peer.uid, peer.pid);
        try {
            answer = handler_(*request, std::move(payload), peer);
        } catch (const std::exception& e) {
            log_->error("control request failed command={} error={}", to_string(request->command),
                        e.what());
            answer = refusal(std::string("internal error: ") + e.what());
        }
    }
    answer_and_close(fd, encode(answer), std::chrono::seconds{1});
}

boost::system::result<Answer, CallError> call(const std::string& socket_path,
                                              const Request& request, std::string_view payload,
                                              std::chrono::seconds timeout) {
    const auto addr = address_of(socket_path);
    if (!addr) {
        return CallError{Unreached::kFailed, "control socket path " + socket_path + " is too long"};
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return CallError{Unreached::kFailed, "cannot create a socket: " + errno_text()};
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
        if (errno == ENOENT || errno == ECONNREFUSED) {
            return CallError{Unreached::kNoDaemon, "no daemon listens on " + socket_path};
        }
        return CallError{Unreached::kFailed,
                         "cannot connect to the radsync daemon on " + socket_path + ": " +
                             errno_text() +
                             (errno == EACCES ? " (run as root, or as a member of the "
                                                "group control.group names)"
                                              : "")};
    }
    set_timeouts(fd, timeout);
    Request r = request;
    r.payload_bytes = payload.size();
    // A daemon that refuses (busy, a malformed header) answers without reading everything
    // and closes: its answer is still there to read after a failed send.
    const bool sent = send_all(fd, encode(r)) && send_all(fd, payload);
    ::shutdown(fd, SHUT_WR);
    std::string text;
    if (!receive(fd, text, std::nullopt, kMaxAnswerBytes) || (!sent && text.empty())) {
        if (!sent) {
            return CallError{Unreached::kFailed,
                             "the radsync daemon on " + socket_path + " did not take the request"};
        }
        return CallError{Unreached::kFailed, "no answer from the radsync daemon on " + socket_path +
                                                 " within " + std::to_string(timeout.count()) +
                                                 " s"};
    }
    auto answer = decode_answer(text);
    if (!answer) {
        return CallError{Unreached::kFailed, answer.error().message};
    }
    return *answer;
}

}  // namespace radsync::control
