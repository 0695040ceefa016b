#include "radsync/officernd/url.hpp"

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/grammar/alnum_chars.hpp>
#include <boost/url/grammar/charset.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/ipv4_address.hpp>
#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace radsync::officernd {

namespace urls = boost::urls;

namespace {

// RFC 3986 unreserved, plus '$': OfficeRnD documents its parameters as "$limit", "$cursorNext".
constexpr urls::grammar::lut_chars kQueryComponentChars = urls::unreserved_chars + '$';

// What a DNS host name may hold (letters, digits, hyphens, dots). RFC 3986's reg-name allows
// more (sub-delimiters, '_', '~', percent-escapes); none of it names an OfficeRnD server.
constexpr urls::grammar::lut_chars kHostNameChars =
    urls::grammar::lut_chars(urls::grammar::alnum_chars) + '-' + '.';

}  // namespace

std::string Url::host_header() const {
    std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    const std::uint16_t default_port = tls() ? 443 : 80;
    if (port != default_port) {
        out += ':' + std::to_string(port);
    }
    return out;
}

bool is_loopback_host(std::string_view host) {
    if (const auto v4 = urls::parse_ipv4_address(host)) {
        return v4->is_loopback();
    }
    if (const auto v6 = urls::parse_ipv6_address(host)) {
        return v6->is_loopback();
    }
    return boost::algorithm::iequals(host, "localhost");
}

Result<Url> parse_url(std::string_view text) {
    const auto bad = [&](const std::string& why) {
        return Error(Errc::kConfigInvalid, "URL \"" + std::string(text) + "\": " + why);
    };
    const auto parsed = urls::parse_uri(text);
    if (!parsed) {
        return bad("not a valid URL; expected https://host/path");
    }
    const urls::url_view& uri = *parsed;
    Url url;
    if (uri.scheme_id() == urls::scheme::https) {
        url.scheme = "https";
    } else if (uri.scheme_id() == urls::scheme::http) {
        url.scheme = "http";
    } else {
        return bad("scheme must be https");
    }
    if (!uri.has_authority() || uri.encoded_host().empty()) {
        return bad("expected https://host/path");
    }
    if (uri.has_userinfo()) {
        return bad("must not carry user info");
    }
    if (uri.has_query() || uri.has_fragment()) {
        return bad("must not carry a query or fragment");
    }
    // Boost.URL 1.81 lets a path that does not start with '/' follow the authority
    // (boostorg/url#636): "http://127.0.0.1.evil.com/" would read as host 127.0.0.1 with path
    // ".evil.com/". RFC 3986 3.3 forbids it; so do we.
    const std::string_view path = uri.encoded_path();
    if (!path.empty() && !path.starts_with('/')) {
        return bad("bad host or port");
    }
    switch (uri.host_type()) {
        case urls::host_type::ipv4:
        case urls::host_type::ipv6:
            break;
        case urls::host_type::name: {
            const std::string_view name = uri.encoded_host();
            if (urls::grammar::find_if_not(name.begin(), name.end(), kHostNameChars) !=
                name.end()) {
                return bad("bad host name");
            }
            break;
        }
        default:  // an IPvFuture literal
            return bad("bad host");
    }
    url.host = boost::algorithm::to_lower_copy(uri.host_address());
    url.port = url.tls() ? 443 : 80;
    if (uri.has_port()) {
        // port_number() is 0 for an empty port and for one that does not fit 16 bits.
        if (uri.port_number() == 0) {
            return bad("bad port");
        }
        url.port = uri.port_number();
    }
    url.path = path.empty() ? "/" : std::string(path);
    if (!url.tls() && !is_loopback_host(url.host)) {
        return bad("plain http:// is allowed only to a loopback host (tests); use https://");
    }
    return url;
}

std::string url_encode(std::string_view text) {
    return urls::encode(text, kQueryComponentChars);
}

}  // namespace radsync::officernd
