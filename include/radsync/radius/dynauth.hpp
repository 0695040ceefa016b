#pragma once

// RFC 5176 Dynamic Authorization packets (Disconnect-Request, CoA-Request and their answers)
// as bytes: the sending side radsync needs to cut a revoked member off the air or change a
// session's limits (freeradius.md §8 has the recipe, verified against FreeRADIUS). Pure: no
// sockets, no clock; the Identifier comes from the caller.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "radsync/core/error.hpp"

namespace radsync::radius {

enum class Code : std::uint8_t {
    kDisconnectRequest = 40,
    kDisconnectAck = 41,
    kDisconnectNak = 42,
    kCoaRequest = 43,
    kCoaAck = 44,
    kCoaNak = 45,
};

/// Attribute types radsync sends or reads (RFC 2865, 2866, 5176).
enum class Type : std::uint8_t {
    kUserName = 1,
    kNasIpAddress = 4,
    kFramedIpAddress = 8,
    kVendorSpecific = 26,
    kSessionTimeout = 27,
    kCallingStationId = 31,
    kAcctSessionId = 44,
    kAcctInterimInterval = 85,
    kMessageAuthenticator = 80,
    kErrorCause = 101,
};

/// One attribute: its type and raw value (at most 253 octets). A Vendor-Specific one carries
/// the vendor id and the vendor's own type.
struct Attribute {
    std::uint8_t type = 0;
    std::string value;
    std::uint32_t vendor = 0;  ///< non-zero: Vendor-Specific (26) with this vendor id
    std::uint8_t vendor_type = 0;

    [[nodiscard]] static Attribute text(Type t, std::string_view v);
    [[nodiscard]] static Attribute integer(Type t, std::uint32_t v);
    /// `dotted` as four octets ("10.0.0.7"); nullopt for anything else.
    [[nodiscard]] static std::optional<Attribute> ipv4(Type t, std::string_view dotted);
    [[nodiscard]] static Attribute vendor_text(std::uint32_t vendor, std::uint8_t type,
                                               std::string_view v);
    [[nodiscard]] static Attribute vendor_integer(std::uint32_t vendor, std::uint8_t type,
                                                  std::uint32_t v);
};

using Authenticator = std::array<unsigned char, 16>;

/// A request as sent: its bytes, and the Request Authenticator a reply is checked against.
struct Request {
    std::string bytes;
    Authenticator authenticator{};
    std::uint8_t identifier = 0;
};

/// Encodes a Disconnect- or CoA-Request with a Message-Authenticator (RFC 5176 §3.3: HMAC-MD5
/// over the packet with a zero authenticator), then the Request Authenticator
/// MD5(Code | Identifier | Length | 16 zero octets | Attributes | Secret) (RFC 5176 §2.3).
/// Errc::kConfigInvalid for a value over 253 octets, a packet over 4096, an empty secret or a
/// code that is not a request.
[[nodiscard]] Result<Request> encode_request(Code code, std::uint8_t identifier,
                                             const std::vector<Attribute>& attributes,
                                             std::string_view secret);

/// A reply that matched its request.
struct Reply {
    Code code{};
    std::vector<Attribute> attributes;
    /// Error-Cause (RFC 5176 §3.6) of a NAK, when it has one, e.g. 503 Session Context Not
    /// Found.
    std::optional<std::uint32_t> error_cause;
};

/// Checks and decodes a reply to `request`: the right Identifier, a code that answers the
/// request's, a length that matches, well-formed attributes, the Response Authenticator
/// MD5(Code | Identifier | Length | Request Authenticator | Attributes | Secret) and, when
/// present, the Message-Authenticator. Anything else is Errc::kMalformedPayload, and the
/// caller drops it (a forged or stray datagram must not count as an answer).
[[nodiscard]] Result<Reply> decode_reply(std::string_view datagram, const Request& request,
                                         std::string_view secret);

/// "Session-Context-Not-Found (503)" and the like, for logs and `sessions` output.
[[nodiscard]] std::string describe_error_cause(std::uint32_t cause);

}  // namespace radsync::radius
