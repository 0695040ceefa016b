// libFuzzer target: the recurrence rule of a booking, which arrives from OfficeRnD (a webhook or
// a poll) and goes to libical. The first line is the RRULE, the second (optional) the booking's
// zone; the expansion must return, bounded, whatever the rule says.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mapping/recurrence.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto newline = text.find('\n');
    const std::string rrule(text.substr(0, newline));
    const std::string zone_name =
        newline == std::string_view::npos ? std::string() : std::string(text.substr(newline + 1));
    using radsync::core::TimeZone;
    auto located = zone_name.empty() ? radsync::Result<TimeZone>(TimeZone::utc())
                                     : TimeZone::locate(zone_name);
    const TimeZone zone = located ? *located : TimeZone::utc();
    const auto start = radsync::core::parse_instant("2026-03-02T09:00:00Z").value();
    const auto now = radsync::core::parse_instant("2026-11-22T12:00:00Z").value();
    (void)radsync::mapping::detail::occurrences(rrule, start, start + std::chrono::hours{2}, zone,
                                                {}, now, now + std::chrono::days{32}, 4);
    return 0;
}
