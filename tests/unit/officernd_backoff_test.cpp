#include <vector>

#include <gtest/gtest.h>

#include "radsync/officernd/backoff.hpp"

namespace radsync::officernd {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

TEST(OfficerndBackoff, DoublesFromBaseCapsAtMaxAndJittersWithinTheUpperHalf) {
    struct Row {
        int attempt;
        milliseconds base, max;
        double jitter;
        milliseconds expected;
    };
    const std::vector<Row> rows = {
        {1, 1000ms, 60000ms, 0.0, 500ms},       // [nominal/2, nominal): the low end
        {1, 1000ms, 60000ms, 0.5, 750ms},       //
        {1, 1000ms, 60000ms, 0.999, 999ms},     // never reaches nominal exactly
        {2, 1000ms, 60000ms, 0.0, 1000ms},      // nominal 2 s
        {3, 1000ms, 60000ms, 0.0, 2000ms},      // 4 s
        {6, 1000ms, 60000ms, 0.0, 16000ms},     // 32 s
        {7, 1000ms, 60000ms, 0.0, 30000ms},     // 64 s -> capped at 60 s
        {7, 1000ms, 60000ms, 0.5, 45000ms},     //
        {1000, 1000ms, 60000ms, 0.0, 30000ms},  // no overflow
        {0, 1000ms, 60000ms, 0.0, 500ms},       // attempt < 1 counts as 1
        {-5, 1000ms, 60000ms, 0.0, 500ms},      //
        {1, 5000ms, 2000ms, 0.0, 1000ms},       // base above max: max rules
        {3, 0ms, 60000ms, 0.5, 0ms},            // zero base: no wait
        {2, 1000ms, 60000ms, 7.0, 2000ms},      // jitter clamped to [0, 1]
        {2, 1000ms, 60000ms, -1.0, 1000ms},     //
    };
    for (const auto& r : rows) {
        EXPECT_EQ(delay(r.attempt, r.base, r.max, r.jitter), r.expected)
            << "attempt=" << r.attempt << " base=" << r.base.count() << " max=" << r.max.count()
            << " jitter=" << r.jitter;
    }
}

TEST(OfficerndBackoff, NeverExceedsMax) {
    for (int attempt = 1; attempt < 80; ++attempt) {
        for (double j : {0.0, 0.3, 0.999999}) {
            const auto d = delay(attempt, 1000ms, 60000ms, j);
            EXPECT_LE(d, 60000ms);
            EXPECT_GE(d, 500ms);
        }
    }
}

}  // namespace
}  // namespace radsync::officernd
