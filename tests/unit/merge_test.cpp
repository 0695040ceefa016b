#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "radsync/snapshot/merge.hpp"

namespace radsync::snapshot {
namespace {

std::string member(const char* id, const char* status, const char* modified) {
    return std::string(R"({"_id":")") + id + R"(","status":")" + status + R"(","modifiedAt":")" +
           modified + R"("})";
}

struct Event {
    std::string json;
    bool remove;
};

TEST(Merge, NewerWinsOlderIsStale) {
    Snapshot s;
    Tombstones t;
    auto a = merge_event(s, t, Kind::kMember, member("m", "active", "2026-01-02T00:00:00Z"), false);
    EXPECT_EQ(a.value().first, MergeOutcome::kApplied);
    auto b = merge_event(s, t, Kind::kMember, member("m", "former", "2026-01-01T00:00:00Z"), false);
    EXPECT_EQ(b.value().first, MergeOutcome::kStale);
    EXPECT_EQ(s.members.at(0).status, "active");
    auto c = merge_event(s, t, Kind::kMember, member("m", "active", "2026-01-02T00:00:00Z"), false);
    EXPECT_EQ(c.value().first, MergeOutcome::kStale);  // exact duplicate
}

TEST(Merge, RemovalTombstonesAndBlocksOlderUpdates) {
    Snapshot s;
    Tombstones t;
    ASSERT_TRUE(
        merge_event(s, t, Kind::kMember, member("m", "active", "2026-01-01T00:00:00Z"), false));
    auto r = merge_event(s, t, Kind::kMember, R"({"_id":"m","status":"former"})", true);
    EXPECT_EQ(r.value().first, MergeOutcome::kApplied);
    EXPECT_TRUE(s.members.empty());
    EXPECT_EQ(t.size(), 1U);
    // A late update from before the removal does not bring the member back...
    EXPECT_EQ(merge_event(s, t, Kind::kMember, member("m", "active", "2025-12-31T00:00:00Z"), false)
                  .value()
                  .first,
              MergeOutcome::kStale);
    EXPECT_TRUE(s.members.empty());
    // ...a newer one does (re-created in OfficeRnD).
    EXPECT_EQ(merge_event(s, t, Kind::kMember, member("m", "active", "2026-02-01T00:00:00Z"), false)
                  .value()
                  .first,
              MergeOutcome::kApplied);
    EXPECT_EQ(s.members.size(), 1U);
    EXPECT_TRUE(t.empty());
}

TEST(Merge, AnyOrderConvergesToTheSameState) {
    const std::vector<Event> events = {
        {member("a", "active", "2026-01-01T00:00:00Z"), false},
        {member("a", "former", "2026-01-03T00:00:00Z"), false},
        {member("a", "lead", "2026-01-02T00:00:00Z"), false},
        {member("b", "active", "2026-01-01T00:00:00Z"), false},
        {member("b", "active", "2026-01-05T00:00:00Z"), true},
        {member("b", "active", "2026-01-04T00:00:00Z"), false},
        {member("c", "x", "2026-01-01T00:00:00Z"), false},
        {member("c", "y", "2026-01-01T00:00:00Z"), false},  // same timestamp, other content
    };
    std::vector<std::size_t> order(events.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937 rng(42);  // fixed seed: deterministic
    std::optional<std::vector<std::string>> reference;
    for (int round = 0; round < 200; ++round) {
        std::shuffle(order.begin(), order.end(), rng);
        Snapshot s;
        Tombstones t;
        for (auto i : order) {
            ASSERT_TRUE(merge_event(s, t, Kind::kMember, events[i].json, events[i].remove));
        }
        std::vector<std::string> state;
        for (const auto& m : s.members) {
            state.push_back(m.id + "=" + m.status);
        }
        for (const auto& [key, v] : t) {
            state.push_back("tomb:" + key.second);
        }
        if (!reference) {
            reference = state;
        }
        EXPECT_EQ(state, *reference);
    }
    EXPECT_EQ(*reference, (std::vector<std::string>{"a=former", "c=y", "tomb:b"}));
}

TEST(Merge, MalformedObjectIsAnError) {
    Snapshot s;
    Tombstones t;
    EXPECT_FALSE(merge_event(s, t, Kind::kMembership, R"({"_id":"x","startDate":"junk"})", false));
}

// A poll lists bookings by their start; a weekly meeting set up in spring starts before the
// window all autumn. Found while adding guests: without this, the first poll after the
// webhook that brought the series dropped it, and its guests lost access until the next
// booking.updated.
TEST(Merge, ARunningSeriesOutsideThePollWindowIsKept) {
    const auto window_start = core::parse_instant("2026-11-21T12:00:00Z").value();
    Snapshot held =
        parse_snapshot(
            R"({"bookings":[)"
            R"({"_id":"weekly","start":"2026-03-02T09:00:00Z","end":"2026-03-02T10:00:00Z",)"
            R"("recurrence":{"rrule":"FREQ=WEEKLY"}},)"
            R"({"_id":"once","start":"2026-03-02T09:00:00Z","end":"2026-03-02T10:00:00Z"},)"
            R"({"_id":"soon","start":"2026-11-25T09:00:00Z","end":"2026-11-25T10:00:00Z",)"
            R"("recurrence":{"rrule":"FREQ=DAILY"}}]})")
            .value();
    Snapshot fetched =
        parse_snapshot(R"({"bookings":[{"_id":"new","start":"2026-11-22T09:00:00Z"}]})").value();
    EXPECT_EQ(keep_running_series(held, fetched, window_start), 1U);
    ASSERT_EQ(fetched.bookings.size(), 2U);
    EXPECT_EQ(fetched.bookings[0].id, "new");
    EXPECT_EQ(fetched.bookings[1].id, "weekly");
    // Once listed (or kept), it is not added twice.
    EXPECT_EQ(keep_running_series(held, fetched, window_start), 0U);
}

}  // namespace
}  // namespace radsync::snapshot
