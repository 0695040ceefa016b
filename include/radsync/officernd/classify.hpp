#pragma once

// What the OfficeRnD client does with one answer: an HTTP status or a transport failure turned
// into a Verdict (accept, retry, refresh the token, fail), and the human part of an error body
// pulled out for the message. Pure functions over values.

#include <string>
#include <string_view>

#include "radsync/core/error.hpp"

namespace radsync::officernd {

/// Which OfficeRnD endpoint answered.
enum class Endpoint { kToken, kApi };

/// Failures below HTTP: the transport reports one of these instead of a status.
enum class TransportFailure {
    kTimeout,       ///< the per-request deadline passed (any phase)
    kResolve,       ///< the host name did not resolve
    kConnection,    ///< refused, reset, closed early, truncated mid-body
    kTlsHandshake,  ///< the TLS handshake failed for a reason other than verification
    kTlsVerify,     ///< the server's certificate was not trusted or did not match the host
    kProtocol,      ///< the server's bytes were not HTTP/1.1
    kTooLarge,      ///< the response exceeded the header or body limit
};

/// What the client does with one response or transport failure.
enum class Action {
    kAccept,        ///< 2xx: use the body
    kRetry,         ///< 429, 5xx, timeouts, connection errors: wait, then send again
    kRefreshToken,  ///< 401 from the data API: mint one new token, then send again
    kFail,          ///< stop; `code` and `message` say why
};

struct Verdict {
    Action action = Action::kFail;
    Errc code = Errc::kApiUnavailable;  ///< for kFail, and for kRetry once attempts run out
    std::string message;                ///< plain words for operators; never secrets
};

/// Classifies an HTTP status. `server_message` is what server_message() pulled out of the
/// body; `may_refresh_token` is false once this request (or the current token) has already
/// been through a 401-triggered refresh; `org_slug` names the organisation in messages.
///  - 2xx -> kAccept; 429 -> kRetry (kApiRateLimited); 5xx -> kRetry (kApiUnavailable), except
///    a 500 "Organization not found", which is how OfficeRnD answers a wrong slug ->
///    kFail kConfigInvalid;
///  - 400 -> kFail, never retried, carrying the server's message;
///  - 401 from the API -> kRefreshToken once, then kFail kApiUnauthorized (a missing scope
///    also shows up as 401); 401/400 from the token endpoint -> kFail kApiUnauthorized;
///  - 403 -> kFail kApiUnauthorized; 404 -> kFail kNotFound; anything else -> kFail.
[[nodiscard]] Verdict classify_status(Endpoint endpoint, unsigned status,
                                      std::string_view server_message, bool may_refresh_token,
                                      std::string_view org_slug);

/// Classifies a transport failure: timeouts, resolution, connection, handshake and protocol
/// errors are retried; certificate verification failures and oversized responses are not
/// (they will not fix themselves). `detail` is the transport's description.
[[nodiscard]] Verdict classify_transport(TransportFailure failure, std::string_view detail);

/// The human part of an OfficeRnD error body: v2's {"message": "..."} (or a NestJS list of
/// messages, joined with "; "), the token endpoint's {"error": ..., "error_description": ...},
/// else the start of the body as text. Control characters are replaced and the result is
/// bounded (200 characters), so it is safe to log.
[[nodiscard]] std::string server_message(std::string_view body);

}  // namespace radsync::officernd
