#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "radsync/core/clock.hpp"

namespace radsync::webhook {

/// Outcome of checking an `officernd-signature` header. Only kValid lets a request through.
enum class Verdict {
    kValid,
    kMissingHeader,    ///< no officernd-signature header
    kMalformedHeader,  ///< no t=, no signature, non-numeric t, signature not 64 hex digits
    kStaleTimestamp,   ///< t outside [now - past, now + future]
    kBadSignature,     ///< well-formed but no configured secret produces it
};

/// Stable short name for logs and the `radsync_webhooks_total{result}` label.
[[nodiscard]] const char* to_string(Verdict v);

/// Secrets are held only here, never formatted into logs.
class Secret {
public:
    explicit Secret(std::string bytes) : bytes_(std::move(bytes)) {}
    [[nodiscard]] std::string_view bytes() const { return bytes_; }

private:
    std::string bytes_;
};

/// Verifies OfficeRnD webhook signatures (officernd-api.md §1.3): HMAC-SHA256 keyed by the
/// secret's bytes over raw_body + "." + t, lower-case hex, compared in constant time, against
/// every configured secret (up to 3, for rotation). Pure apart from OpenSSL's HMAC.
class Verifier {
public:
    Verifier(std::vector<Secret> secrets, std::chrono::seconds past, std::chrono::seconds future)
        : secrets_(std::move(secrets)), past_(past), future_(future) {}

    /// `header` is the raw header value (empty when absent); `raw_body` the exact bytes
    /// received. Never throws.
    [[nodiscard]] Verdict verify(std::string_view header, std::string_view raw_body,
                                 core::Instant now) const;

private:
    std::vector<Secret> secrets_;
    std::chrono::seconds past_;
    std::chrono::seconds future_;
};

/// The `t=` value of a signature header, exactly as sent (it is part of the signed message
/// and of the fallback event id); empty if there is none.
[[nodiscard]] std::string signed_timestamp(std::string_view header);

/// hex(HMAC-SHA256(secret, body + "." + t)) — what OfficeRnD puts in `signature=`. Exposed for
/// the simulator, the load generator and tests that need to sign.
[[nodiscard]] std::string sign(std::string_view secret, std::string_view raw_body,
                               std::string_view t);

}  // namespace radsync::webhook
