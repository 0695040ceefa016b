#include "radsync/officernd/retry_after.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <locale>
#include <sstream>
#include <string>

#include <date/date.h>
#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/trim.hpp>

namespace radsync::officernd {

using std::chrono::seconds;

std::optional<core::Instant> parse_http_date(std::string_view text) {
    // IMF-fixdate, then the obsolete forms RFC 9110 5.6.7 says recipients must still accept.
    // %a reads a full weekday name as well as an abbreviated one.
    static constexpr std::array<const char*, 3> kFormats = {
        "%a, %d %b %Y %H:%M:%S GMT",  // Sun, 06 Nov 1994 08:49:37 GMT
        "%a, %d-%b-%y %H:%M:%S GMT",  // Sunday, 06-Nov-94 08:49:37 GMT
        "%a %b %e %H:%M:%S %Y",       // Sun Nov  6 08:49:37 1994
    };
    for (const char* format : kFormats) {
        std::istringstream in{std::string(text)};
        in.imbue(std::locale::classic());
        core::Instant when;
        in >> date::parse(format, when);
        // The whole value, not a readable prefix of it ("... GMT junk").
        if (!in.fail() && in.peek() == std::istringstream::traits_type::eof()) {
            return when;
        }
    }
    return std::nullopt;
}

std::optional<seconds> parse_retry_after(std::string_view value, core::Instant now) {
    value = boost::algorithm::trim_copy_if(value, boost::algorithm::is_any_of(" \t"));
    std::uint64_t delta = 0;
    const auto* const end = value.data() + value.size();
    if (const auto [stop, error] = std::from_chars(value.data(), end, delta);
        stop == end && error != std::errc::invalid_argument) {
        // Absurdly long numbers saturate rather than overflow; kMaxRetryAfter rejects them.
        constexpr std::uint64_t kSaturated = 999'999'999;
        return seconds{static_cast<seconds::rep>(error == std::errc{} ? std::min(delta, kSaturated)
                                                                      : kSaturated)};
    }
    auto when = parse_http_date(value);
    if (!when) {
        return std::nullopt;
    }
    return *when > now ? *when - now : seconds{0};
}

}  // namespace radsync::officernd
