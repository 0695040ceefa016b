#include <gtest/gtest.h>

#include "radsync/snapshot/entities.hpp"

namespace radsync::snapshot {
namespace {

using namespace std::chrono;

TEST(SnapshotParse, MemberV2Fields) {
    auto m = parse_member(R"({"_id":"m1","name":"Ada","email":"ada@cowork.test","status":"active",
        "location":"l1","company":"c1","properties":{"wifi":"x","n":3,"nested":{"a":1}},
        "modifiedAt":"2026-03-01T07:59:58.002Z"})")
                 .value();
    EXPECT_EQ(m.id, "m1");
    EXPECT_EQ(m.status, "active");
    EXPECT_EQ(m.location, "l1");
    EXPECT_EQ(m.company, "c1");
    EXPECT_EQ(m.properties.at("wifi"), "x");
    EXPECT_EQ(m.properties.at("n"), "3");
    EXPECT_EQ(m.properties.count("nested"), 0U);
    EXPECT_EQ(core::format_instant(*m.modified_at), "2026-03-01T07:59:58Z");
    EXPECT_FALSE(m.raw.empty());
}

TEST(SnapshotParse, MemberV1NamesAndCalculatedStatusWins) {
    // officernd-api.md E2: v1 names, status set by hand vs. effective calculatedStatus.
    auto m = parse_member(R"({"_id":"m1","office":"l1","team":"t1","status":"active",
        "calculatedStatus":"former"})")
                 .value();
    EXPECT_EQ(m.location, "l1");
    EXPECT_EQ(m.company, "t1");
    EXPECT_EQ(m.status, "former");
    EXPECT_TRUE(m.properties.empty());  // `properties` missing altogether
}

TEST(SnapshotParse, MembershipDatesAreCalendarDates) {
    auto m = parse_membership(R"({"_id":"ms1","plan":"p1","company":"c1","isPersonal":false,
        "startDate":"2026-01-01T00:00:00.000Z","calculatedStatus":"active"})")
                 .value();
    EXPECT_EQ(m.start_date, year{2026} / January / 1);
    EXPECT_FALSE(m.end_date);
    EXPECT_TRUE(m.member.empty());
    EXPECT_FALSE(m.is_personal);
}

TEST(SnapshotParse, BookingV1Shape) {
    auto b = parse_booking(R"({"_id":"b1","office":"l1","canceled":true,
        "start":{"dateTime":"2026-03-02T09:00:00.000Z"},"end":{"dateTime":"2026-03-02T11:00:00Z"}})")
                 .value();
    EXPECT_TRUE(b.cancelled);
    EXPECT_EQ(core::format_instant(*b.start), "2026-03-02T09:00:00Z");
}

TEST(SnapshotParse, BadEntitiesAreErrors) {
    EXPECT_FALSE(parse_member(R"({"name":"no id"})"));
    EXPECT_FALSE(parse_member(R"({"_id":"m1","email":["x"]})"));
    EXPECT_FALSE(parse_membership(R"({"_id":"m1","startDate":"yesterday"})"));
    EXPECT_FALSE(parse_member("not json"));
    EXPECT_FALSE(parse_member("[1,2]"));
}

TEST(SnapshotParse, DocumentReportsEveryBadEntityAndUnknownList) {
    auto s = parse_snapshot(R"({"members":[{"_id":"a"},{"name":"x"}],
        "memberships":{"results":[{"_id":"ms","startDate":"bad"}]},"teams":[]})");
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("unknown list \"teams\""), std::string::npos);
    EXPECT_NE(s.error().message.find("members[1]: missing \"_id\""), std::string::npos);
    EXPECT_NE(s.error().message.find("memberships[0]"), std::string::npos);
}

TEST(SnapshotParse, DocumentIsSortedById) {
    auto s = parse_snapshot(R"({"members":[{"_id":"b"},{"_id":"a"}],
        "plans":{"results":[{"_id":"p"}],"cursorNext":"x"}})")
                 .value();
    ASSERT_EQ(s.members.size(), 2U);
    EXPECT_EQ(s.members[0].id, "a");
    EXPECT_EQ(s.plans.size(), 1U);
}

}  // namespace
}  // namespace radsync::snapshot
