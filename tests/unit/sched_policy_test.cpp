#include <gtest/gtest.h>

#include "radsync/sched/policy.hpp"

namespace radsync::sched {
namespace {

using namespace std::chrono_literals;

TEST(SchedulePolicy, JitteredIntervalAfterSuccess) {
    const Policy p{15min, 0.10, 30s};
    EXPECT_EQ(p.next_delay(0, 0.5), std::chrono::milliseconds(15min));
    EXPECT_EQ(p.next_delay(0, 0.0), std::chrono::milliseconds(13min + 30s));  // -10 %
    EXPECT_EQ(p.next_delay(0, 1.0), std::chrono::milliseconds(16min + 30s));  // +10 %
}

TEST(SchedulePolicy, BacksOffThenCapsAtTheInterval) {
    const Policy p{15min, 0.0, 30s};
    EXPECT_EQ(p.next_delay(1, 0.5), std::chrono::milliseconds(30s));
    EXPECT_EQ(p.next_delay(2, 0.5), std::chrono::milliseconds(60s));
    EXPECT_EQ(p.next_delay(3, 0.5), std::chrono::milliseconds(120s));
    EXPECT_EQ(p.next_delay(5, 0.5), std::chrono::milliseconds(8min));
    EXPECT_EQ(p.next_delay(6, 0.5), std::chrono::milliseconds(15min));
    EXPECT_EQ(p.next_delay(1000, 0.5), std::chrono::milliseconds(15min));
}

}  // namespace
}  // namespace radsync::sched
