#pragma once

#include <chrono>
#include <string>

#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"

namespace radsync::core {

/// A calendar date (no time, no zone), as OfficeRnD's membership dates really are.
using Date = std::chrono::year_month_day;

/// An IANA time zone from the system tz database (Debian's tzdata), resolved once.
/// Cheap to copy; conversions are pure functions of their arguments.
class TimeZone {
public:
    /// Looks up an IANA name such as "Europe/London". Errc::kNotFound if the name is unknown.
    [[nodiscard]] static Result<TimeZone> locate(const std::string& name);
    /// Coordinated Universal Time; never fails.
    [[nodiscard]] static TimeZone utc();

    [[nodiscard]] const std::string& name() const { return name_; }
    /// The calendar date on a wall clock in this zone at instant `t`.
    [[nodiscard]] Date local_date(Instant t) const;
    /// The instant the given local date begins (00:00 local, or the first valid local time if
    /// a DST jump skips midnight).
    [[nodiscard]] Instant start_of(Date d) const;
    /// The instant the wall clock in this zone shows `time_of_day` on date `d`: the earlier one
    /// when DST ends and the time repeats, the end of the gap when DST begins and it is
    /// skipped.
    [[nodiscard]] Instant at_local(Date d, std::chrono::minutes time_of_day) const;
    /// The wall-clock time in this zone at `t`, written as if it were UTC (for calendar
    /// arithmetic such as recurrence rules, which repeat in wall-clock time).
    [[nodiscard]] Instant wall_clock(Instant t) const;
    /// The instant a wall-clock time (as wall_clock() writes it) happens: the earlier one when
    /// it repeats, the end of the gap when DST skips it.
    [[nodiscard]] Instant from_wall_clock(Instant wall) const;
    /// The first instant after `after` at which the wall clock shows `time_of_day`.
    [[nodiscard]] Instant next_local(Instant after, std::chrono::minutes time_of_day) const;

private:
    TimeZone(const void* zone, std::string name) : zone_(zone), name_(std::move(name)) {}
    const void* zone_;  // const date::time_zone*, kept opaque so date/tz.h stays out of headers
    std::string name_;
};

/// Parses "YYYY-MM-DD" optionally followed by a time part, which is ignored: OfficeRnD sends
/// membership dates as midnight UTC whatever the location's zone, and its support says to read
/// only the date. Errc::kMalformedPayload on anything else.
[[nodiscard]] Result<Date> parse_calendar_date(const std::string& text);

/// Parses an ISO-8601 UTC timestamp ("2026-03-01T08:00:00.000Z", fraction and Z optional, or a
/// "+hh:mm" offset). Errc::kMalformedPayload on anything else.
[[nodiscard]] Result<Instant> parse_instant(const std::string& text);

/// "2026-03-01T08:00:00Z".
[[nodiscard]] std::string format_instant(Instant t);
/// "2026-03-01".
[[nodiscard]] std::string format_date(Date d);

}  // namespace radsync::core
