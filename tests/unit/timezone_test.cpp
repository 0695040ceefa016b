#include <gtest/gtest.h>

#include "radsync/core/timezone.hpp"

namespace radsync::core {
namespace {

using namespace std::chrono;

Instant at(const char* iso) {
    return parse_instant(iso).value();
}

TEST(TimeZone, LocalDateFollowsTheZoneNotUtc) {
    const auto berlin = TimeZone::locate("Europe/Berlin").value();
    // 23:30 UTC on 21 Nov is already 22 Nov in Berlin (UTC+1 in winter).
    EXPECT_EQ(berlin.local_date(at("2026-11-21T23:30:00Z")), year{2026} / November / 22);
    EXPECT_EQ(TimeZone::utc().local_date(at("2026-11-21T23:30:00Z")), year{2026} / November / 21);
    const auto la = TimeZone::locate("America/Los_Angeles").value();
    EXPECT_EQ(la.local_date(at("2026-11-22T07:59:59Z")), year{2026} / November / 21);
}

TEST(TimeZone, StartOfDayHonoursDaylightSaving) {
    const auto berlin = TimeZone::locate("Europe/Berlin").value();
    EXPECT_EQ(format_instant(berlin.start_of(year{2026} / January / 10)), "2026-01-09T23:00:00Z");
    EXPECT_EQ(format_instant(berlin.start_of(year{2026} / July / 10)), "2026-07-09T22:00:00Z");
    // Santiago skipped midnight on 2022-09-11 (00:00 -> 01:00): the day starts at the gap's end.
    const auto santiago = TimeZone::locate("America/Santiago").value();
    EXPECT_EQ(format_instant(santiago.start_of(year{2022} / September / 11)),
              "2022-09-11T04:00:00Z");
}

TEST(TimeZone, UnknownZoneIsAnErrorValue) {
    auto z = TimeZone::locate("Mars/Olympus_Mons");
    ASSERT_FALSE(z);
    EXPECT_EQ(z.error().code, Errc::kNotFound);
}

TEST(ParseDates, CalendarDateIgnoresTheTimePart) {
    EXPECT_EQ(parse_calendar_date("2026-03-01T00:00:00.000Z").value(), year{2026} / March / 1);
    EXPECT_EQ(parse_calendar_date("2026-03-01").value(), year{2026} / March / 1);
    EXPECT_FALSE(parse_calendar_date("2026-02-30"));
    EXPECT_FALSE(parse_calendar_date("01/03/2026"));
    EXPECT_FALSE(parse_calendar_date("2026-03-01X"));
}

TEST(ParseDates, InstantFormats) {
    EXPECT_EQ(format_instant(at("2026-03-01T08:00:00.000Z")), "2026-03-01T08:00:00Z");
    EXPECT_EQ(format_instant(at("2026-03-01T08:00:00Z")), "2026-03-01T08:00:00Z");
    EXPECT_EQ(format_instant(at("2026-03-01T09:30:00+01:30")), "2026-03-01T08:00:00Z");
    EXPECT_FALSE(parse_instant("2026-03-01"));
    EXPECT_FALSE(parse_instant("2026-03-01T25:00:00Z"));
    EXPECT_FALSE(parse_instant("2026-03-01T08:00:00Zjunk"));
}

}  // namespace
}  // namespace radsync::core
