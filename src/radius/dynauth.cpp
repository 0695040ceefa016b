#include "radsync/radius/dynauth.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>

namespace radsync::radius {

namespace {

constexpr std::size_t kHeader = 20;       // Code, Identifier, Length, Authenticator
constexpr std::size_t kMaxPacket = 4096;  // RFC 2865 §3
constexpr std::size_t kMaxValue = 253;    // 255 minus type and length
constexpr std::size_t kMessageAuthLength = 18;

void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((v >> shift) & 0xFF));
    }
}

std::uint32_t get_u32(std::string_view in) {
    std::uint32_t v = 0;
    for (const char c : in.substr(0, 4)) {
        v = (v << 8) | static_cast<unsigned char>(c);
    }
    return v;
}

Authenticator md5(std::string_view data) {
    Authenticator out{};
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_md5(), nullptr);
    return out;
}

Authenticator hmac_md5(std::string_view key, std::string_view data) {
    Authenticator out{};
    unsigned int len = 0;
    HMAC(EVP_md5(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
    return out;
}

void put_authenticator(std::string& packet, std::size_t at, const Authenticator& a) {
    std::copy(a.begin(), a.end(), packet.begin() + static_cast<std::ptrdiff_t>(at));
}

bool equal(std::string_view bytes, const Authenticator& a) {
    return bytes.size() == a.size() &&
           std::equal(a.begin(), a.end(), bytes.begin(),
                      [](unsigned char x, char y) { return x == static_cast<unsigned char>(y); });
}

bool answers(Code reply, Code request) {
    return request == Code::kDisconnectRequest
               ? reply == Code::kDisconnectAck || reply == Code::kDisconnectNak
               : reply == Code::kCoaAck || reply == Code::kCoaNak;
}

Error malformed(std::string what) {
    return Error(Errc::kMalformedPayload, "dynamic authorization reply: " + std::move(what));
}

}  // namespace

Attribute Attribute::text(Type t, std::string_view v) {
    return {static_cast<std::uint8_t>(t), std::string(v), 0, 0};
}

Attribute Attribute::integer(Type t, std::uint32_t v) {
    Attribute a{static_cast<std::uint8_t>(t), {}, 0, 0};
    put_u32(a.value, v);
    return a;
}

std::optional<Attribute> Attribute::ipv4(Type t, std::string_view dotted) {
    Attribute a{static_cast<std::uint8_t>(t), {}, 0, 0};
    const char* p = dotted.data();
    const char* end = dotted.data() + dotted.size();
    for (int i = 0; i < 4; ++i) {
        unsigned octet = 0;
        const auto [next, ec] = std::from_chars(p, end, octet);
        if (ec != std::errc{} || octet > 255 || next == p || next - p > 3) {
            return std::nullopt;
        }
        a.value.push_back(static_cast<char>(octet));
        p = next;
        if (i < 3) {
            if (p == end || *p != '.') {
                return std::nullopt;
            }
            ++p;
        }
    }
    if (p != end) {
        return std::nullopt;
    }
    return a;
}

Attribute Attribute::vendor_text(std::uint32_t vendor, std::uint8_t type, std::string_view v) {
    return {static_cast<std::uint8_t>(Type::kVendorSpecific), std::string(v), vendor, type};
}

Attribute Attribute::vendor_integer(std::uint32_t vendor, std::uint8_t type, std::uint32_t v) {
    Attribute a{static_cast<std::uint8_t>(Type::kVendorSpecific), {}, vendor, type};
    put_u32(a.value, v);
    return a;
}

Result<Request> encode_request(Code code, std::uint8_t identifier,
                               const std::vector<Attribute>& attributes, std::string_view secret) {
    if (code != Code::kDisconnectRequest && code != Code::kCoaRequest) {
        return Error(Errc::kConfigInvalid, "only Disconnect-Request and CoA-Request are sent");
    }
    if (secret.empty()) {
        return Error(Errc::kConfigInvalid, "a NAS needs a shared secret");
    }
    std::string packet(kHeader, '\0');
    packet[0] = static_cast<char>(code);
    packet[1] = static_cast<char>(identifier);
    for (const auto& a : attributes) {
        // A vendor attribute wraps: Vendor-Id (4), vendor type, vendor length, value.
        const std::size_t wrapped = a.vendor != 0 ? a.value.size() + 6 : a.value.size();
        if (wrapped > kMaxValue || (a.vendor == 0 && a.value.empty())) {
            return Error(Errc::kConfigInvalid,
                         "attribute " + std::to_string(a.type) + " must have 1 to 253 octets");
        }
        packet.push_back(static_cast<char>(a.type));
        packet.push_back(static_cast<char>(wrapped + 2));
        if (a.vendor != 0) {
            put_u32(packet, a.vendor);
            packet.push_back(static_cast<char>(a.vendor_type));
            packet.push_back(static_cast<char>(a.value.size() + 2));
        }
        packet += a.value;
    }
    // Message-Authenticator: 16 zero octets while the HMAC is computed over the packet.
    const std::size_t mac_at = packet.size() + 2;
    packet.push_back(static_cast<char>(Type::kMessageAuthenticator));
    packet.push_back(static_cast<char>(kMessageAuthLength));
    packet.append(16, '\0');
    if (packet.size() > kMaxPacket) {
        return Error(Errc::kConfigInvalid, "a dynamic authorization request over 4096 octets");
    }
    packet[2] = static_cast<char>(packet.size() >> 8);
    packet[3] = static_cast<char>(packet.size() & 0xFF);
    put_authenticator(packet, mac_at, hmac_md5(secret, packet));
    // Then the Request Authenticator, over the packet as sent (zero authenticator field).
    Request r;
    r.identifier = identifier;
    r.authenticator = md5(packet + std::string(secret));
    put_authenticator(packet, 4, r.authenticator);
    r.bytes = std::move(packet);
    return r;
}

Result<Reply> decode_reply(std::string_view datagram, const Request& request,
                           std::string_view secret) {
    if (datagram.size() < kHeader) {
        return malformed("shorter than a header");
    }
    const auto length = static_cast<std::size_t>(static_cast<unsigned char>(datagram[2]) << 8 |
                                                 static_cast<unsigned char>(datagram[3]));
    if (length < kHeader || length > datagram.size() || length > kMaxPacket) {
        return malformed("a length that does not fit the datagram");
    }
    datagram = datagram.substr(0, length);  // octets past Length are padding (RFC 2865 §3)
    Reply reply;
    reply.code = static_cast<Code>(static_cast<unsigned char>(datagram[0]));
    const auto request_code = static_cast<Code>(static_cast<unsigned char>(request.bytes[0]));
    if (!answers(reply.code, request_code)) {
        return malformed("code " + std::to_string(static_cast<int>(reply.code)) +
                         " does not answer the request");
    }
    if (static_cast<std::uint8_t>(datagram[1]) != request.identifier) {
        return malformed("another request's identifier");
    }
    // Response Authenticator: the reply with the request's authenticator in its place.
    std::string signed_part(datagram);
    put_authenticator(signed_part, 4, request.authenticator);
    if (!equal(datagram.substr(4, 16), md5(signed_part + std::string(secret)))) {
        return malformed("the Response Authenticator does not match (wrong secret, or forged)");
    }
    std::optional<std::size_t> mac_at;
    for (std::size_t at = kHeader; at < datagram.size();) {
        if (datagram.size() - at < 2) {
            return malformed("a truncated attribute");
        }
        const auto type = static_cast<std::uint8_t>(datagram[at]);
        const auto len = static_cast<std::size_t>(static_cast<unsigned char>(datagram[at + 1]));
        if (len < 2 || at + len > datagram.size()) {
            return malformed("an attribute length that does not fit");
        }
        Attribute a{type, std::string(datagram.substr(at + 2, len - 2)), 0, 0};
        if (type == static_cast<std::uint8_t>(Type::kMessageAuthenticator)) {
            if (len != kMessageAuthLength) {
                return malformed("a Message-Authenticator that is not 16 octets");
            }
            mac_at = at + 2;
        } else if (type == static_cast<std::uint8_t>(Type::kErrorCause) && a.value.size() == 4) {
            reply.error_cause = get_u32(a.value);
        }
        reply.attributes.push_back(std::move(a));
        at += len;
    }
    if (mac_at) {
        // RFC 3579 §3.2 for replies: HMAC-MD5 with the request's authenticator in place and
        // the Message-Authenticator itself zeroed.
        std::string zeroed = signed_part;
        std::fill_n(zeroed.begin() + static_cast<std::ptrdiff_t>(*mac_at), 16, '\0');
        if (!equal(datagram.substr(*mac_at, 16), hmac_md5(secret, zeroed))) {
            return malformed("the Message-Authenticator does not match");
        }
    }
    return reply;
}

std::string describe_error_cause(std::uint32_t cause) {
    struct Known {
        std::uint32_t code;
        const char* name;
    };
    // RFC 5176 §3.6.
    static constexpr Known kKnown[] = {{201, "Residual-Session-Context-Removed"},
                                       {202, "Invalid-EAP-Packet"},
                                       {401, "Unsupported-Attribute"},
                                       {402, "Missing-Attribute"},
                                       {403, "NAS-Identification-Mismatch"},
                                       {404, "Invalid-Request"},
                                       {405, "Unsupported-Service"},
                                       {406, "Unsupported-Extension"},
                                       {407, "Invalid-Attribute-Value"},
                                       {501, "Administratively-Prohibited"},
                                       {502, "Request-Not-Routable"},
                                       {503, "Session-Context-Not-Found"},
                                       {504, "Session-Context-Not-Removable"},
                                       {505, "Other-Proxy-Processing-Error"},
                                       {506, "Resources-Unavailable"},
                                       {507, "Request-Initiated"},
                                       {508, "Multiple-Session-Selection-Unsupported"}};
    for (const auto& k : kKnown) {
        if (k.code == cause) {
            return std::string(k.name) + " (" + std::to_string(cause) + ")";
        }
    }
    return "Error-Cause " + std::to_string(cause);
}

}  // namespace radsync::radius
