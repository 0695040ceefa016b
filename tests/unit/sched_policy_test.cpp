#include <gtest/gtest.h>

#include "radsync/sched/policy.hpp"
#include "radsync/sched/processing.hpp"
#include "radsync/sched/watchdog.hpp"

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

namespace radsync::sched {
namespace {

using namespace std::chrono_literals;
using Tp = ProcessingPolicy::Clock::time_point;

constexpr Tp at(std::chrono::milliseconds ms) {
    return Tp{} + ms;
}

TEST(ProcessingPolicy, NothingWaitingMeansNothingToDo) {
    const ProcessingPolicy p;
    const auto d = p.decide({at(5s), at(5s), std::nullopt});
    EXPECT_FALSE(d.process_now);
    EXPECT_EQ(d.ask_again_at, ProcessingPolicy::Clock::time_point::max());
}

TEST(ProcessingPolicy, QuietTrafficIsAppliedAtOnce) {
    const ProcessingPolicy p;
    // Fewer deliveries than a burst so far, or the 8th most recent is older than the window.
    EXPECT_TRUE(p.decide({at(5s), std::nullopt, at(5s)}).process_now);
    EXPECT_TRUE(p.decide({at(5s), at(5s - 10ms), at(5s - 1ms)}).process_now);
    EXPECT_TRUE(p.decide({at(5s), at(5s - 500ms), at(5s - 400ms)}).process_now);
}

TEST(ProcessingPolicy, ABurstDefersUntilItEndsOrTheOldestIsOverdue) {
    const ProcessingPolicy p;  // 8 deliveries in 10 ms, at most 1 s of deferral
    // Mid-burst: ask again when the marker leaves the window.
    auto d = p.decide({at(5s), at(5s - 3ms), at(5s - 200ms)});
    EXPECT_FALSE(d.process_now);
    EXPECT_EQ(d.ask_again_at, at(5s + 7ms));
    // Mid-burst with the oldest event almost overdue: ask again at the deadline.
    d = p.decide({at(5s), at(5s - 3ms), at(4s + 2ms)});
    EXPECT_FALSE(d.process_now);
    EXPECT_EQ(d.ask_again_at, at(5s + 2ms));
    // Overdue: processed even though the burst goes on.
    EXPECT_TRUE(p.decide({at(5s), at(5s - 1ms), at(4s)}).process_now);
    EXPECT_TRUE(p.decide({at(5s), at(5s - 1ms), at(1s)}).process_now);
}

TEST(ProcessingPolicy, ParksAfterMaxAttempts) {
    ProcessingPolicy p;
    p.max_attempts = 3;
    EXPECT_FALSE(p.park(1));
    EXPECT_FALSE(p.park(2));
    EXPECT_TRUE(p.park(3));
    EXPECT_TRUE(p.park(4));
}

TEST(Watchdog, ThreadsWithinTheirLimitAreFine) {
    const auto now = Heartbeat::Clock::now();
    const std::vector<Pulse> pulses{{"store worker", now - 1500ms, 2s}, {"poller", now - 30s, 35s}};
    EXPECT_TRUE(stalled(pulses, now).empty());
}

TEST(Watchdog, AThreadPastItsLimitIsNamedWithHowLong) {
    const auto now = Heartbeat::Clock::now();
    const std::vector<Pulse> pulses{{"store worker", now - 7s, 2s}, {"poller", now - 1s, 35s}};
    EXPECT_EQ(stalled(pulses, now), (std::vector<Stall>{{"store worker", 7s}}));
}

TEST(Watchdog, AThreadWaitingOnAnotherIsNotJudged) {
    const auto now = Heartbeat::Clock::now();
    const std::vector<Pulse> pulses{{"poller", now - 5min, 35s, true}};
    EXPECT_TRUE(stalled(pulses, now).empty());
    Heartbeat h;
    {
        const Heartbeat::HandOff waiting(h);
        EXPECT_TRUE(h.handed_off());
    }
    EXPECT_FALSE(h.handed_off());
}

TEST(Watchdog, PingsAtHalfTheInterval) {
    EXPECT_EQ(ping_interval(std::chrono::microseconds{2'000'000}), 1s);
}

TEST(Watchdog, AHeartbeatStartsBeatingAtConstruction) {
    const auto before = Heartbeat::Clock::now();
    const Heartbeat h;
    EXPECT_GE(h.last(), before);
}

}  // namespace
}  // namespace radsync::sched
