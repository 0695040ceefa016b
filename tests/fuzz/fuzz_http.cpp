// libFuzzer target: the HTTP request path with radsync's limits, over a real loopback socket:
// each input is sent as a client's whole byte stream to a running http::Server whose handler
// does what the webhook route does (signature, then envelope). The server must answer or close,
// never crash, and keep serving the next input.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>

#include "radsync/http/server.hpp"
#include "radsync/webhook/envelope.hpp"
#include "radsync/webhook/verifier.hpp"

namespace {

using namespace radsync;

struct Harness {
    net::io_context ioc{1};
    net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(ioc);
    std::unique_ptr<http::Server> server;
    std::thread thread;
    webhook::Verifier verifier{[] {
                                   std::vector<webhook::Secret> s;
                                   s.emplace_back("whsec-test-0123456789abcdef");
                                   return s;
                               }(),
                               std::chrono::seconds{300}, std::chrono::seconds{60}};

    Harness() {
        http::ServerOptions opts;
        opts.name = "fuzz";
        opts.address = "127.0.0.1";
        opts.limits.body_bytes = 64 * 1024;
        opts.limits.read_timeout = std::chrono::seconds{2};
        opts.limits.idle_timeout = std::chrono::seconds{2};
        opts.limits.write_timeout = std::chrono::seconds{2};
        opts.limits.max_connections = 16;
        auto created = http::Server::create(
            ioc, opts, [this](http::Request req) { return handle(std::move(req)); });
        if (!created) {
            std::abort();
        }
        server = std::move(*created);
        server->start();
        thread = std::thread([this] { ioc.run(); });
    }

    Task<http::Response> handle(http::Request req) {
        http::Response r;
        const auto header = req.headers.find("officernd-signature");
        const auto verdict =
            verifier.verify(header == req.headers.end() ? "" : header->second, req.body,
                            core::Instant{std::chrono::seconds{1772352000}});
        if (verdict != webhook::Verdict::kValid) {
            r.status = 401;
        } else if (!webhook::parse_envelope(req.body)) {
            r.status = 400;
        }
        co_return r;
    }
};

Harness& harness() {
    static Harness* h = new Harness();  // lives for the whole process, as the daemon's does
    return *h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Harness& h = harness();
    // libFuzzer's timeout alarm interrupts system calls every second: EINTR is retried.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(h.server->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    if (rc != 0 && errno == EINTR) {
        pollfd pfd{fd, POLLOUT, 0};
        while ((rc = ::poll(&pfd, 1, 10'000)) < 0 && errno == EINTR) {
        }
        int err = 0;
        socklen_t len = sizeof err;
        rc =
            rc == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 ? 0 : -1;
    }
    if (rc != 0) {
        std::fprintf(stderr, "connect failed: %s\n", std::strerror(errno));
        std::abort();  // the server stopped accepting: that is a finding
    }
    std::size_t sent = 0;
    while (sent < size) {
        const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;  // the server closed early (a refusal): fine
        }
        sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    // Read until the server closes; its deadlines (2 s) bound this, 10 s means a hang.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    char buf[16384];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd pfd{fd, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            std::fprintf(stderr, "no answer and no close within 10 s\n");
            std::abort();  // a hang
        }
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
    }
    ::close(fd);
    return 0;
}
