#pragma once

// Occurrences of a recurring booking (an RFC 5545 RRULE), expanded by libical. Pure.

#include <cstddef>
#include <string>
#include <vector>

#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/core/timezone.hpp"

namespace radsync::mapping::detail {

struct Occurrence {
    core::Instant start;
    core::Instant end;
};

/// The occurrences of a booking whose first one is [first_start, first_end) and which repeats
/// by `rrule` in `zone`'s wall-clock time (a weekly 09:00 meeting stays at 09:00 across DST),
/// leaving out `exdates`, that overlap [from, to); at most `limit`, earliest first.
/// Errc::kMalformedPayload if libical cannot read the rule.
[[nodiscard]] Result<std::vector<Occurrence>> occurrences(
    const std::string& rrule, core::Instant first_start, core::Instant first_end,
    const core::TimeZone& zone, const std::vector<core::Instant>& exdates, core::Instant from,
    core::Instant to, std::size_t limit);

}  // namespace radsync::mapping::detail
