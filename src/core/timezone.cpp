#include "radsync/core/timezone.hpp"

#include <charconv>
#include <cstdio>
#include <exception>

#include <date/tz.h>

namespace radsync::core {

namespace {

const date::time_zone* as_zone(const void* z) {
    return static_cast<const date::time_zone*>(z);
}

// Reads exactly `width` decimal digits at text[pos]; false if any is missing.
bool read_digits(const std::string& text, std::size_t pos, std::size_t width, int& out) {
    if (pos + width > text.size()) {
        return false;
    }
    const char* first = text.data() + pos;
    const char* last = first + width;
    auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc{} && ptr == last;
}

Result<Date> parse_date_prefix(const std::string& text) {
    int y = 0;
    int m = 0;
    int d = 0;
    if (!read_digits(text, 0, 4, y) || text.size() < 10 || text[4] != '-' ||
        !read_digits(text, 5, 2, m) || text[7] != '-' || !read_digits(text, 8, 2, d)) {
        return Error(Errc::kMalformedPayload, "expected a date YYYY-MM-DD, got \"" + text + "\"");
    }
    const Date date{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(m)},
                    std::chrono::day{static_cast<unsigned>(d)}};
    if (!date.ok()) {
        return Error(Errc::kMalformedPayload, "no such calendar date \"" + text + "\"");
    }
    return date;
}

}  // namespace

Result<TimeZone> TimeZone::locate(const std::string& name) {
    try {
        return TimeZone(date::locate_zone(name), name);
    } catch (const std::exception&) {
        // date::locate_zone reports an unknown name only by throwing.
        return Error(Errc::kNotFound, "unknown time zone \"" + name + "\"");
    }
}

TimeZone TimeZone::utc() {
    return TimeZone(nullptr, "UTC");
}

Date TimeZone::local_date(Instant t) const {
    if (zone_ == nullptr) {
        return Date{std::chrono::floor<std::chrono::days>(t)};
    }
    const auto local = as_zone(zone_)->to_local(t);
    const auto days = std::chrono::duration_cast<std::chrono::days>(
        date::floor<date::days>(local).time_since_epoch());
    return Date{std::chrono::sys_days{days}};
}

Instant TimeZone::start_of(Date d) const {
    return at_local(d, std::chrono::minutes{0});
}

Instant TimeZone::at_local(Date d, std::chrono::minutes time_of_day) const {
    // choose::earliest resolves an ambiguous time (the repeated hour when DST ends); a
    // nonexistent one (in the DST gap: 00:00 in Havana, 01:30 in London on the switch day)
    // maps to the first instant after the gap.
    return from_wall_clock(Instant{std::chrono::sys_days{d}.time_since_epoch() + time_of_day});
}

Instant TimeZone::wall_clock(Instant t) const {
    if (zone_ == nullptr) {
        return t;
    }
    return Instant{as_zone(zone_)->to_local(t).time_since_epoch()};
}

Instant TimeZone::from_wall_clock(Instant wall) const {
    if (zone_ == nullptr) {
        return wall;
    }
    const date::local_seconds local{wall.time_since_epoch()};
    const auto info = as_zone(zone_)->get_info(local);
    if (info.result == date::local_info::nonexistent) {
        return info.second.begin;
    }
    return std::chrono::time_point_cast<std::chrono::seconds>(
        as_zone(zone_)->to_sys(local, date::choose::earliest));
}

Instant TimeZone::next_local(Instant after, std::chrono::minutes time_of_day) const {
    const Date today = local_date(after);
    const Instant candidate = at_local(today, time_of_day);
    if (candidate > after) {
        return candidate;
    }
    return at_local(Date{std::chrono::sys_days{today} + std::chrono::days{1}}, time_of_day);
}

Result<Date> parse_calendar_date(const std::string& text) {
    auto date = parse_date_prefix(text);
    if (!date) {
        return date;
    }
    if (text.size() > 10 && text[10] != 'T' && text[10] != ' ') {
        return Error(Errc::kMalformedPayload, "expected a date YYYY-MM-DD, got \"" + text + "\"");
    }
    return date;
}

Result<Instant> parse_instant(const std::string& text) {
    auto date = parse_date_prefix(text);
    int hh = 0;
    int mm = 0;
    int ss = 0;
    if (!date || text.size() < 19 || (text[10] != 'T' && text[10] != ' ') ||
        !read_digits(text, 11, 2, hh) || text[13] != ':' || !read_digits(text, 14, 2, mm) ||
        text[16] != ':' || !read_digits(text, 17, 2, ss) || hh > 23 || mm > 59 || ss > 60) {
        return Error(Errc::kMalformedPayload,
                     "expected an ISO-8601 timestamp, got \"" + text + "\"");
    }
    std::size_t pos = 19;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            ++pos;
        }
    }
    int offset_minutes = 0;
    if (pos < text.size() && text[pos] == 'Z') {
        ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
        int oh = 0;
        int om = 0;
        if (!read_digits(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
            !read_digits(text, pos + 4, 2, om)) {
            return Error(Errc::kMalformedPayload, "bad UTC offset in \"" + text + "\"");
        }
        offset_minutes = (text[pos] == '+' ? 1 : -1) * (oh * 60 + om);
        pos += 6;
    }
    if (pos != text.size()) {
        return Error(Errc::kMalformedPayload, "trailing text in timestamp \"" + text + "\"");
    }
    const std::chrono::sys_days day{*date};
    return Instant{day.time_since_epoch()} + std::chrono::hours{hh} + std::chrono::minutes{mm} +
           std::chrono::seconds{ss} - std::chrono::minutes{offset_minutes};
}

std::string format_instant(Instant t) {
    return date::format("%Y-%m-%dT%H:%M:%SZ", t);
}

std::string format_date(Date d) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()),
                  static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
    return buf;
}

}  // namespace radsync::core
