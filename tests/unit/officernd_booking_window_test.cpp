#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "officernd_now.hpp"
#include "radsync/officernd/booking_window.hpp"

namespace radsync::officernd {
namespace {

using namespace std::chrono_literals;
using test_clock::kNow;

TEST(OfficerndBookingWindow, IsOneDayBackThirtyAhead) {
    const auto w = booking_window(kNow);
    ASSERT_EQ(w.size(), 2U);
    EXPECT_EQ(w[0],
              (std::pair<std::string, std::string>{"start[$gte]", "2026-02-28T08:00:00.000Z"}));
    EXPECT_EQ(w[1],
              (std::pair<std::string, std::string>{"start[$lt]", "2026-03-31T08:00:00.000Z"}));
    EXPECT_EQ(format_iso_millis(kNow + 3661s), "2026-03-01T09:01:01.000Z");
}

}  // namespace
}  // namespace radsync::officernd
