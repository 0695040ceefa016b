#include "radsync/http/server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>

#include "support/https_client.hpp"

namespace radsync::http {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using test::HttpClient;
using test::HttpClientOptions;

std::string fixture(const char* name) {
    return std::string(RADSYNC_SOURCE_DIR) + "/tests/fixtures/tls/" + name;
}

TlsFiles test_tls() {
    return TlsFiles{fixture("test-cert.pem"), fixture("test-key.pem")};
}

/// Short deadlines so a test that goes wrong fails fast instead of hanging.
ServerOptions options(bool tls) {
    ServerOptions opts;
    opts.name = "test";
    opts.address = "127.0.0.1";
    opts.port = 0;
    if (tls) {
        opts.tls = test_tls();
    }
    opts.limits.handshake_timeout = 2s;
    opts.limits.read_timeout = 2s;
    opts.limits.write_timeout = 2s;
    opts.limits.idle_timeout = 5s;
    return opts;
}

HttpClientOptions client_options(std::uint16_t port, bool tls) {
    HttpClientOptions opts;
    opts.port = port;
    opts.tls = tls;
    opts.timeout = 3000ms;
    return opts;
}

/// Requests seen by the echo handler, for the test thread to inspect.
struct Recorder {
    std::mutex mutex;
    std::vector<Request> requests;

    std::vector<Request> snapshot() {
        std::lock_guard lock(mutex);
        return requests;
    }
};

/// Answers "METHOD TARGET BODY" and records the request.
Handler echo_handler(Recorder& recorder) {
    return [&recorder](Request req) -> Task<Response> {
        Response res;
        res.body = req.method + " " + req.target + " " + req.body;
        res.headers.emplace_back("X-Echo", "yes");
        {
            std::lock_guard lock(recorder.mutex);
            recorder.requests.push_back(std::move(req));
        }
        co_return res;
    };
}

/// A server on 127.0.0.1:0 whose io_context runs on a background thread.
class Harness {
public:
    Harness(ServerOptions opts, Handler handler) {
        server_ = Server::create(ioc_, std::move(opts), std::move(handler)).value();
        server_->start();
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~Harness() {
        if (!stopped_) {
            begin_shutdown(2s).wait_for(5s);
        }
        work_.reset();
        ioc_.stop();
        thread_.join();
    }
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;

    [[nodiscard]] std::uint16_t port() const { return server_->port(); }

    std::future<void> begin_shutdown(std::chrono::seconds grace) {
        stopped_ = true;
        return net::co_spawn(ioc_.get_executor(), server_->shutdown(grace), net::use_future);
    }

    /// Runs `f` on the io thread and returns its result (stats are io-thread-only).
    template <class F>
    auto on_io(F f) -> decltype(f()) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        net::post(ioc_, [&task] { task(); });
        return result.get();
    }

    ServerStats stats() {
        return on_io([this] { return server_->stats(); });
    }
    std::size_t active_connections() {
        return on_io([this] { return server_->active_connections(); });
    }
    Server& server() { return *server_; }

private:
    net::io_context ioc_{1};
    net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(ioc_);
    std::unique_ptr<Server> server_;
    std::thread thread_;
    bool stopped_ = false;
};

/// Polls `pred` until it holds or `limit` passes (for state only observable on the io thread).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 2000ms) {
    const auto deadline = SteadyClock::now() + limit;
    while (!pred()) {
        if (SteadyClock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// A plain blocking TCP socket to 127.0.0.1, for clients that misbehave on purpose.
class RawSocket {
public:
    static std::optional<RawSocket> connect(std::uint16_t port) {
        RawSocket sock;
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(sock.fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            return std::nullopt;
        }
        return sock;
    }
    RawSocket(RawSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    RawSocket& operator=(RawSocket&&) = delete;
    ~RawSocket() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }

    [[nodiscard]] int fd() const { return fd_; }

    bool send(std::string_view data) {
        return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) ==
               static_cast<ssize_t>(data.size());
    }

    /// Reads until the server closes the connection (EOF or reset), `done(received)` holds, or
    /// `limit` passes. Returns true if the connection was closed.
    template <class Done>
    bool read_until(std::chrono::milliseconds limit, Done done) {
        const auto deadline = SteadyClock::now() + limit;
        while (!done(received_)) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - SteadyClock::now());
            if (left.count() < 0) {
                return false;
            }
            pollfd pfd{fd_, POLLIN, 0};
            if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
                return false;
            }
            char buf[4096];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                return true;
            }
            received_.append(buf, static_cast<std::size_t>(n));
        }
        return false;
    }

    /// True if the server closes the connection within `limit` (data read meanwhile is kept).
    bool closed_within(std::chrono::milliseconds limit) {
        return read_until(limit, [](const std::string&) { return false; });
    }

    [[nodiscard]] const std::string& received() const { return received_; }

private:
    RawSocket() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {}
    int fd_;
    std::string received_;
};

std::chrono::milliseconds since(SteadyClock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
}

// -------------------------------------------------------------------------------------------------

TEST(HttpServer, TlsKeepAliveServesTwoRequestsOnOneConnection) {
    Recorder recorder;
    Harness h(options(/*tls=*/true), echo_handler(recorder));
    HttpClient client(client_options(h.port(), /*tls=*/true));

    const auto first =
        client.request("POST", "/hook?a=1", {{"X-Dup", "a"}, {"x-dup", "b"}}, "hello");
    EXPECT_EQ(first.status, 200U);
    EXPECT_EQ(first.body, "POST /hook?a=1 hello");
    EXPECT_TRUE(first.keep_alive);
    EXPECT_EQ(first.headers.at("x-echo"), "yes");
    EXPECT_EQ(first.headers.at("server"), "radsync");
    EXPECT_EQ(first.headers.at("content-type"), "text/plain; charset=utf-8");

    const auto second = client.request("GET", "/healthz");
    EXPECT_EQ(second.status, 200U);
    EXPECT_EQ(second.body, "GET /healthz ");

    EXPECT_EQ(client.connections_opened(), 1U);
    const auto stats = h.stats();
    EXPECT_EQ(stats.connections_accepted, 1U);
    EXPECT_EQ(stats.requests, 2U);

    const auto seen = recorder.snapshot();
    ASSERT_EQ(seen.size(), 2U);
    EXPECT_EQ(seen[0].headers.at("x-dup"), "a,b");  // names lower-cased, repeats joined
    EXPECT_EQ(seen[0].headers.at("host"), "127.0.0.1");
    EXPECT_EQ(seen[0].body, "hello");
    EXPECT_EQ(seen[0].peer.rfind("127.0.0.1:", 0), 0U) << seen[0].peer;
}

TEST(HttpServer, PlainModeServesRequests) {
    Recorder recorder;
    Harness h(options(/*tls=*/false), echo_handler(recorder));
    HttpClient client(client_options(h.port(), /*tls=*/false));

    const auto res = client.request("PUT", "/x", {}, "body");
    EXPECT_EQ(res.status, 200U);
    EXPECT_EQ(res.body, "PUT /x body");
    EXPECT_EQ(res.headers.at("content-length"), "11");

    const auto head = client.request("HEAD", "/x");
    EXPECT_EQ(head.status, 200U);
    EXPECT_EQ(head.body, "");
    EXPECT_EQ(head.headers.at("content-length"), "8");  // what a GET would carry: "HEAD /x "
    EXPECT_EQ(client.connections_opened(), 1U);
}

void expect_413(bool tls) {
    Recorder recorder;
    Harness h(options(tls), echo_handler(recorder));
    HttpClient client(client_options(h.port(), tls));

    const auto res = client.request("POST", "/hook", {}, std::string(300 * 1024, 'x'));
    EXPECT_EQ(res.status, 413U);
    EXPECT_FALSE(res.keep_alive);
    EXPECT_TRUE(recorder.snapshot().empty());

    // The client reconnects and the server is fine.
    EXPECT_EQ(client.request("GET", "/after").status, 200U);
    EXPECT_EQ(client.connections_opened(), 2U);
    EXPECT_EQ(h.stats().too_large, 1U);
}

TEST(HttpServer, BodyOverLimitGets413OverTls) {
    expect_413(/*tls=*/true);
}

TEST(HttpServer, BodyOverLimitGets413OverPlain) {
    expect_413(/*tls=*/false);
}

TEST(HttpServer, HeaderOverLimitGets431) {
    Recorder recorder;
    Harness h(options(/*tls=*/true), echo_handler(recorder));
    HttpClient client(client_options(h.port(), /*tls=*/true));

    const auto res = client.request("GET", "/", {{"X-Big", std::string(9 * 1024, 'h')}});
    EXPECT_EQ(res.status, 431U);
    EXPECT_FALSE(res.keep_alive);
    EXPECT_EQ(h.stats().too_large, 1U);
}

TEST(HttpServer, GarbageGets400AndClose) {
    Recorder recorder;
    Harness h(options(/*tls=*/false), echo_handler(recorder));
    auto sock = RawSocket::connect(h.port());
    ASSERT_TRUE(sock);

    ASSERT_TRUE(sock->send("\x01\x02 nonsense\r\n\r\n"));
    EXPECT_TRUE(sock->closed_within(3000ms));
    EXPECT_EQ(sock->received().rfind("HTTP/1.1 400 ", 0), 0U) << sock->received();
    EXPECT_EQ(h.stats().bad_requests, 1U);
    EXPECT_TRUE(recorder.snapshot().empty());
}

TEST(HttpServer, EndlessChunkExtensionIsCutOffNotBuffered) {
    Recorder recorder;
    Harness h(options(/*tls=*/false), echo_handler(recorder));
    auto sock = RawSocket::connect(h.port());
    ASSERT_TRUE(sock);

    // No CRLF ends the chunk header, so the parser can never consume it: the read buffer's
    // bound (header limit + slack), not memory, decides when this stops.
    ASSERT_TRUE(sock->send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;x="));
    ASSERT_TRUE(sock->send(std::string(200 * 1024, 'a')));
    EXPECT_TRUE(sock->closed_within(3000ms));
    EXPECT_EQ(sock->received().rfind("HTTP/1.1 400 ", 0), 0U) << sock->received();
    EXPECT_TRUE(recorder.snapshot().empty());
}

TEST(HttpServer, Http10IsAnsweredInKindAndClosed) {
    Recorder recorder;
    Harness h(options(/*tls=*/false), echo_handler(recorder));
    auto sock = RawSocket::connect(h.port());
    ASSERT_TRUE(sock);

    ASSERT_TRUE(sock->send("GET /old HTTP/1.0\r\n\r\n"));
    EXPECT_TRUE(sock->closed_within(3000ms));
    EXPECT_EQ(sock->received().rfind("HTTP/1.0 200 ", 0), 0U) << sock->received();
    EXPECT_NE(sock->received().find("GET /old "), std::string::npos);
}

TEST(HttpServer, ConnectionCloseIsHonoured) {
    Recorder recorder;
    Harness h(options(/*tls=*/false), echo_handler(recorder));
    HttpClient client(client_options(h.port(), /*tls=*/false));

    const auto res = client.request("GET", "/", {{"Connection", "close"}});
    EXPECT_EQ(res.status, 200U);
    EXPECT_FALSE(res.keep_alive);
    EXPECT_EQ(client.request("GET", "/").status, 200U);
    EXPECT_EQ(client.connections_opened(), 2U);
}

TEST(HttpServer, RequestsPerConnectionAreCapped) {
    Recorder recorder;
    auto opts = options(/*tls=*/false);
    opts.limits.max_requests_per_connection = 2;
    Harness h(std::move(opts), echo_handler(recorder));
    HttpClient client(client_options(h.port(), /*tls=*/false));

    EXPECT_TRUE(client.request("GET", "/1").keep_alive);
    EXPECT_FALSE(client.request("GET", "/2").keep_alive);
    EXPECT_TRUE(client.request("GET", "/3").keep_alive);
    EXPECT_EQ(client.connections_opened(), 2U);
}

TEST(HttpServer, HandlerExceptionGives500) {
    Harness h(options(/*tls=*/false), [](Request) -> Task<Response> {
        throw std::runtime_error("handler bug");
        co_return Response{};
    });
    HttpClient client(client_options(h.port(), /*tls=*/false));

    const auto res = client.request("GET", "/");
    EXPECT_EQ(res.status, 500U);
    EXPECT_FALSE(res.keep_alive);
    EXPECT_EQ(h.stats().handler_errors, 1U);
}

enum class HandshakeResult { kOk, kRefused, kClientCannotOffer };

struct Handshake {
    HandshakeResult result;
    std::string detail;  // OpenSSL's reason, for failure messages
};

/// A raw OpenSSL client limited to protocol versions up to `max_version`, with the security
/// level lowered so it is allowed to offer old versions at all.
Handshake raw_handshake(std::uint16_t port, int max_version) {
    auto sock = RawSocket::connect(port);
    if (!sock) {
        return {HandshakeResult::kRefused, "tcp connect failed"};
    }
    timeval tv{5, 0};  // never hang on a broken server
    ::setsockopt(sock->fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                          &SSL_CTX_free);
    SSL_CTX_set_security_level(ctx.get(), 0);
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx.get(), max_version);
    SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
    SSL_set_fd(ssl.get(), sock->fd());

    ERR_clear_error();
    if (SSL_connect(ssl.get()) == 1) {
        SSL_shutdown(ssl.get());
        return {HandshakeResult::kOk, SSL_get_version(ssl.get())};
    }
    const unsigned long err = ERR_peek_error();
    const int reason = ERR_GET_REASON(err);
    char text[256] = {};
    ERR_error_string_n(err, text, sizeof text);
    ERR_clear_error();
    if (reason == SSL_R_NO_PROTOCOLS_AVAILABLE || reason == SSL_R_NO_CIPHERS_AVAILABLE ||
        reason == SSL_R_NO_CIPHER_MATCH) {
        return {HandshakeResult::kClientCannotOffer, text};
    }
    return {HandshakeResult::kRefused, text};
}

TEST(HttpServer, RefusesTls11Client) {
    Recorder recorder;
    Harness h(options(/*tls=*/true), echo_handler(recorder));

    // Control: the same raw client capped at TLS 1.2 gets in, so a refusal below means 1.1.
    const auto control = raw_handshake(h.port(), TLS1_2_VERSION);
    ASSERT_EQ(control.result, HandshakeResult::kOk) << control.detail;
    EXPECT_EQ(control.detail, "TLSv1.2");

    const auto old = raw_handshake(h.port(), TLS1_1_VERSION);
    if (old.result == HandshakeResult::kClientCannotOffer) {
        GTEST_SKIP() << "this OpenSSL cannot offer TLS 1.1 even at security level 0: "
                     << old.detail;
    }
    EXPECT_EQ(old.result, HandshakeResult::kRefused) << old.detail;
    // The refusal is the server's protocol_version alert, not a failure on our side.
    EXPECT_NE(old.detail.find("alert protocol version"), std::string::npos) << old.detail;
    EXPECT_TRUE(eventually([&] { return h.stats().handshake_failures == 1; }));
}

TEST(HttpServer, HandshakeTimeoutDropsSilentClient) {
    Recorder recorder;
    auto opts = options(/*tls=*/true);
    opts.limits.handshake_timeout = 1s;
    Harness h(std::move(opts), echo_handler(recorder));

    const auto start = SteadyClock::now();
    auto sock = RawSocket::connect(h.port());
    ASSERT_TRUE(sock);
    EXPECT_TRUE(sock->closed_within(3000ms));
    EXPECT_GE(since(start), 900ms);
    // The client can see the close a moment before the session has counted it.
    EXPECT_TRUE(eventually([&] {
        const auto stats = h.stats();
        return stats.handshake_failures == 1 && stats.timeouts == 1;
    }));
}

TEST(HttpServer, SlowlorisIsCutOffAtReadTimeoutWithoutDelayingOthers) {
    Recorder recorder;
    auto opts = options(/*tls=*/false);
    opts.limits.read_timeout = 1s;
    Harness h(std::move(opts), echo_handler(recorder));

    const auto start = SteadyClock::now();
    auto slow = RawSocket::connect(h.port());
    ASSERT_TRUE(slow);
    const std::string header = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(64, 'a');
    bool closed = false;
    bool other_served = false;
    for (std::size_t i = 0; i < header.size() && since(start) < 4000ms; ++i) {
        if (!slow->send(header.substr(i, 1))) {
            closed = true;
            break;
        }
        if (i == 1) {
            // A well-behaved client on another connection is served at once meanwhile.
            const auto t0 = SteadyClock::now();
            HttpClient other(client_options(h.port(), /*tls=*/false));
            EXPECT_EQ(other.request("GET", "/quick").status, 200U);
            EXPECT_LT(since(t0), 500ms);
            other_served = true;
        }
        // Paces the sender at one byte per 200 ms, and notices the server hanging up.
        if (slow->closed_within(200ms)) {
            closed = true;
            break;
        }
    }
    const auto elapsed = since(start);
    EXPECT_TRUE(closed);
    EXPECT_TRUE(other_served);
    EXPECT_GE(elapsed, 800ms);
    EXPECT_LT(elapsed, 2500ms);
    EXPECT_TRUE(slow->received().empty()) << "a timed-out request gets no answer";
    EXPECT_TRUE(eventually([&] { return h.stats().timeouts == 1; }));
}

// Regression (trust issue, item 14): 256 connections that sent nothing locked every webhook
// out for 10 s, renewable forever, and no counter moved. Now the newcomer takes the slot of the
// connection that has waited longest without a request, over plain HTTP and over TLS.
void idle_flood_does_not_lock_out(bool tls) {
    Recorder recorder;
    auto opts = options(tls);
    opts.limits.max_connections = 4;
    opts.limits.handshake_timeout = 30s;  // the flood must not simply time out during the test
    opts.limits.read_timeout = 30s;
    Harness h(std::move(opts), echo_handler(recorder));

    std::vector<RawSocket> flood;
    for (int i = 0; i < 4; ++i) {
        auto s = RawSocket::connect(h.port());
        ASSERT_TRUE(s);
        flood.push_back(std::move(*s));
        // Accepted one by one, so "oldest" is well defined.
        ASSERT_TRUE(eventually([&] { return h.stats().connections_accepted == flood.size(); }));
    }
    const auto started = SteadyClock::now();
    HttpClient client(client_options(h.port(), tls));
    const auto res = client.request("POST", "/hook", {}, "real");
    EXPECT_EQ(res.status, 200U);
    EXPECT_LT(since(started), 1000ms);
    EXPECT_TRUE(flood.front().closed_within(2000ms)) << "the oldest silent connection goes";
    const auto stats = h.stats();
    EXPECT_EQ(stats.connections_evicted_idle, 1U);
    EXPECT_EQ(stats.connections_rejected, 0U);
    EXPECT_EQ(recorder.snapshot().size(), 1U);

    // A flood that keeps coming evicts its own oldest members, never the client in a request.
    for (int i = 0; i < 8; ++i) {
        ASSERT_TRUE(RawSocket::connect(h.port()));
    }
    EXPECT_EQ(client.request("POST", "/hook", {}, "again").status, 200U);
}

TEST(HttpServer, IdleFloodCannotLockOutARealClientPlain) {
    idle_flood_does_not_lock_out(/*tls=*/false);
}

TEST(HttpServer, IdleFloodCannotLockOutARealClientTls) {
    idle_flood_does_not_lock_out(/*tls=*/true);
}

TEST(HttpServer, AtTheCapATrickleIsEvictedBeforeAnyoneIsRefused) {
    Recorder recorder;
    auto opts = options(/*tls=*/false);
    opts.limits.max_connections = 2;
    opts.limits.read_timeout = 30s;
    Harness h(std::move(opts), echo_handler(recorder));

    auto first = RawSocket::connect(h.port());
    ASSERT_TRUE(first);
    ASSERT_TRUE(first->send("POST / HTTP/1.1\r\nHost: x\r\n"));  // and then nothing
    auto second = RawSocket::connect(h.port());
    ASSERT_TRUE(second);
    ASSERT_TRUE(second->send("POST / HTTP/1.1\r\n"));
    ASSERT_TRUE(eventually([&] { return h.stats().connections_accepted == 2; }));

    HttpClient client(client_options(h.port(), /*tls=*/false));
    EXPECT_EQ(client.request("GET", "/").status, 200U);
    EXPECT_TRUE(first->closed_within(2000ms));
    EXPECT_EQ(h.stats().connections_evicted_reading, 1U);
}

TEST(HttpServer, AtTheCapWithEveryRequestInProgressTheNewcomerIsRefusedAndCounted) {
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<int> waiting{0};
    auto opts = options(/*tls=*/false);
    opts.limits.max_connections = 2;
    Harness h(std::move(opts), [&](Request) -> Task<Response> {
        ++waiting;
        // Keep this request in progress (the io thread stays free) until the test lets go.
        SteadyTimer timer(co_await net::this_coro::executor);
        while (released.wait_for(0s) != std::future_status::ready) {
            timer.expires_after(5ms);
            co_await timer.async_wait();
        }
        co_return Response{};
    });

    std::vector<RawSocket> busy;
    for (int i = 0; i < 2; ++i) {
        auto s = RawSocket::connect(h.port());
        ASSERT_TRUE(s);
        ASSERT_TRUE(s->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        busy.push_back(std::move(*s));
    }
    ASSERT_TRUE(eventually([&] { return waiting.load() == 2; }));
    auto third = RawSocket::connect(h.port());
    ASSERT_TRUE(third);
    EXPECT_TRUE(third->closed_within(2000ms));
    EXPECT_EQ(h.stats().connections_rejected, 1U);
    release.set_value();
    for (auto& s : busy) {
        EXPECT_TRUE(s.read_until(2000ms, [](const std::string& r) {
            return r.find("\r\n\r\n") != std::string::npos;
        }) || s.received().rfind("HTTP/1.1 200", 0) == 0);
    }
}

// Regression (trust issue, item 9): a Transfer-Encoding that does not end in chunked was read
// as "no body", the connection stayed open, and the body was parsed as a second request: a
// signed request smuggled that way was applied. Each must get 400 (501 for a coding we do not
// implement) and a closed connection, and the handler must see nothing.
TEST(HttpServer, TransferEncodingThatCannotBeDelimitedIsRefusedAndCloses) {
    const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    const std::string body = "0\r\n\r\n" + smuggled;
    struct Case {
        std::string headers;
        std::string version;
        const char* status;
    };
    const std::vector<Case> cases = {
        {"Transfer-Encoding: xchunked\r\n", "1.1", "400"},
        {"Transfer-Encoding: gzip\r\n", "1.1", "400"},
        {"Transfer-Encoding: identity\r\n", "1.1", "400"},
        {"Transfer-Encoding: chunked, gzip\r\n", "1.1", "400"},
        {"Transfer-Encoding: chunked, chunked\r\n", "1.1", "400"},
        {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "1.1", "400"},
        {"Transfer-Encoding: chunked;ext\r\n", "1.1", "400"},
        {"Transfer-Encoding:\r\n", "1.1", "400"},
        {"Transfer-Encoding: chunked\r\n", "1.0", "400"},
        {"Transfer-Encoding: gzip, chunked\r\n", "1.1", "501"},
        {"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", "1.1", "501"},
        {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "1.1", "400"},
        {"Content-Length: 5\r\nContent-Length: 6\r\n", "1.1", "400"},
    };
    for (const auto& c : cases) {
        Recorder recorder;
        Harness h(options(/*tls=*/false), echo_handler(recorder));
        auto sock = RawSocket::connect(h.port());
        ASSERT_TRUE(sock);
        ASSERT_TRUE(sock->send("POST /hook HTTP/" + c.version + "\r\nHost: x\r\n" + c.headers +
                               "\r\n" + body));
        EXPECT_TRUE(sock->closed_within(3000ms)) << c.headers;
        EXPECT_EQ(sock->received().rfind(std::string("HTTP/1.1 ") + c.status + " ", 0), 0U)
            << c.headers << " -> " << sock->received();
        EXPECT_EQ(sock->received().find("smuggled"), std::string::npos) << c.headers;
        EXPECT_TRUE(recorder.snapshot().empty()) << c.headers;
    }
}

TEST(HttpServer, ChunkedBodiesStillWork) {
    Recorder recorder;
    Harness h(options(/*tls=*/false), echo_handler(recorder));
    for (const char* te : {"chunked", "Chunked", " chunked "}) {
        auto sock = RawSocket::connect(h.port());
        ASSERT_TRUE(sock);
        ASSERT_TRUE(sock->send(std::string("POST /hook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:") +
                               te + "\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
        EXPECT_TRUE(sock->closed_within(3000ms));
        EXPECT_EQ(sock->received().rfind("HTTP/1.1 200 ", 0), 0U) << sock->received();
        EXPECT_NE(sock->received().find("POST /hook hello"), std::string::npos);
    }
}

TEST(HttpServer, ShutdownFinishesInFlightRequestAndClosesIdleConnections) {
    std::promise<void> entered;
    std::atomic<bool> entered_once{false};
    Harness h(options(/*tls=*/false), [&](Request req) -> Task<Response> {
        Response res;
        if (req.target == "/slow") {
            if (!entered_once.exchange(true)) {
                entered.set_value();
            }
            SteadyTimer timer(co_await net::this_coro::executor);
            timer.expires_after(300ms);
            co_await timer.async_wait();
            res.body = "slow done";
        } else {
            res.body = "ok";
        }
        co_return res;
    });

    // An idle keep-alive connection: one request answered, then silence.
    auto idle = RawSocket::connect(h.port());
    ASSERT_TRUE(idle);
    ASSERT_TRUE(idle->send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"));
    idle->read_until(2000ms, [](const std::string& got) {
        return got.size() >= 2 && got.compare(got.size() - 2, 2, "ok") == 0;
    });
    ASSERT_NE(idle->received().find("200 OK"), std::string::npos) << idle->received();

    auto slow = std::async(std::launch::async, [port = h.port()] {
        HttpClient client(client_options(port, /*tls=*/false));
        return client.request("GET", "/slow");
    });
    ASSERT_EQ(entered.get_future().wait_for(2s), std::future_status::ready);

    const auto start = SteadyClock::now();
    auto done = h.begin_shutdown(5s);

    // The idle connection is closed at once, long before the slow handler finishes.
    EXPECT_TRUE(idle->closed_within(200ms));

    // The in-flight request is still answered, with Connection: close.
    ASSERT_EQ(slow.wait_for(3s), std::future_status::ready);
    const auto res = slow.get();
    EXPECT_EQ(res.status, 200U);
    EXPECT_EQ(res.body, "slow done");
    EXPECT_FALSE(res.keep_alive);

    ASSERT_EQ(done.wait_for(3s), std::future_status::ready);
    EXPECT_LT(since(start), 2000ms);
    EXPECT_EQ(h.active_connections(), 0U);
    // No longer accepting.
    EXPECT_FALSE(RawSocket::connect(h.port()));
}

TEST(HttpServer, CreateNamesTheBadCertificateFile) {
    net::io_context ioc;
    auto opts = options(/*tls=*/true);
    opts.tls->cert_chain_file = fixture("missing-cert.pem");
    auto missing = Server::create(ioc, opts, nullptr);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, Errc::kConfigInvalid);
    EXPECT_NE(missing.error().message.find("missing-cert.pem"), std::string::npos)
        << missing.error().message;

    opts.tls->cert_chain_file = fixture("README.md");  // readable, not a certificate
    auto garbage = Server::create(ioc, opts, nullptr);
    ASSERT_FALSE(garbage);
    EXPECT_NE(garbage.error().message.find("README.md"), std::string::npos)
        << garbage.error().message;

    opts.tls = TlsFiles{fixture("test-cert.pem"), fixture("test-cert.pem")};  // not a key
    auto not_a_key = Server::create(ioc, opts, nullptr);
    ASSERT_FALSE(not_a_key);
    EXPECT_NE(not_a_key.error().message.find("private key"), std::string::npos)
        << not_a_key.error().message;
}

TEST(HttpServer, CreateReportsAddressInUse) {
    Recorder recorder;
    Harness h(options(/*tls=*/false), echo_handler(recorder));
    net::io_context ioc;
    auto opts = options(/*tls=*/false);
    opts.port = h.port();
    auto second = Server::create(ioc, opts, echo_handler(recorder));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::kIoFailed);
    EXPECT_NE(second.error().message.find(std::to_string(h.port())), std::string::npos)
        << second.error().message;

    opts.address = "not-an-address";
    auto bad = Server::create(ioc, opts, echo_handler(recorder));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Errc::kConfigInvalid);
}

TEST(HttpServer, ReloadTlsSwapsContextOnlyWhenFilesAreGood) {
    Recorder recorder;
    Harness h(options(/*tls=*/true), echo_handler(recorder));

    const auto bad = h.on_io([&] {
        return h.server().reload_tls(TlsFiles{fixture("nope.pem"), fixture("nope.pem")});
    });
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("nope.pem"), std::string::npos);
    EXPECT_EQ(HttpClient(client_options(h.port(), true)).request("GET", "/").status, 200U);

    const auto good = h.on_io([&] { return h.server().reload_tls(test_tls()); });
    EXPECT_TRUE(good);
    EXPECT_EQ(HttpClient(client_options(h.port(), true)).request("GET", "/").status, 200U);
}

}  // namespace
}  // namespace radsync::http
