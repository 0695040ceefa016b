// The officernd module's only Asio/Beast/OpenSSL translation unit (each such file costs tens of
// seconds to compile). A blocking facade over coroutines on a private io_context, the same
// technique as tests/support/https_client.cpp: the calling (poller) thread runs the loop for
// the duration of one exchange, so nothing here touches the daemon's io thread.

#include "https_transport.hpp"

#include <map>
#include <optional>
#include <string_view>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "radsync/core/asio.hpp"

namespace radsync::officernd::detail {

namespace {

using ErrorCode = boost::system::error_code;
using SslStream = beast::ssl_stream<TcpStream>;
using Resolver = net::ip::tcp::resolver::rebind_executor<DefaultTokenExecutor>::other;
using Clock = std::chrono::steady_clock;

// After the deadline every socket phase has already been cut off by the stream's own expiry;
// this grace only matters for name resolution, which no socket deadline covers.
constexpr std::chrono::milliseconds kResolveGrace{250};

// "host:port" ("[::1]:8443") for messages and pool keys.
std::string where(const Url& origin) {
    const bool v6 = origin.host.find(':') != std::string::npos;
    return (v6 ? "[" + origin.host + "]" : origin.host) + ":" + std::to_string(origin.port);
}

bool is_ip_literal(const std::string& host) {
    ErrorCode ec;
    (void)net::ip::make_address(host, ec);
    return !ec;
}

// One pooled connection. Held by shared_ptr so a coroutine abandoned mid-resolve (see send())
// can never touch a destroyed stream.
struct Connection {
    std::optional<SslStream> tls;
    std::optional<TcpStream> plain;
    beast::flat_buffer buffer;

    [[nodiscard]] bool connected() const { return tls.has_value() || plain.has_value(); }
    TcpStream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

    // Cancels pending operations; the stream objects stay alive until reset().
    void cancel() {
        if (connected()) {
            ErrorCode ec;
            tcp().socket().close(ec);
        }
    }
    // Only when no operation is pending on the streams.
    void reset() {
        cancel();
        // No TLS close_notify: OfficeRnD does not need it, and it would cost another deadline.
        tls.reset();
        plain.reset();
        buffer.clear();
    }
};

struct Failure {
    TransportFailure kind;
    std::string message;
};

// `phase` names the step that failed: "connect", "TLS handshake", "write", "read".
Failure io_failure(const ErrorCode& ec, const char* phase, const Url& origin,
                   std::chrono::milliseconds timeout) {
    if (ec == beast::error::timeout) {
        return {TransportFailure::kTimeout,
                std::string("request to ") + where(origin) + " timed out after " +
                    std::to_string(timeout.count()) + " ms during " + phase};
    }
    if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit ||
        ec == bhttp::error::buffer_overflow) {
        return {TransportFailure::kTooLarge,
                std::string("response from ") + where(origin) + " too large: " + ec.message()};
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        return {TransportFailure::kProtocol,
                std::string("bad HTTP from ") + where(origin) + ": " + ec.message()};
    }
    return {TransportFailure::kConnection,
            std::string(phase) + " with " + where(origin) + " failed: " + ec.message()};
}

struct State {
    bool done = false;
    bool abandoned = false;
    Exchange result;
};

}  // namespace

struct HttpsTransport::Impl {
    TransportOptions opts;
    net::io_context ioc{1};
    ssl::context tls_ctx{ssl::context::tls_client};
    std::map<std::string, std::shared_ptr<Connection>> pool;

    // Resolves, connects and (for https) handshakes with verification. nullopt on success.
    Task<std::optional<Failure>> connect(std::shared_ptr<Connection> conn, Url origin,
                                         Clock::time_point deadline,
                                         std::chrono::milliseconds timeout,
                                         std::shared_ptr<State> state) {
        TcpStream stream(ioc.get_executor());
        if (is_ip_literal(origin.host)) {
            stream.expires_at(deadline);
            auto [ec] = co_await stream.async_connect(
                net::ip::tcp::endpoint(net::ip::make_address(origin.host), origin.port));
            if (ec) {
                co_return io_failure(ec, "connect", origin, timeout);
            }
        } else {
            Resolver resolver(ioc.get_executor());
            auto [rec, results] =
                co_await resolver.async_resolve(origin.host, std::to_string(origin.port));
            if (state->abandoned) {
                co_return Failure{TransportFailure::kTimeout, "abandoned"};
            }
            if (rec) {
                co_return Failure{TransportFailure::kResolve,
                                  "cannot resolve " + origin.host + ": " + rec.message()};
            }
            stream.expires_at(deadline);
            auto [ec, endpoint] = co_await stream.async_connect(results);
            if (ec) {
                co_return io_failure(ec, "connect", origin, timeout);
            }
        }
        if (!origin.tls()) {
            conn->plain.emplace(std::move(stream));
            co_return std::nullopt;
        }
        conn->tls.emplace(std::move(stream), tls_ctx);
        SSL* handle = conn->tls->native_handle();
        std::string host = origin.host;
        bool pinned = false;
        if (is_ip_literal(host)) {
            // RFC 6066 forbids IP literals in SNI; the certificate must carry the IP as a SAN.
            pinned = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), host.c_str()) == 1;
        } else {
            // SNI (SSL_set_tlsext_host_name, spelled out to avoid the macro's C cast), then
            // host name verification. OpenSSL's own check (SSL_set1_host) does what Asio's
            // host_name_verification callback does, and reports a mismatch by name.
            pinned = SSL_ctrl(handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                              host.data()) == 1 &&
                     SSL_set1_host(handle, host.c_str()) == 1;
        }
        if (!pinned) {
            // Never fall back to a handshake that would accept any host's certificate.
            conn->reset();
            co_return Failure{TransportFailure::kTlsVerify,
                              "cannot set up certificate name verification for " + where(origin)};
        }
        conn->tcp().expires_at(deadline);
        auto [hs_ec] = co_await conn->tls->async_handshake(ssl::stream_base::client);
        if (hs_ec) {
            const long verify = SSL_get_verify_result(handle);
            conn->reset();
            if (hs_ec == beast::error::timeout) {
                co_return io_failure(hs_ec, "TLS handshake", origin, timeout);
            }
            if (verify != X509_V_OK) {
                co_return Failure{
                    TransportFailure::kTlsVerify,
                    "TLS handshake with " + where(origin) + " failed: certificate verify failed: " +
                        X509_verify_cert_error_string(verify) +
                        (opts.ca_file.empty() ? " (no officernd.ca_file configured)" : "")};
            }
            co_return Failure{
                TransportFailure::kTlsHandshake,
                "TLS handshake with " + where(origin) + " failed: " + hs_ec.message()};
        }
        co_return std::nullopt;
    }

    struct Attempt {
        std::optional<Failure> failure;
        bool stale = false;  // nothing came back on a connection the server had closed
        HttpResponse response;
        bool keep_alive = false;
    };

    template <class Stream>
    Task<Attempt> exchange(Stream& stream, Connection& conn,
                           bhttp::request<bhttp::string_body>& req, const Url& origin,
                           Clock::time_point deadline, std::chrono::milliseconds timeout) {
        Attempt out;
        conn.tcp().expires_at(deadline);
        auto [write_ec, written] = co_await bhttp::async_write(stream, req);
        if (write_ec) {
            out.stale = write_ec != beast::error::timeout;
            out.failure = io_failure(write_ec, "write", origin, timeout);
            co_return out;
        }
        bhttp::response_parser<bhttp::string_body> parser;
        parser.header_limit(opts.header_limit);
        parser.body_limit(opts.body_limit);
        conn.tcp().expires_at(deadline);
        auto [read_ec, read] = co_await bhttp::async_read(stream, conn.buffer, parser);
        if (read_ec) {
            out.stale = !parser.got_some() && read_ec != beast::error::timeout;
            out.failure = io_failure(read_ec, "read", origin, timeout);
            co_return out;
        }
        auto res = parser.release();
        out.keep_alive = res.keep_alive();
        out.response.status = res.result_int();
        if (auto it = res.find(bhttp::field::retry_after); it != res.end()) {
            out.response.retry_after = std::string(it->value());
        }
        out.response.body = std::move(res.body());
        co_return out;
    }

    Task<Exchange> run(std::shared_ptr<Connection> conn, Url origin,
                       bhttp::request<bhttp::string_body> req, bool idempotent,
                       Clock::time_point deadline, std::chrono::milliseconds timeout,
                       std::shared_ptr<State> state) {
        Exchange ex;
        for (int round = 0;; ++round) {
            const bool reused = conn->connected();
            if (!reused) {
                auto failed = co_await connect(conn, origin, deadline, timeout, state);
                if (failed) {
                    ex.failure = failed->kind;
                    ex.error = std::move(failed->message);
                    co_return ex;
                }
            }
            // Not a ?: over two co_awaits: g++ 12 mis-handles the lifetime of a non-trivial
            // result there (the moved-from Attempt's body was freed under the Exchange).
            Attempt a;
            if (conn->tls) {
                a = co_await exchange(*conn->tls, *conn, req, origin, deadline, timeout);
            } else {
                a = co_await exchange(*conn->plain, *conn, req, origin, deadline, timeout);
            }
            if (!a.failure) {
                if (!a.keep_alive) {
                    conn->reset();
                }
                ex.ok = true;
                ex.response = std::move(a.response);
                co_return ex;
            }
            conn->reset();
            // A keep-alive connection the server closed while idle fails before any response
            // byte; an idempotent request goes out again at once on a fresh connection
            // instead of counting as a failure.
            if (reused && a.stale && idempotent && round == 0) {
                continue;
            }
            ex.failure = a.failure->kind;
            ex.error = std::move(a.failure->message);
            co_return ex;
        }
    }
};

HttpsTransport::HttpsTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpsTransport::~HttpsTransport() {
    close_all();
}

Result<std::unique_ptr<HttpsTransport>> HttpsTransport::create(TransportOptions options) {
    std::unique_ptr<Impl> impl;
    try {
        impl = std::make_unique<Impl>();
    } catch (const std::exception& e) {
        return Error(Errc::kConfigInvalid, std::string("cannot create a TLS context: ") + e.what());
    }
    impl->opts = std::move(options);
    auto& ctx = impl->tls_ctx;
    // tls_client with a 1.2 floor rather than Asio's tlsv12_client, which also caps the
    // version at 1.2 and would refuse TLS 1.3.
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    ErrorCode ec;
    ctx.set_default_verify_paths(ec);
    if (ec) {
        return Error(Errc::kConfigInvalid,
                     "cannot load the system CA certificates: " + ec.message());
    }
    if (!impl->opts.ca_file.empty()) {
        ctx.load_verify_file(impl->opts.ca_file, ec);
        if (ec) {
            return Error(Errc::kConfigInvalid, "cannot load officernd.ca_file " +
                                                   impl->opts.ca_file + ": " + ec.message());
        }
    }
    ctx.set_verify_mode(ssl::verify_peer, ec);
    if (ec) {
        return Error(Errc::kConfigInvalid, "cannot enable TLS verification: " + ec.message());
    }
    return std::unique_ptr<HttpsTransport>(new HttpsTransport(std::move(impl)));
}

Exchange HttpsTransport::send(const Url& origin, const HttpRequest& request,
                              std::chrono::milliseconds timeout) {
    auto& impl = *impl_;
    const auto deadline = Clock::now() + timeout;

    bhttp::request<bhttp::string_body> req;
    req.method_string(request.method);
    req.target(request.target);
    req.version(11);
    req.set(bhttp::field::host, origin.host_header());
    req.set(bhttp::field::user_agent, "radsync");
    req.set(bhttp::field::accept, "application/json");
    for (const auto& [name, value] : request.headers) {
        req.set(name, value);
    }
    req.keep_alive(request.reuse_connection);
    req.body() = request.body;
    req.prepare_payload();

    const std::string key = origin.scheme + "://" + where(origin);
    std::shared_ptr<Connection> conn;
    if (request.reuse_connection) {
        auto& slot = impl.pool[key];
        if (!slot) {
            slot = std::make_shared<Connection>();
        }
        conn = slot;
    } else {
        conn = std::make_shared<Connection>();
    }
    const bool idempotent = request.method == "GET" || request.method == "HEAD";

    auto state = std::make_shared<State>();
    net::co_spawn(impl.ioc.get_executor(),
                  impl.run(conn, origin, std::move(req), idempotent, deadline, timeout, state),
                  [state, &impl](std::exception_ptr error, Exchange ex) {
                      if (state->abandoned) {
                          return;  // a later send() owns the loop now; leave it running
                      }
                      state->done = true;
                      if (error) {
                          state->result.ok = false;
                          state->result.failure = TransportFailure::kConnection;
                          try {
                              std::rethrow_exception(error);
                          } catch (const std::exception& e) {
                              state->result.error = std::string("internal error: ") + e.what();
                          } catch (...) {
                              state->result.error = "internal error";
                          }
                      } else {
                          state->result = std::move(ex);
                      }
                      impl.ioc.stop();
                  });
    impl.ioc.restart();
    impl.ioc.run_until(deadline + kResolveGrace);
    if (!state->done) {
        // Only name resolution can get here (sockets expire on their own). The coroutine stays
        // suspended in the resolver; when it completes during a later send() it sees
        // `abandoned` and ends without touching anything but its own shared state.
        state->abandoned = true;
        conn->cancel();
        impl.pool.erase(key);
        Exchange ex;
        ex.failure = TransportFailure::kTimeout;
        ex.error = "request to " + where(origin) + " timed out after " +
                   std::to_string(timeout.count()) + " ms (resolving the host name)";
        return ex;
    }
    return std::move(state->result);
}

void HttpsTransport::close_all() {
    for (auto& [key, conn] : impl_->pool) {
        conn->reset();
    }
    impl_->pool.clear();
}

}  // namespace radsync::officernd::detail
