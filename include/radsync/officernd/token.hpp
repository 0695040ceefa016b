#pragma once

// The OAuth client-credentials exchange with OfficeRnD's token endpoint, as values: the request
// body, the answer, and when the token should be replaced.

#include <chrono>
#include <string>
#include <string_view>

#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"

namespace radsync::officernd {

/// A token endpoint answer.
struct TokenGrant {
    std::string access_token;  ///< never logged
    std::chrono::seconds expires_in{0};
};

/// Parses {"access_token": "...", "token_type": "Bearer", "expires_in": 3599, ...}.
/// Errc::kMalformedPayload when it is not JSON, lacks a non-empty access_token, names a
/// token_type other than Bearer, or carries a non-positive expires_in. A missing expires_in
/// is read as 3599 s, the documented lifetime.
[[nodiscard]] Result<TokenGrant> parse_token_response(std::string_view body);

/// When a token obtained at `obtained` should be replaced: 60 s before it expires (§3), or at
/// half its lifetime when that is shorter than two minutes.
[[nodiscard]] core::Instant token_refresh_at(core::Instant obtained,
                                             std::chrono::seconds expires_in);

/// The form body of a client-credentials token request, every value url_encode()d.
[[nodiscard]] std::string token_request_body(std::string_view client_id,
                                             std::string_view client_secret,
                                             std::string_view scope);

}  // namespace radsync::officernd
