#include "radsync/officernd/booking_window.hpp"

#include <date/date.h>

namespace radsync::officernd {

std::string format_iso_millis(core::Instant t) {
    return date::format("%FT%TZ", std::chrono::time_point_cast<std::chrono::milliseconds>(t));
}

QueryParams booking_window(core::Instant now) {
    constexpr auto kAhead = std::chrono::days{30};
    return {{"start[$gte]", format_iso_millis(now - kBookingWindowBack)},
            {"start[$lt]", format_iso_millis(now + kAhead)}};
}

}  // namespace radsync::officernd
