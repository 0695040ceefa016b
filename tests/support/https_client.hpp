#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Deliberately free of Asio/Beast includes: tests and benchmarks that only need to talk HTTP
// include this without paying for them.

namespace radsync::test {

struct HttpResponse {
    unsigned status = 0;
    /// Header names lower-cased; repeated fields joined with ",".
    std::map<std::string, std::string> headers;
    std::string body;
    bool keep_alive = false;  ///< false when the server said it will close the connection
};

struct HttpClientOptions {
    std::string host = "127.0.0.1";  ///< numeric address
    std::uint16_t port = 0;
    bool tls = true;  ///< TLS without certificate verification (test self-signed certificate)
    /// Deadline for each phase (connect, handshake, write, read) of each request.
    std::chrono::milliseconds timeout{5000};
};

/// A small blocking HTTP/1.1 client for tests and benchmarks. Keeps the connection alive
/// between requests and reconnects when the server closed it; a request that fails on a
/// reused connection is retried once on a fresh one (fine for tests; not for real POSTs).
/// Runs its own io_context on the calling thread; not thread-safe (one client per thread).
/// Errors (refused, timeout, reset) are thrown as std::runtime_error.
class HttpClient {
public:
    explicit HttpClient(HttpClientOptions options);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    HttpResponse request(std::string_view method, std::string_view target,
                         const std::vector<std::pair<std::string, std::string>>& headers = {},
                         std::string body = {});

    /// How many TCP connections this client has opened so far (keep-alive checks).
    [[nodiscard]] std::size_t connections_opened() const;

    /// Closes the current connection, if any.
    void close();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace radsync::test
