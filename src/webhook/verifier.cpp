#include "radsync/webhook/verifier.hpp"

#include <charconv>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include <boost/algorithm/hex.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "radsync/core/hmac.hpp"

namespace radsync::webhook {

namespace {

constexpr std::size_t kHexDigestLength = 64;
// Real headers are ~90 bytes; anything far longer is not OfficeRnD.
constexpr std::size_t kMaxHeaderLength = 1024;
// Signatures checked per request: enough for a rotation (one per secret) with room to spare.
constexpr std::size_t kMaxCandidates = 8;

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
    /// Every signature the header offers, in order: each `signature=` and `v1=` value, or, when
    /// there is none, the second pair's value (OfficeRnD's own samples read it by position).
    std::vector<std::string_view> candidates;
};

// "t=<digits>,signature=<hex>[,signature=<hex>...]". A sender may list several signatures
// (Stripe-style schemes do, one per secret during a rotation), under the key "signature" as
// current integrations send it or "v1" as older code did: every one of them is a candidate.
bool parse_header(std::string_view header, ParsedHeader& out) {
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
        } else if (key == "signature" || key == "v1") {
            if (out.candidates.size() == kMaxCandidates) {
                return false;  // bounded work per request, whatever the header holds
            }
            if (!value.empty()) {
                out.candidates.push_back(value);
            }
        }
        if (index == 1) {
            second = value;
        }
        ++index;
    }
    if (out.candidates.empty() && !second.empty()) {
        out.candidates.push_back(second);
    }
    return t_seen && !out.t.empty() && !out.candidates.empty();
}

// A candidate as 64 lower-case hex digits; empty if it is not a SHA-256 hex digest. Node's
// digest('hex') is lower-case; upper-case is accepted rather than fail a delivery over case.
std::string normalised_digest(std::string_view candidate) {
    if (candidate.size() != kHexDigestLength) {
        return {};
    }
    std::string out(candidate);
    for (char& c : out) {
        if (c >= 'A' && c <= 'F') {
            c = static_cast<char>(c - 'A' + 'a');
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return {};
        }
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
    const auto mac = core::hmac_sha256(secret, message);
    if (!mac) {
        return {};
    }
    std::string hex;
    boost::algorithm::hex_lower(mac->begin(), mac->end(), std::back_inserter(hex));
    return hex;
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
    if (ec != std::errc{} || end != parsed.t.data() + parsed.t.size()) {
        return Verdict::kMalformedHeader;
    }
    std::vector<std::string> given;
    given.reserve(parsed.candidates.size());
    for (const auto candidate : parsed.candidates) {
        if (auto digest = normalised_digest(candidate); !digest.empty()) {
            given.push_back(std::move(digest));
        }
    }
    if (given.empty()) {
        return Verdict::kMalformedHeader;  // nothing that could be an HMAC-SHA256 digest
    }
    const std::int64_t now_s = now.time_since_epoch().count();
    if (t < now_s - past_.count() || t > now_s + future_.count()) {
        return Verdict::kStaleTimestamp;
    }
    // Every secret against every candidate, with no early exit, so timing reveals neither
    // which secret nor which candidate matched.
    bool match = false;
    for (const auto& secret : secrets_) {
        const std::string expected = sign(secret.bytes(), raw_body, parsed.t);
        for (const auto& g : given) {
            const bool equal = expected.size() == g.size() &&
                               CRYPTO_memcmp(expected.data(), g.data(), g.size()) == 0;
            match = match || equal;
        }
    }
    return match ? Verdict::kValid : Verdict::kBadSignature;
}

}  // namespace radsync::webhook
