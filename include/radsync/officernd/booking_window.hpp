#pragma once

// Which bookings the snapshot carries: a window around `now`, as v2 list filters.

#include <chrono>
#include <string>

#include "radsync/core/clock.hpp"
#include "radsync/officernd/paging.hpp"

namespace radsync::officernd {

/// How far back the bookings window reaches (booking_window).
inline constexpr std::chrono::days kBookingWindowBack{1};

/// The bookings window the snapshot carries: `start` within [now - 1 day, now + 30 days), as
/// v2 filters start[$gte] / start[$lt] with ISO-8601 millisecond timestamps.
[[nodiscard]] QueryParams booking_window(core::Instant now);

/// "2026-03-01T08:00:00.000Z": OfficeRnD's timestamp format, milliseconds included.
[[nodiscard]] std::string format_iso_millis(core::Instant t);

}  // namespace radsync::officernd
