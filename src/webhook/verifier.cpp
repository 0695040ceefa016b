#include "radsync/webhook/verifier.hpp"

#include <charconv>
#include <cstdint>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace radsync::webhook {

namespace {

constexpr std::size_t kHexDigestLength = 64;
// Real headers are ~90 bytes; anything far longer is not OfficeRnD.
constexpr std::size_t kMaxHeaderLength = 1024;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

struct ParsedHeader {
    std::string_view t;
    std::string_view signature;
};

// "t=<digits>,signature=<hex>". The key of the signature is "signature" per the current
// integrations, "v1" in older Stripe-like code, and OfficeRnD's own samples only ever read
// the second pair by position: accept all three, in that order of preference.
bool parse_header(std::string_view header, ParsedHeader& out) {
    std::string_view named;
    std::string_view v1;
    std::string_view second;
    std::size_t index = 0;
    bool t_seen = false;
    while (!header.empty()) {
        const auto comma = header.find(',');
        const auto part = trim(header.substr(0, comma));
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        const auto eq = part.find('=');
        if (eq == std::string_view::npos) {
            return false;
        }
        const auto key = trim(part.substr(0, eq));
        const auto value = trim(part.substr(eq + 1));
        if (key == "t") {
            if (t_seen) {
                return false;  // two timestamps: which one was signed is ambiguous
            }
            t_seen = true;
            out.t = value;
        } else if (key == "signature") {
            if (!named.empty()) {
                return false;
            }
            named = value;
        } else if (key == "v1") {
            v1 = value;
        }
        if (index == 1) {
            second = value;
        }
        ++index;
    }
    out.signature = !named.empty() ? named : !v1.empty() ? v1 : second;
    return t_seen && !out.t.empty() && !out.signature.empty();
}

std::string to_hex(const unsigned char* data, std::size_t n) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(kHex[data[i] >> 4]);
        out.push_back(kHex[data[i] & 0x0F]);
    }
    return out;
}

}  // namespace

const char* to_string(Verdict v) {
    switch (v) {
        case Verdict::kValid:
            return "valid";
        case Verdict::kMissingHeader:
            return "missing_signature";
        case Verdict::kMalformedHeader:
            return "malformed_signature";
        case Verdict::kStaleTimestamp:
            return "stale_timestamp";
        case Verdict::kBadSignature:
            return "bad_signature";
    }
    return "unknown";
}

std::string sign(std::string_view secret, std::string_view raw_body, std::string_view t) {
    // Body first, then ".", then t: the reverse of Stripe's order (officernd-api.md §1.3).
    std::string message;
    message.reserve(raw_body.size() + 1 + t.size());
    message.append(raw_body).append(".").append(t);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
             &mac_len) == nullptr) {
        return {};
    }
    return to_hex(mac, mac_len);
}

std::string signed_timestamp(std::string_view header) {
    ParsedHeader parsed;
    if (header.size() > kMaxHeaderLength || !parse_header(trim(header), parsed)) {
        return {};
    }
    return std::string(parsed.t);
}

Verdict Verifier::verify(std::string_view header, std::string_view raw_body,
                         core::Instant now) const {
    header = trim(header);
    if (header.empty()) {
        return Verdict::kMissingHeader;
    }
    ParsedHeader parsed;
    if (header.size() > kMaxHeaderLength || !parse_header(header, parsed)) {
        return Verdict::kMalformedHeader;
    }
    std::int64_t t = 0;
    const auto [end, ec] = std::from_chars(parsed.t.data(), parsed.t.data() + parsed.t.size(), t);
    if (ec != std::errc{} || end != parsed.t.data() + parsed.t.size() ||
        parsed.signature.size() != kHexDigestLength) {
        return Verdict::kMalformedHeader;
    }
    // Node's digest('hex') is lower-case; accept upper-case too rather than fail a delivery
    // over letter case (the bytes compared are still the full digest).
    std::string given(parsed.signature);
    for (char& c : given) {
        if (c >= 'A' && c <= 'F') {
            c = static_cast<char>(c - 'A' + 'a');
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return Verdict::kMalformedHeader;
        }
    }
    const std::int64_t now_s = now.time_since_epoch().count();
    if (t < now_s - past_.count() || t > now_s + future_.count()) {
        return Verdict::kStaleTimestamp;
    }
    bool match = false;
    for (const auto& secret : secrets_) {
        const std::string expected = sign(secret.bytes(), raw_body, parsed.t);
        // Every secret is tried (no early exit) so timing does not reveal which one matched.
        if (expected.size() == given.size() &&
            CRYPTO_memcmp(expected.data(), given.data(), given.size()) == 0) {
            match = true;
        }
    }
    return match ? Verdict::kValid : Verdict::kBadSignature;
}

}  // namespace radsync::webhook
