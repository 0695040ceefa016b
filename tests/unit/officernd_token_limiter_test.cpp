#include <gtest/gtest.h>

#include "officernd_now.hpp"
#include "radsync/officernd/token_limiter.hpp"

namespace radsync::officernd {
namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;
using test_clock::kNow;

TEST(OfficerndTokenLimiter, AllowsFivePerRollingMinuteThenWaitsForTheOldest) {
    TokenRateLimiter l;
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(l.can_request(kNow + seconds(i * 10)));
        EXPECT_EQ(l.wait_needed(kNow + seconds(i * 10)), 0s);
        l.record(kNow + seconds(i * 10));  // at +0, +10, +20, +30, +40
    }
    EXPECT_FALSE(l.can_request(kNow + 40s));
    // The one at +0 holds its slot for 61 s (whole-second instants: one second of margin).
    EXPECT_EQ(l.wait_needed(kNow + 40s), 21s);
    EXPECT_FALSE(l.can_request(kNow + 60s));
    EXPECT_EQ(l.wait_needed(kNow + 60s), 1s);
    EXPECT_TRUE(l.can_request(kNow + 61s));
    l.record(kNow + 61s);
    EXPECT_FALSE(l.can_request(kNow + 61s));
    EXPECT_EQ(l.wait_needed(kNow + 61s), 10s);  // now the one at +10 must leave
}

TEST(OfficerndTokenLimiter, BurstAtOneInstant) {
    TokenRateLimiter l;
    for (int i = 0; i < 5; ++i) {
        l.record(kNow);
    }
    EXPECT_FALSE(l.can_request(kNow));
    EXPECT_EQ(l.wait_needed(kNow), 61s);
    EXPECT_EQ(l.wait_needed(kNow + 30s), 31s);
    EXPECT_TRUE(l.can_request(kNow + 61s));
    EXPECT_EQ(l.wait_needed(kNow + 61s), 0s);
}

TEST(OfficerndTokenLimiter, ForgetsOldRequests) {
    TokenRateLimiter l;
    for (int i = 0; i < 100; ++i) {
        const auto t = kNow + seconds(i * 13);  // under 5 per 61 s
        ASSERT_TRUE(l.can_request(t)) << i;
        l.record(t);
    }
}

}  // namespace
}  // namespace radsync::officernd
