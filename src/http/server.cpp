#include "radsync/http/server.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <optional>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <openssl/ssl.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/logger.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "radsync/log/log.hpp"

namespace radsync::http {

namespace {

using SteadyClock = std::chrono::steady_clock;
using SslStream = beast::ssl_stream<TcpStream>;
using BeastRequest = bhttp::request<bhttp::string_body>;
using BeastResponse = bhttp::response<bhttp::string_body>;
using ErrorCode = boost::system::error_code;

/// How long a closing connection may take to say goodbye (TLS close_notify, or draining what
/// the client is still sending so our last response is not destroyed by a TCP reset).
constexpr std::chrono::seconds kLingerTimeout{2};
/// Pause after a failed accept (EMFILE and friends), so a full fd table does not spin the loop.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
/// Bytes asked for per read while waiting for a request's first byte (one TLS record).
constexpr std::size_t kReadChunk = 16 * 1024;
/// Room in the read buffer beyond the header limit: one read's worth of body or next request.
constexpr std::size_t kBufferSlack = 64 * 1024;
/// Request targets are cut to this length in log lines.
constexpr std::size_t kLoggedTargetChars = 200;

/// Where a connection is. shutdown() closes at once everything with no request in progress
/// (kStarting, kHandshake, kIdle); at the connection cap the accept loop evicts the connection
/// that has waited longest without a request in progress, then one still reading its request,
/// never one whose request is being handled (kBusy) or answered.
enum class Phase { kStarting, kHandshake, kIdle, kReading, kBusy, kClosing };

/// Whether shutdown() may close a connection in this phase without losing a request.
constexpr bool is_quiet(Phase p) {
    return p == Phase::kStarting || p == Phase::kHandshake || p == Phase::kIdle;
}

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, SslStream>;

}  // namespace

class Server::Impl {
public:
    struct Connection;

    Impl(net::io_context& ioc, ServerOptions opts, Handler handler, Acceptor acceptor,
         std::shared_ptr<ssl::context> tls)
        : ioc_(ioc),
          opts_(std::move(opts)),
          handler_(std::move(handler)),
          log_(log::get("http")),
          acceptor_(std::move(acceptor)),
          tls_(std::move(tls)),
          drain_timer_(ioc.get_executor()) {
        ErrorCode ec;
        port_ = acceptor_.local_endpoint(ec).port();
    }

    /// Closes every connection's socket now; their pending operations fail and they unwind.
    void force_close_all();
    /// At the connection cap: closes the connection that has waited longest without a request
    /// being handled. False when every connection is handling a request.
    bool evict_one();
    /// Connections counted in sessions_ that are not evicted (and so still hold a slot).
    [[nodiscard]] std::size_t live_connections() const { return sessions_.size() - evicting_; }

    net::io_context& ioc_;
    const ServerOptions opts_;
    const Handler handler_;
    const std::shared_ptr<spdlog::logger> log_;
    Acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::shared_ptr<ssl::context> tls_;  // swapped by reload_tls(); sessions hold their own copy
    ServerStats stats_;
    std::unordered_map<std::uint64_t, Connection*> sessions_;
    std::uint64_t next_id_ = 1;
    std::size_t evicting_ = 0;  // evicted connections whose coroutines have not ended yet
    bool started_ = false;
    bool stopping_ = false;  // shutdown() began: no new requests, Connection: close on answers
    bool draining_ = false;  // shutdown() is waiting on drain_timer_ for sessions_ to empty
    SteadyTimer drain_timer_;
};

/// One live connection's entry in sessions_. Created synchronously when the socket is accepted
/// (so max_connections counts it before the next accept completes) and owned by the session
/// coroutine, so it disappears exactly when the coroutine frame does.
struct Server::Impl::Connection {
    Connection(std::shared_ptr<Impl> srv, std::uint64_t conn_id, std::string peer_text)
        : server(std::move(srv)), id(conn_id), peer(std::move(peer_text)) {
        server->sessions_.emplace(id, this);
    }
    ~Connection() {
        server->sessions_.erase(id);
        if (evicted) {
            --server->evicting_;
        }
        if (server->draining_) {
            server->drain_timer_.cancel();  // wakes shutdown() to re-check sessions_
        }
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    std::shared_ptr<Impl> server;
    std::uint64_t id;
    std::string peer;
    TcpStream* tcp = nullptr;  // the lowest layer, set once the stream exists
    Phase phase = Phase::kStarting;
    /// When `phase` last changed: the eviction order at the connection cap.
    std::chrono::steady_clock::time_point phase_since = std::chrono::steady_clock::now();
    bool evicted = false;  // closed to make room; its socket is gone, the coroutine unwinding
    std::size_t requests = 0;

    void enter(Phase p) {
        phase = p;
        phase_since = std::chrono::steady_clock::now();
    }
};

void Server::Impl::force_close_all() {
    for (auto& [id, conn] : sessions_) {
        if (conn->tcp != nullptr) {
            conn->tcp->close();
        }
    }
}

bool Server::Impl::evict_one() {
    // Longest without a request in progress first (a silent new connection, a handshake that
    // never finishes, an idle keep-alive), else the longest still reading its request (a
    // trickle). A request already being handled is never cut off.
    Connection* victim = nullptr;
    auto rank = [](const Connection& c) { return is_quiet(c.phase) ? 0 : 1; };
    for (auto& [id, conn] : sessions_) {
        if (conn->evicted || conn->tcp == nullptr ||
            !(is_quiet(conn->phase) || conn->phase == Phase::kReading)) {
            continue;
        }
        if (victim == nullptr || std::pair(rank(*conn), conn->phase_since) <
                                     std::pair(rank(*victim), victim->phase_since)) {
            victim = conn;
        }
    }
    if (victim == nullptr) {
        return false;
    }
    victim->evicted = true;
    ++evicting_;
    if (is_quiet(victim->phase)) {
        ++stats_.connections_evicted_idle;
    } else {
        ++stats_.connections_evicted_reading;
    }
    log_->debug("connection evicted server={} conn={} peer={} phase={}", opts_.name, victim->id,
                victim->peer, is_quiet(victim->phase) ? "idle" : "reading");
    victim->tcp->close();
    return true;
}

namespace {

using Impl = Server::Impl;
using Connection = Server::Impl::Connection;

std::string endpoint_text(const net::ip::tcp::endpoint& ep) {
    const auto addr = ep.address();
    return addr.is_v6() ? "[" + addr.to_string() + "]:" + std::to_string(ep.port())
                        : addr.to_string() + ":" + std::to_string(ep.port());
}

std::string_view for_log(std::string_view target) {
    return target.substr(0, std::min(target.size(), kLoggedTargetChars));
}

// ---------------------------------------------------------------------------------------------
// TLS context

Status check_readable(const std::string& path, const char* what) {
    std::ifstream file(path);
    if (!file) {
        const int err = errno;
        return Error{Errc::kConfigInvalid,
                     fmt::format("cannot read {} '{}': {}", what, path, std::strerror(err))};
    }
    return {};
}

Result<std::shared_ptr<ssl::context>> make_tls_context(const TlsFiles& files) {
    if (auto ok = check_readable(files.cert_chain_file, "TLS certificate chain file"); !ok) {
        return ok.error();
    }
    if (auto ok = check_readable(files.private_key_file, "TLS private key file"); !ok) {
        return ok.error();
    }
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ErrorCode ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
    if (ec) {
        return Error{Errc::kConfigInvalid, "cannot set TLS options: " + ec.message()};
    }
    // Belt and braces on top of the no_tlsv1* options. Renegotiation is refused because a
    // client can use it to make us burn CPU on handshakes; nothing in HTTP/1.1 needs it.
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_options(ctx->native_handle(),
                        SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // An encrypted key would make OpenSSL prompt on the terminal; a daemon must fail instead.
    ctx->set_password_callback(
        [](std::size_t, ssl::context::password_purpose) { return std::string(); }, ec);

    ctx->use_certificate_chain_file(files.cert_chain_file, ec);
    if (ec) {
        return Error{Errc::kConfigInvalid,
                     fmt::format("TLS certificate chain file '{}' is not a usable PEM chain: {}",
                                 files.cert_chain_file, ec.message())};
    }
    ctx->use_private_key_file(files.private_key_file, ssl::context::pem, ec);
    if (ec) {
        return Error{
            Errc::kConfigInvalid,
            fmt::format("TLS private key file '{}' is not usable with certificate '{}': {}",
                        files.private_key_file, files.cert_chain_file, ec.message())};
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
        return Error{Errc::kConfigInvalid,
                     fmt::format("TLS private key file '{}' does not match certificate '{}'",
                                 files.private_key_file, files.cert_chain_file)};
    }
    return ctx;
}

// ---------------------------------------------------------------------------------------------
// Request / response conversion

Request to_request(BeastRequest& req, const std::string& peer) {
    Request out;
    out.method = std::string(req.method_string());
    out.target = std::string(req.target());
    for (const auto& field : req) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(), [](char c) {
            return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        });
        auto [it, inserted] = out.headers.try_emplace(std::move(name), field.value());
        if (!inserted) {
            it->second.append(",").append(field.value());
        }
    }
    out.body = std::move(req.body());
    out.peer = peer;
    return out;
}

Response internal_error() {
    Response res;
    res.status = 500;
    res.body = "internal error\n";
    return res;
}

bool is_token_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// A header the handler may set: a valid token name, a value without control characters
/// (no response splitting), and not one of the framing fields the server owns.
bool handler_may_set(std::string_view name, std::string_view value) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
        return false;
    }
    if (std::any_of(value.begin(), value.end(), [](char c) {
            return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
        })) {
        return false;
    }
    for (std::string_view owned : {"content-length", "transfer-encoding", "connection"}) {
        if (beast::iequals(name, owned)) {
            return false;
        }
    }
    return true;
}

BeastResponse to_beast(Impl& srv, Response&& res, unsigned version, bool head, bool keep_alive) {
    BeastResponse out;
    out.version(version);
    if (res.status < 200 || res.status > 599) {
        srv.log_->error("handler returned an invalid status server={} status={}", srv.opts_.name,
                        res.status);
        ++srv.stats_.handler_errors;
        res = internal_error();
    }
    out.result(res.status);
    out.set(bhttp::field::server, "radsync");
    for (auto& [name, value] : res.headers) {
        if (handler_may_set(name, value)) {
            out.insert(name, value);
        } else {
            srv.log_->warn("handler header dropped server={} name={}", srv.opts_.name,
                           name.substr(0, 64));
        }
    }
    out.keep_alive(keep_alive);
    const bool bodiless = res.status == 204 || res.status == 304;
    if (!bodiless && !res.content_type.empty()) {
        out.set(bhttp::field::content_type, res.content_type);
    }
    if (bodiless) {
        out.body().clear();
        out.prepare_payload();
    } else if (head) {
        // A HEAD answer announces the length a GET would have but carries no body.
        out.content_length(res.body.size());
    } else {
        out.body() = std::move(res.body);
        out.prepare_payload();
    }
    return out;
}

BeastResponse error_response(bhttp::status status, std::string_view text) {
    BeastResponse out{status, 11};
    out.set(bhttp::field::server, "radsync");
    out.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    out.keep_alive(false);
    out.body() = std::string(text) + "\n";
    out.prepare_payload();
    return out;
}

// ---------------------------------------------------------------------------------------------
// Session

/// Closes a connection after its last response (Connection: close) was written. Bounded by
/// kLingerTimeout; errors are irrelevant at this point.
///
/// The client may still be sending (the rest of a body we refused with 413, or pipelined
/// requests). Closing a socket with unread input makes the kernel send RST, which can destroy
/// our response before the client has read it, so we half-close and read and discard until the
/// client closes ("lingering close", RFC 9112 section 9.6).
template <class Stream>
Task<void> close_after_response(Stream& stream) {
    auto& tcp = beast::get_lowest_layer(stream);
    tcp.expires_after(kLingerTimeout);
    if constexpr (kIsTls<Stream>) {
        // Send close_notify and wait for the peer's. If that fails we fall through to the raw
        // drain below. The usual failures are ssl::error::stream_truncated (the peer closed TCP
        // without close_notify) and "application data after close notify" (it was still
        // sending). Both are harmless: HTTP messages are self-delimiting, so a missing
        // close_notify cannot truncate anything we care about (Beast's `fail()` comment,
        // https://github.com/boostorg/beast/issues/38).
        auto [ec] = co_await stream.async_shutdown();
        if (!ec) {
            tcp.close();
            co_return;
        }
    }
    ErrorCode ec;
    tcp.socket().shutdown(net::socket_base::shutdown_send, ec);
    char sink[4096];
    while (!ec) {
        // Raw TCP reads even under TLS: the bytes are discarded, so nothing needs decrypting.
        auto [read_ec, n] = co_await tcp.async_read_some(net::buffer(sink));
        ec = read_ec;
    }
    tcp.close();
}

enum class ReadOutcome { kOk, kClosed, kTimeout, kHeaderTooLarge, kBodyTooLarge, kMalformed };

ReadOutcome classify_read_error(const ErrorCode& ec) {
    if (ec == beast::error::timeout) {
        return ReadOutcome::kTimeout;
    }
    if (ec == bhttp::error::header_limit) {
        return ReadOutcome::kHeaderTooLarge;
    }
    if (ec == bhttp::error::body_limit) {
        return ReadOutcome::kBodyTooLarge;
    }
    // The peer went away (possibly mid-message) or we cancelled the read: nothing to answer.
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
        return ReadOutcome::kClosed;
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
        return ReadOutcome::kMalformed;
    }
    return ReadOutcome::kClosed;
}

/// Why a request's body cannot be delimited safely, with the status to answer; nullopt when
/// it can. RFC 9112 §6: a request whose Transfer-Encoding does not end in `chunked` has no
/// reliable length (400), `chunked` applied twice is invalid (400), a coding before `chunked`
/// (gzip, compress...) is one we do not implement (501), and HTTP/1.0 has no Transfer-Encoding
/// at all (400). Beast itself refuses chunked together with Content-Length, and differing
/// Content-Lengths. Every refusal closes the connection.
std::optional<std::pair<bhttp::status, std::string>> framing_refusal(const BeastRequest& req) {
    std::vector<std::string_view> codings;
    bool present = false;
    // Every Transfer-Encoding field, in arrival order: repeated fields form one list.
    for (const auto& field : req) {
        if (field.name() != bhttp::field::transfer_encoding) {
            continue;
        }
        present = true;
        std::string_view list = field.value();
        while (!list.empty()) {
            const auto comma = list.find(',');
            std::string_view item = list.substr(0, comma);
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
                item.remove_prefix(1);
            }
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
                item.remove_suffix(1);
            }
            if (!item.empty()) {
                codings.push_back(item);
            }
        }
    }
    if (!present) {
        return std::nullopt;
    }
    using Refusal = std::pair<bhttp::status, std::string>;
    if (req.version() < 11) {
        return Refusal{bhttp::status::bad_request, "Transfer-Encoding in an HTTP/1.0 request"};
    }
    if (codings.empty() || !beast::iequals(codings.back(), "chunked")) {
        return Refusal{bhttp::status::bad_request,
                       "Transfer-Encoding must end in chunked for a request"};
    }
    for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
        if (beast::iequals(codings[i], "chunked")) {
            return Refusal{bhttp::status::bad_request, "chunked applied more than once"};
        }
    }
    if (codings.size() > 1) {
        return Refusal{
            bhttp::status::not_implemented,
            "transfer coding not implemented: " + std::string(codings.front().substr(0, 40))};
    }
    return std::nullopt;
}

bool expects_continue(const BeastRequest& req) {
    return req.version() >= 11 && beast::iequals(req[bhttp::field::expect], "100-continue");
}

template <class Stream>
Task<void> serve(Impl& srv, Connection& conn, Stream& stream) {
    const Limits& limits = srv.opts_.limits;
    auto& tcp = beast::get_lowest_layer(stream);
    // shutdown() and ~Server reach the socket through conn.tcp while the stream lives.
    struct Attach {
        Connection& conn;
        ~Attach() { conn.tcp = nullptr; }
    } attach{conn};
    conn.tcp = &tcp;
    const auto& name = srv.opts_.name;

    if constexpr (kIsTls<Stream>) {
        conn.enter(Phase::kHandshake);
        tcp.expires_after(limits.handshake_timeout);
        auto [ec] = co_await stream.async_handshake(ssl::stream_base::server);
        if (ec) {
            if (ec == net::error::operation_aborted && srv.stopping_) {
                co_return;  // shutdown() closed a connection that had sent nothing yet
            }
            ++srv.stats_.handshake_failures;
            if (ec == beast::error::timeout) {
                ++srv.stats_.timeouts;
            }
            srv.log_->debug("tls handshake failed server={} conn={} error={}", name, conn.id,
                            ec.message());
            co_return;
        }
    }

    // Bounded so that nothing the parser has not consumed yet (a header, a chunk header with
    // endless extensions) can grow without limit; over it Beast fails with buffer_overflow.
    beast::flat_buffer buffer(limits.header_bytes + kBufferSlack);
    // The first request's read deadline runs from here: a client that connects and stays silent
    // is cut off after read_timeout, not idle_timeout.
    tcp.expires_after(limits.read_timeout);

    for (;;) {
        conn.enter(Phase::kIdle);
        if (srv.stopping_) {
            co_return;  // nothing in progress: close at once
        }
        // Wait for the request's first byte; between requests this is the keep-alive idle time.
        if (buffer.size() == 0) {
            if (conn.requests > 0) {
                tcp.expires_after(limits.idle_timeout);
            }
            auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kReadChunk));
            if (ec) {
                if (ec == beast::error::timeout && conn.requests == 0) {
                    ++srv.stats_.timeouts;  // silent new connection; an idle keep-alive is normal
                }
                srv.log_->debug("connection ended server={} conn={} requests={} reason={}", name,
                                conn.id, conn.requests, ec.message());
                co_return;
            }
            buffer.commit(n);
        }

        // From the first byte on, the whole request must arrive within read_timeout.
        conn.enter(Phase::kReading);
        const auto started = SteadyClock::now();
        if (conn.requests > 0) {
            tcp.expires_after(limits.read_timeout);
        }
        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(limits.header_bytes, std::numeric_limits<std::uint32_t>::max())));
        parser.body_limit(static_cast<std::uint64_t>(limits.body_bytes));

        auto [read_ec, header_bytes] = co_await bhttp::async_read_header(stream, buffer, parser);
        // How the body is delimited is decided before any of it is read: a framing that Beast
        // would quietly read as "no body" leaves the body in the stream, to be taken for the
        // next request (request smuggling behind a proxy).
        if (!read_ec) {
            if (const auto refusal = framing_refusal(parser.get())) {
                ++srv.stats_.bad_requests;
                srv.log_->debug("request refused server={} conn={} reason=\"{}\"", name, conn.id,
                                refusal->second);
                tcp.expires_after(limits.write_timeout);
                auto [write_ec, n] = co_await bhttp::async_write(
                    stream, error_response(refusal->first, refusal->second));
                if (write_ec) {
                    co_return;
                }
                break;  // and close: what follows on this connection cannot be delimited
            }
        }
        if (!read_ec && !parser.is_done()) {
            if (expects_continue(parser.get())) {
                bhttp::response<bhttp::empty_body> interim{bhttp::status::continue_, 11};
                auto [ec, n] = co_await bhttp::async_write(stream, interim);
                read_ec = ec;
            }
            if (!read_ec) {
                auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser);
                read_ec = ec;
            }
        }
        if (read_ec) {
            const ReadOutcome outcome = classify_read_error(read_ec);
            std::optional<BeastResponse> answer;
            switch (outcome) {
                case ReadOutcome::kTimeout:
                    ++srv.stats_.timeouts;
                    break;
                case ReadOutcome::kHeaderTooLarge:
                    ++srv.stats_.too_large;
                    answer = error_response(bhttp::status::request_header_fields_too_large,
                                            "request header fields too large");
                    break;
                case ReadOutcome::kBodyTooLarge:
                    ++srv.stats_.too_large;
                    answer = error_response(bhttp::status::payload_too_large, "payload too large");
                    break;
                case ReadOutcome::kMalformed:
                    ++srv.stats_.bad_requests;
                    answer = error_response(bhttp::status::bad_request, "bad request");
                    break;
                case ReadOutcome::kOk:
                case ReadOutcome::kClosed:
                    break;
            }
            srv.log_->debug("request read failed server={} conn={} error={} answered={}", name,
                            conn.id, read_ec.message(), answer ? answer->result_int() : 0U);
            if (!answer) {
                co_return;
            }
            tcp.expires_after(limits.write_timeout);
            auto [write_ec, n] = co_await bhttp::async_write(stream, *answer);
            if (write_ec) {
                co_return;
            }
            break;
        }

        ++conn.requests;
        ++srv.stats_.requests;
        conn.enter(Phase::kBusy);
        BeastRequest req = parser.release();
        const bool head = req.method() == bhttp::verb::head;
        const unsigned version = req.version();
        std::string method(req.method_string());
        std::string target(for_log(req.target()));
        bool keep_alive = req.keep_alive() && conn.requests < limits.max_requests_per_connection;

        Response res;
        try {
            res = co_await srv.handler_(to_request(req, conn.peer));
        } catch (const std::exception& e) {
            // A handler bug: answer 500 and drop the connection, keep the server going.
            ++srv.stats_.handler_errors;
            srv.log_->error("handler threw server={} conn={} method={} target={} what={}", name,
                            conn.id, method, target, e.what());
            res = internal_error();
            keep_alive = false;
        }
        // shutdown() may have begun while the handler ran: answer, then close.
        keep_alive = keep_alive && !srv.stopping_;
        BeastResponse out = to_beast(srv, std::move(res), version, head, keep_alive);

        tcp.expires_after(limits.write_timeout);
        auto [write_ec, written] = co_await bhttp::async_write(stream, out);
        const auto took_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started)
                .count();
        if (write_ec) {
            if (write_ec == beast::error::timeout) {
                ++srv.stats_.timeouts;
            }
            srv.log_->debug(
                "response write failed server={} conn={} method={} target={} status={} "
                "ms={} error={}",
                name, conn.id, method, target, out.result_int(), took_ms, write_ec.message());
            co_return;
        }
        srv.log_->debug("request server={} conn={} method={} target={} status={} ms={}", name,
                        conn.id, method, target, out.result_int(), took_ms);
        if (!keep_alive) {
            break;
        }
    }

    conn.enter(Phase::kClosing);
    co_await close_after_response(stream);
    srv.log_->debug("connection closed server={} conn={} requests={}", name, conn.id,
                    conn.requests);
}

Task<void> run_session(std::shared_ptr<ssl::context> tls, std::unique_ptr<Connection> conn,
                       TcpSocket socket) {
    Impl& srv = *conn->server;
    if (srv.stopping_) {
        co_return;  // shutdown() began before this session got to run
    }
    if (tls) {
        SslStream stream(TcpStream(std::move(socket)), *tls);
        co_await serve(srv, *conn, stream);
    } else {
        TcpStream stream(std::move(socket));
        co_await serve(srv, *conn, stream);
    }
}

/// Completion handler for co_spawn: an exception that escapes a task is a bug; log it and
/// make sure it never propagates into io_context::run().
auto log_escaped(std::shared_ptr<spdlog::logger> log, std::string what) {
    return [log = std::move(log), what = std::move(what)](const std::exception_ptr& e) {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log->critical("unhandled exception in {}: {}", what, ex.what());
        } catch (...) {
            log->critical("unhandled non-standard exception in {}", what);
        }
    };
}

Task<void> accept_loop(std::shared_ptr<Impl> self) {
    Impl& srv = *self;
    for (;;) {
        auto [ec, socket] = co_await srv.acceptor_.async_accept();
        if (srv.stopping_ || ec == net::error::operation_aborted) {
            co_return;
        }
        if (ec) {
            srv.log_->warn("accept failed server={} error={}", srv.opts_.name, ec.message());
            SteadyTimer pause(srv.ioc_.get_executor());
            pause.expires_after(kAcceptRetryDelay);
            co_await pause.async_wait();
            continue;
        }
        ErrorCode peer_ec;
        const auto remote = socket.remote_endpoint(peer_ec);
        std::string peer = peer_ec ? std::string("unknown") : endpoint_text(remote);
        // At the cap, make room rather than turn the newcomer away: otherwise a flood of
        // connections that never send anything locks every real client out for as long as
        // the flood lasts. Only when every connection is handling a request is it refused.
        if (srv.live_connections() >= srv.opts_.limits.max_connections && !srv.evict_one()) {
            ++srv.stats_.connections_rejected;
            srv.log_->debug("connection rejected server={} peer={} reason=max_connections",
                            srv.opts_.name, peer);
            socket.close(peer_ec);
            continue;
        }
        ++srv.stats_.connections_accepted;
        const std::uint64_t id = srv.next_id_++;
        srv.log_->debug("connection accepted server={} conn={} peer={}", srv.opts_.name, id, peer);
        // Starting a session allocates; should that throw (out of memory), this connection is
        // lost but the listener keeps accepting: a daemon that silently stops taking webhooks
        // while /healthz says ok is the worst failure an operator can get.
        try {
            auto conn = std::make_unique<Connection>(self, id, std::move(peer));
            net::co_spawn(srv.ioc_.get_executor(),
                          run_session(srv.tls_, std::move(conn), std::move(socket)),
                          log_escaped(srv.log_, "http session"));
        } catch (const std::exception& e) {
            srv.log_->critical("could not start a session server={} error={}", srv.opts_.name,
                               e.what());
            socket.close(peer_ec);
        }
    }
}

Task<void> shutdown_impl(std::shared_ptr<Impl> self, std::chrono::seconds grace) {
    Impl& srv = *self;
    if (srv.stopping_) {
        co_return;
    }
    srv.stopping_ = true;
    ErrorCode ec;
    srv.acceptor_.close(ec);
    srv.log_->info("http server draining server={} connections={} grace_s={}", srv.opts_.name,
                   srv.sessions_.size(), grace.count());

    // Connections without a request in progress have nothing to lose: wake them so they close.
    for (auto& [id, conn] : srv.sessions_) {
        if (is_quiet(conn->phase) && conn->tcp != nullptr) {
            conn->tcp->socket().cancel(ec);
        }
    }

    srv.draining_ = true;
    srv.drain_timer_.expires_after(grace);
    while (!srv.sessions_.empty()) {
        auto [wait_ec] = co_await srv.drain_timer_.async_wait();
        if (!wait_ec) {
            break;  // grace elapsed; a cancel() means a session ended, so re-check
        }
    }
    srv.draining_ = false;

    if (!srv.sessions_.empty()) {
        srv.log_->warn("http server grace elapsed, closing connections server={} connections={}",
                       srv.opts_.name, srv.sessions_.size());
        srv.force_close_all();
    }
    srv.log_->info("http server stopped server={}", srv.opts_.name);
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// Server

Result<std::unique_ptr<Server>> Server::create(net::io_context& ioc, ServerOptions opts,
                                               Handler handler) {
    ErrorCode ec;
    const auto address = net::ip::make_address(opts.address, ec);
    if (ec) {
        return Error{Errc::kConfigInvalid, fmt::format("{} listener: invalid address '{}': {}",
                                                       opts.name, opts.address, ec.message())};
    }
    std::shared_ptr<ssl::context> tls;
    if (opts.tls) {
        auto ctx = make_tls_context(*opts.tls);
        if (!ctx) {
            return Error{Errc::kConfigInvalid,
                         fmt::format("{} listener: {}", opts.name, ctx.error().message)};
        }
        tls = std::move(*ctx);
    }

    const net::ip::tcp::endpoint endpoint(address, opts.port);
    const auto fail = [&](const char* step) {
        return Error{Errc::kIoFailed, fmt::format("{} listener: cannot {} {}: {}", opts.name, step,
                                                  endpoint_text(endpoint), ec.message())};
    };
    Acceptor acceptor(ioc.get_executor());
    if (acceptor.open(endpoint.protocol(), ec); ec) {
        return fail("open a socket for");
    }
    if (acceptor.set_option(net::socket_base::reuse_address(true), ec); ec) {
        return fail("set SO_REUSEADDR on");
    }
    if (acceptor.bind(endpoint, ec); ec) {
        return fail("bind");
    }
    if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec) {
        return fail("listen on");
    }
    auto impl = std::make_shared<Impl>(ioc, std::move(opts), std::move(handler),
                                       std::move(acceptor), std::move(tls));
    impl->log_->info("http server listening server={} address={} tls={}", impl->opts_.name,
                     endpoint_text(net::ip::tcp::endpoint(address, impl->port_)),
                     impl->tls_ ? "on" : "off");
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
    // Sessions hold impl_ alive; make sure they, and the accept loop, wind down rather than
    // keep serving a handler whose owner is going away.
    impl_->stopping_ = true;
    ErrorCode ec;
    impl_->acceptor_.close(ec);
    impl_->force_close_all();
}

std::uint16_t Server::port() const {
    return impl_->port_;
}

void Server::start() {
    if (impl_->started_) {
        return;
    }
    impl_->started_ = true;
    net::co_spawn(impl_->ioc_.get_executor(), accept_loop(impl_),
                  log_escaped(impl_->log_, "http accept loop " + impl_->opts_.name));
}

Task<void> Server::shutdown(std::chrono::seconds grace) {
    // Not a coroutine itself: the frame must hold impl_, not `this`, which may be gone by the
    // time the drain finishes.
    return shutdown_impl(impl_, grace);
}

const ServerStats& Server::stats() const {
    return impl_->stats_;
}

std::size_t Server::active_connections() const {
    return impl_->sessions_.size();
}

Status Server::reload_tls(const TlsFiles& files) {
    if (!impl_->tls_) {
        return Error{Errc::kConfigInvalid,
                     fmt::format("{} listener: TLS reload requested but the listener is plain HTTP",
                                 impl_->opts_.name)};
    }
    auto ctx = make_tls_context(files);
    if (!ctx) {
        impl_->log_->error("tls reload rejected server={} error={}", impl_->opts_.name,
                           ctx.error().message);
        return Error{Errc::kConfigInvalid,
                     fmt::format("{} listener: {}", impl_->opts_.name, ctx.error().message)};
    }
    impl_->tls_ = std::move(*ctx);
    impl_->log_->info("tls context reloaded server={} cert={}", impl_->opts_.name,
                      files.cert_chain_file);
    return {};
}

}  // namespace radsync::http
