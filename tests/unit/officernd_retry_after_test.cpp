#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "officernd_now.hpp"
#include "radsync/officernd/retry_after.hpp"

namespace radsync::officernd {
namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;
using test_clock::kNow;

TEST(OfficerndRetryAfter, ParsesDeltaSecondsAndAllThreeHttpDateForms) {
    // kNow is Sun, 01 Mar 2026 08:00:00 GMT.
    struct Row {
        std::string value;
        std::optional<seconds> expected;
    };
    const std::vector<Row> rows = {
        {"0", 0s},
        {"7", 7s},
        {"  120 ", 120s},
        {"3600", 3600s},
        {"99999999999999", 999'999'999s},  // saturates; kMaxRetryAfter refuses it later
        {"Sun, 01 Mar 2026 08:00:30 GMT", 30s},
        {"Sun, 01 Mar 2026 09:00:00 GMT", 3600s},
        {"Mon, 02 Mar 2026 08:00:00 GMT", 86400s},
        {"Sun, 01 Mar 2026 07:59:00 GMT", 0s},    // in the past: retry now
        {"Sunday, 01-Mar-26 08:01:00 GMT", 60s},  // RFC 850
        {"Sun Mar  1 08:00:05 2026", 5s},         // asctime
        {"", std::nullopt},
        {"-5", std::nullopt},
        {"1.5", std::nullopt},
        {"soon", std::nullopt},
        {"Sun, 31 Feb 2026 08:00:00 GMT", std::nullopt},  // no such day
        {"Sun, 01 Foo 2026 08:00:00 GMT", std::nullopt},
        {"Sun, 01 Mar 2026 25:00:00 GMT", std::nullopt},
        {"Sun, 01 Mar 2026 08:00:00 CET", std::nullopt},
        {"007", 7s},
        {" \t30\t", 30s},
        {"+5", std::nullopt},
        {"5s", std::nullopt},
        {"123456789012345678901234567890", 999'999'999s},  // beyond 64 bits: saturates too
    };
    for (const auto& r : rows) {
        EXPECT_EQ(parse_retry_after(r.value, kNow), r.expected) << '"' << r.value << '"';
    }
}

// RFC 9110 5.6.7's own example, in each of the three forms a recipient must accept.
TEST(OfficerndHttpDate, ReadsAllThreeForms) {
    const core::Instant expected =
        std::chrono::sys_days{std::chrono::year{1994} / 11 / 6} + 8h + 49min + 37s;
    for (const char* text : {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                             "Sun Nov  6 08:49:37 1994"}) {
        EXPECT_EQ(parse_http_date(text), expected) << text;
    }
}

TEST(OfficerndHttpDate, TwoDigitYearsPivotAt69) {
    EXPECT_EQ(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), core::Instant{});
    EXPECT_EQ(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT"),
              core::Instant{std::chrono::sys_days{std::chrono::year{2000} / 1 / 1}});
}

TEST(OfficerndHttpDate, LeapDaysOnlyInLeapYears) {
    EXPECT_EQ(parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT"),
              std::chrono::sys_days{std::chrono::year{2024} / 2 / 29} + 12h);
    EXPECT_EQ(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT"),
              core::Instant{std::chrono::sys_days{std::chrono::year{2000} / 2 / 29}});
    EXPECT_EQ(parse_http_date("Sun, 29 Feb 2026 12:00:00 GMT"), std::nullopt);
    EXPECT_EQ(parse_http_date("Fri, 29 Feb 1900 12:00:00 GMT"), std::nullopt);
}

TEST(OfficerndHttpDate, RejectsWhatIsNotAnHttpDate) {
    for (const char* text : {
             "Mon, 30 Feb 2026 08:00:00 GMT",     // no such day
             "Thu, 31 Apr 2026 08:00:00 GMT",     //
             "Sun, 00 Mar 2026 08:00:00 GMT",     //
             "Sun, 01 Mar 2026 24:00:00 GMT",     // no such time
             "Sun, 01 Mar 2026 08:60:00 GMT",     //
             "Mon, 01 Mar 2026 08:00:00 GMT",     // 1 March 2026 is a Sunday
             "Sun, 01 Mar 2026 08:00:00",         // the zone is part of the format
             "Sun, 01 Mar 2026 08:00:00 +0000",   //
             "Sun, 01 Mar 2026 08:00:00 GMT x",   // trailing text
             "Sun Mar  1 08:00:05 2026 GMT",      //
             "Sunday, 01-Mar-2026 08:00:00 GMT",  // RFC 850 has two-digit years
             "2026-03-01T08:00:00Z",              // ISO 8601 is not an HTTP-date
             "Sun, 01 Mar 2026 8h GMT",           //
             "",
         }) {
        EXPECT_EQ(parse_http_date(text), std::nullopt) << text;
    }
}

}  // namespace
}  // namespace radsync::officernd
