#pragma once

// The OfficeRnD client's decisions as pure functions over values (style.md c.1 rule 2): how
// long to back off, how to read Retry-After, when the token endpoint may be called, what an
// HTTP status means, how list pages are requested and when paging stops. No I/O, no clock
// reads, no randomness: callers pass `now` and the jitter draw. Unit-tested table by table in
// tests/unit/officernd_policy_test.cpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"

namespace radsync::officernd {

// ---------------------------------------------------------------------------------------------
// Back-off

/// Wait before retry number `attempt` (1 = the wait before the first retry). The nominal wait
/// doubles per attempt from `base` and is capped at `max`; the jitter draw `jitter01` in [0, 1)
/// spreads the result over [nominal/2, nominal), so retries never hit the server in lockstep
/// and never collapse to zero. `attempt` < 1 counts as 1.
[[nodiscard]] std::chrono::milliseconds delay(int attempt, std::chrono::milliseconds base,
                                              std::chrono::milliseconds max, double jitter01);

// ---------------------------------------------------------------------------------------------
// Retry-After

/// Parses a Retry-After header value (RFC 9110 10.2.3): delta-seconds ("120"), or an HTTP-date
/// in any of its three forms ("Sun, 06 Nov 1994 08:49:37 GMT", the obsolete RFC 850 and asctime
/// forms), read relative to `now`; a date in the past means 0 s. nullopt when unreadable.
[[nodiscard]] std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                                    core::Instant now);

/// The longest Retry-After the client waits out in place. A longer demand fails the request
/// with Errc::kApiRateLimited instead, so the poller thread is not parked for hours and the
/// scheduler's own back-off takes over.
inline constexpr std::chrono::seconds kMaxRetryAfter{300};

// ---------------------------------------------------------------------------------------------
// Token endpoint rate limit

/// OfficeRnD's token endpoint allows 5 requests per rolling minute, counting failures too
/// (officernd-api.md §3). This limiter tracks what we sent, in whole-second Clock instants.
/// Because instants are truncated to seconds, a request recorded at second t is treated as
/// occupying the window until t + 61 s: the real send may have happened up to a second later
/// than t, and the server's window is measured in real time.
class TokenRateLimiter {
public:
    static constexpr std::size_t kMaxRequests = 5;
    static constexpr std::chrono::seconds kWindow{60};

    /// True when one more token request now stays within the limit.
    [[nodiscard]] bool can_request(core::Instant now) const;
    /// Notes a token request sent at `now` (call it for every request, whatever its outcome).
    void record(core::Instant now);
    /// How long until can_request() turns true; zero when it already is.
    [[nodiscard]] std::chrono::seconds wait_needed(core::Instant now) const;

private:
    [[nodiscard]] std::size_t in_window(core::Instant now) const;
    std::deque<core::Instant> sent_;  // oldest first; at most kMaxRequests + a few kept
};

// ---------------------------------------------------------------------------------------------
// Classification

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

// ---------------------------------------------------------------------------------------------
// Paging

/// v2 lists return at most 50 per page; asking for more is a 400 (officernd-api.md §6.1).
inline constexpr int kPageLimit = 50;
/// A server that never stops handing out cursors is broken; stop after this many pages of one
/// list (5 million entities).
inline constexpr std::size_t kMaxPages = 100'000;

/// Query parameters, in order, names as OfficeRnD spells them ("start[$gte]").
using QueryParams = std::vector<std::pair<std::string, std::string>>;

/// Percent-encodes a query name or value: everything except RFC 3986 unreserved characters,
/// and `$` (a sub-delimiter, kept so "$limit" reads as documented).
[[nodiscard]] std::string url_encode(std::string_view text);

/// "?$limit=50&<filters>[&$cursorNext=<cursor>]". Never a v1 parameter, never both cursors,
/// never a limit above 50. Errc::kConfigInvalid when a filter tries to set one of the paging
/// parameters ($limit, $cursorNext, $cursorPrev) or a v1-only one ($next, $prev, $populate).
[[nodiscard]] Result<std::string> build_page_query(const QueryParams& filters,
                                                   std::string_view cursor_next);

/// Whether another page follows.
enum class PageStep { kMore, kDone };

/// One v2 list page: each result as its JSON object text, cursorNext ("" when absent) and the
/// page's place in the list (`rangeStart`/`rangeEnd`, 1-based and inclusive; 0/0 for none).
struct Page {
    std::vector<std::string> results;
    std::string cursor_next;
    std::int64_t range_start = 0;
    std::int64_t range_end = 0;
};

/// Walks one list's cursors and checks that the pages add up. Starts with an empty cursor (the
/// first page); after each page, advance() says whether to continue. A page must continue
/// exactly where the previous one ended (rangeStart = previous rangeEnd + 1, the first at 1),
/// hold rangeEnd - rangeStart + 1 results, and an empty page must not hand out a cursor: a
/// skipped page or one that came back empty mid-list would otherwise read as "those members
/// left" (Errc::kIncomplete). A misbehaving server is caught too: a cursor seen before (a loop)
/// or more than `max_pages` pages -> Errc::kMalformedPayload.
class PageWalk {
public:
    explicit PageWalk(std::size_t max_pages = kMaxPages) : max_pages_(max_pages) {}

    /// The cursor to send for the next page; empty for the first.
    [[nodiscard]] const std::string& cursor() const { return cursor_; }
    /// Pages accepted so far.
    [[nodiscard]] std::size_t pages() const { return pages_; }
    /// Results accepted so far (the last rangeEnd).
    [[nodiscard]] std::int64_t items() const { return items_; }
    /// Accepts the next page, or says why the walk cannot be trusted.
    [[nodiscard]] Result<PageStep> advance(const Page& page);

private:
    std::size_t max_pages_;
    std::size_t pages_ = 0;
    std::int64_t items_ = 0;
    std::string cursor_;
    std::set<std::string> seen_;
};

/// Parses a v2 list envelope {"results": [...], "cursorNext": "...", "rangeStart": 1,
/// "rangeEnd": 50}. Errc::kMalformedPayload when the body is not JSON, `results` is missing or
/// not an array of objects, `cursorNext` is present but not a string (null counts as absent),
/// or `rangeStart`/`rangeEnd` are missing or not non-negative integers.
[[nodiscard]] Result<Page> parse_page(std::string_view body);

/// True when `body` is one JSON object (what a single-item GET returns).
[[nodiscard]] bool is_json_object(std::string_view body);

/// How far back the bookings window reaches (booking_window).
inline constexpr std::chrono::days kBookingWindowBack{1};

/// The bookings window the snapshot carries: `start` within [now - 1 day, now + 30 days), as
/// v2 filters start[$gte] / start[$lt] with ISO-8601 millisecond timestamps.
[[nodiscard]] QueryParams booking_window(core::Instant now);

/// "2026-03-01T08:00:00.000Z": OfficeRnD's timestamp format, milliseconds included.
[[nodiscard]] std::string format_iso_millis(core::Instant t);

// ---------------------------------------------------------------------------------------------
// Token

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

/// The form body of a client-credentials token request, every value URL-encoded.
[[nodiscard]] std::string token_request_body(std::string_view client_id,
                                             std::string_view client_secret,
                                             std::string_view scope);

// ---------------------------------------------------------------------------------------------
// URLs

/// An absolute http(s) URL split for the transport.
struct Url {
    std::string scheme;  ///< "https" or "http"
    std::string host;    ///< without IPv6 brackets
    std::uint16_t port = 0;
    std::string path;  ///< starts with "/"; no query or fragment

    [[nodiscard]] bool tls() const { return scheme == "https"; }
    /// The Host header value ("[::1]:8443", "app.officernd.com").
    [[nodiscard]] std::string host_header() const;
};

/// Parses "https://host[:port]/path". Errc::kConfigInvalid on anything else, on user info, a
/// query or fragment, and on plain http:// to a host that is not loopback (tests only).
[[nodiscard]] Result<Url> parse_url(std::string_view text);

/// 127.0.0.0/8, ::1 and "localhost".
[[nodiscard]] bool is_loopback_host(std::string_view host);

}  // namespace radsync::officernd
