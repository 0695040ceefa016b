#pragma once

// Private to the officernd module. Deliberately free of Asio/Beast/OpenSSL includes: only
// https_transport.cpp pays for them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "radsync/core/error.hpp"
#include "radsync/officernd/classify.hpp"
#include "radsync/officernd/url.hpp"

namespace radsync::officernd::detail {

struct HttpRequest {
    std::string method = "GET";
    std::string target;  ///< path and query
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    /// Reuse a pooled keep-alive connection (and keep this one). false: a fresh connection,
    /// "Connection: close". Only idempotent requests may be silently re-sent on a fresh
    /// connection when a reused one turns out to have been closed by the server.
    bool reuse_connection = true;
};

struct HttpResponse {
    unsigned status = 0;
    std::string body;
    std::string retry_after;  ///< the Retry-After header, "" when absent
};

/// One exchange's outcome: a response, or why there is none.
struct Exchange {
    bool ok = false;
    HttpResponse response;
    TransportFailure failure = TransportFailure::kConnection;
    std::string error;  ///< plain words, e.g. "TLS handshake with h:443 failed: ..."
};

struct TransportOptions {
    std::string ca_file;  ///< extra trust anchor; system CAs always loaded
    std::size_t body_limit = 64U * 1024U * 1024U;
    std::uint32_t header_limit = 64U * 1024U;
};

/// Blocking HTTP/1.1 over TLS (or plain HTTP to loopback) on a private io_context run by the
/// calling thread. Keeps one keep-alive connection per scheme/host/port. Not thread-safe.
class HttpsTransport {
public:
    /// Errc::kConfigInvalid when ca_file cannot be loaded.
    [[nodiscard]] static Result<std::unique_ptr<HttpsTransport>> create(TransportOptions options);
    ~HttpsTransport();
    HttpsTransport(const HttpsTransport&) = delete;
    HttpsTransport& operator=(const HttpsTransport&) = delete;

    /// Sends `request` to `origin` (scheme, host, port; its path is ignored) and reads the
    /// response, all within `timeout`. Never throws for network failures.
    [[nodiscard]] Exchange send(const Url& origin, const HttpRequest& request,
                                std::chrono::milliseconds timeout);

    /// Drops every pooled connection.
    void close_all();

private:
    struct Impl;
    explicit HttpsTransport(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace radsync::officernd::detail
