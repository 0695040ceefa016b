#pragma once

// The OfficeRnD endpoints' URLs: checked and split for the transport, and query components
// percent-encoded. Parsing and encoding are Boost.URL's; this adds what radsync allows.

#include <cstdint>
#include <string>
#include <string_view>

#include "radsync/core/error.hpp"

namespace radsync::officernd {

/// An absolute http(s) URL split for the transport.
struct Url {
    std::string scheme;  ///< "https" or "http"
    std::string host;    ///< lower case, without IPv6 brackets
    std::uint16_t port = 0;
    std::string path;  ///< starts with "/", percent-encoded as written; no query or fragment

    [[nodiscard]] bool tls() const { return scheme == "https"; }
    /// The Host header value ("[::1]:8443", "app.officernd.com").
    [[nodiscard]] std::string host_header() const;
};

/// Parses "https://host[:port]/path" (RFC 3986). Errc::kConfigInvalid on anything else: user
/// info, a query or fragment, a port outside 1..65535, an IPvFuture literal, a host name that
/// is not letters, digits, '-' and '.', and plain http:// to a host that is not loopback (tests
/// only).
[[nodiscard]] Result<Url> parse_url(std::string_view text);

/// 127.0.0.0/8, ::1 and "localhost" (any case).
[[nodiscard]] bool is_loopback_host(std::string_view host);

/// Percent-encodes a query name or value or a path segment: everything except RFC 3986
/// unreserved characters, and `$` (a sub-delimiter, kept so "$limit" reads as documented).
/// Upper-case hex, a space as "%20".
[[nodiscard]] std::string url_encode(std::string_view text);

}  // namespace radsync::officernd
