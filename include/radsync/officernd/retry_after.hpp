#pragma once

// Reading a server's Retry-After header (RFC 9110 10.2.3) relative to a `now` the caller
// passes; no clock reads.

#include <chrono>
#include <optional>
#include <string_view>

#include "radsync/core/clock.hpp"

namespace radsync::officernd {

/// An HTTP-date (RFC 9110 5.6.7) in any of its three forms: IMF-fixdate
/// "Sun, 06 Nov 1994 08:49:37 GMT", the obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and
/// asctime "Sun Nov  6 08:49:37 1994". Read with date::parse, which also rejects a weekday that
/// does not match the date, days that do not exist (31 Feb) and times past 23:59:59. A
/// two-digit RFC 850 year is 19yy for 69..99 and 20yy otherwise. nullopt when unreadable.
[[nodiscard]] std::optional<core::Instant> parse_http_date(std::string_view text);

/// Parses a Retry-After header value: delta-seconds ("120"), or an HTTP-date read relative to
/// `now`; a date in the past means 0 s. nullopt when unreadable.
[[nodiscard]] std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                                    core::Instant now);

/// The longest Retry-After the client waits out in place. A longer demand fails the request
/// with Errc::kApiRateLimited instead, so the poller thread is not parked for hours and the
/// scheduler's own back-off takes over.
inline constexpr std::chrono::seconds kMaxRetryAfter{300};

}  // namespace radsync::officernd
