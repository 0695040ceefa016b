#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "radsync/core/asio.hpp"
#include "radsync/core/error.hpp"

/// The hardened HTTP(S) listener behind the OfficeRnD webhook endpoint and /metrics.
///
/// One coroutine per connection on the single io thread. Every phase has a deadline (TLS
/// handshake, request read, response write, keep-alive idle), every input a size limit, and
/// the number of connections and of requests per connection is capped. The server decides
/// nothing about content: it turns bytes into a Request, awaits the Handler, and writes back
/// its Response. Routing lives in the handler.
namespace radsync::http {

/// One parsed request, as given to the Handler.
struct Request {
    std::string method;  ///< as sent, e.g. "POST"
    std::string target;  ///< origin-form target with query, e.g. "/webhooks/officernd?x=1"
    /// Header names lower-cased; repeated fields joined with "," in arrival order.
    std::map<std::string, std::string> headers;
    std::string body;  ///< raw bytes, exactly as received (after de-chunking)
    std::string peer;  ///< "address:port" of the client
};

/// What the Handler answers. The server sets Content-Length, Connection and `Server: radsync`
/// itself; `headers` carrying framing fields or CR/LF are dropped (logged). Status must be
/// 200..599, else a 500 is sent. For HEAD the body is measured, not sent; 204/304 carry none.
struct Response {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

/// Produces the response to one request. Runs on the io thread and may co_await other work.
/// An exception escaping it is a bug: logged at error, answered with 500, connection closed.
using Handler = std::function<Task<Response>(Request)>;

/// Per-listener bounds. Defaults follow style.md c.3.
struct Limits {
    std::size_t header_bytes = 8 * 1024;  ///< request line + fields; over it: 431, then close
    std::size_t body_bytes = 256 * 1024;  ///< over it (declared or streamed): 413, then close
    std::chrono::seconds handshake_timeout{10};  ///< TCP accept → TLS handshake done
    /// First byte → whole request (header and body) received. For a connection's first request
    /// it runs from accept (after the handshake), so a silent client is dropped after it too.
    std::chrono::seconds read_timeout{10};
    std::chrono::seconds write_timeout{10};  ///< whole response written
    std::chrono::seconds idle_timeout{
        30};  ///< keep-alive: response sent → next request's first byte
    /// At the cap a newcomer takes the slot of the connection that has waited longest without
    /// a request being handled; only when all are handling one is it refused. Both counted.
    std::size_t max_connections = 256;
    std::size_t max_requests_per_connection = 1000;  ///< the last one is answered with close
};

/// PEM files: the certificate chain (leaf first) and its private key.
struct TlsFiles {
    std::string cert_chain_file;
    std::string private_key_file;
};

struct ServerOptions {
    std::string name;             ///< "webhook" | "metrics": appears in every log line as server=
    std::string address;          ///< numeric IPv4/IPv6 address to bind, e.g. "127.0.0.1", "::"
    std::uint16_t port = 0;       ///< 0 = let the kernel pick (tests); see Server::port()
    std::optional<TlsFiles> tls;  ///< empty = plain HTTP (loopback / behind a reverse proxy)
    Limits limits;
};

/// Counters since create(). Read them on the io thread only.
struct ServerStats {
    std::uint64_t connections_accepted = 0;  ///< connections that got a session
    /// At max_connections with every connection handling a request: the newcomer is closed.
    std::uint64_t connections_rejected = 0;
    /// At max_connections: a connection without a request in progress (silent, handshaking,
    /// idle keep-alive) closed to make room for a newcomer.
    std::uint64_t connections_evicted_idle = 0;
    /// At max_connections with no quiet connection: one still reading its request closed.
    std::uint64_t connections_evicted_reading = 0;
    std::uint64_t handshake_failures = 0;  ///< TLS handshakes that failed (timeouts included)
    std::uint64_t timeouts = 0;            ///< handshake, read or write deadline hit
    std::uint64_t too_large = 0;           ///< answered 413 or 431
    std::uint64_t bad_requests = 0;    ///< malformed HTTP or unsafe framing, answered 400 (or 501)
    std::uint64_t requests = 0;        ///< requests passed to the handler
    std::uint64_t handler_errors = 0;  ///< handler threw or returned a bad status: 500
};

/// An HTTP/1.1 server on one listening socket. All members run on the io thread except
/// create(), start() and the destructor, which may also be called while the io_context is not
/// running. The Server must outlive nothing: sessions keep its internals alive, but a Server
/// should be shut down (shutdown()) before the handler's captures are destroyed.
class Server {
public:
    /// Opens, binds and listens (SO_REUSEADDR, like Beast's examples) and, with `tls`, loads
    /// the certificate chain and key. Does not accept yet. Errors:
    /// - Errc::kConfigInvalid: bad address, unreadable / invalid certificate or key file, or a
    ///   key that does not match the certificate (the message names the file);
    /// - Errc::kIoFailed: socket/bind/listen failed, e.g. "Address already in use".
    [[nodiscard]] static Result<std::unique_ptr<Server>> create(net::io_context& ioc,
                                                                ServerOptions opts,
                                                                Handler handler);

    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// The port actually bound (useful with port 0).
    [[nodiscard]] std::uint16_t port() const;

    /// Spawns the accept loop. Call once. An exception escaping it is logged at critical and
    /// stops accepting; it never propagates into io_context::run().
    void start();

    /// Graceful drain: stop accepting; close connections that have no request in progress at
    /// once; let requests in progress finish and be answered with `Connection: close`. Completes
    /// when every connection is gone, or after `grace`, when the rest are force-closed (and a
    /// handler still running is sent terminal cancellation). A second call returns at once.
    [[nodiscard]] Task<void> shutdown(std::chrono::seconds grace);

    [[nodiscard]] const ServerStats& stats() const;
    [[nodiscard]] std::size_t active_connections() const;

    /// Builds a new TLS context from `files` (same checks as create()) and, only if that
    /// succeeds, makes new connections use it; live connections keep theirs. On error the
    /// current context stays. Errc::kConfigInvalid if the server is plain HTTP or files are bad.
    [[nodiscard]] Status reload_tls(const TlsFiles& files);

    class Impl;  // public only so the implementation's free functions can name it

private:
    explicit Server(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;
};

}  // namespace radsync::http
