// The time logic of access transitions, table by table with a pinned clock: when a membership's
// dates begin and end access in its location's zone across DST switches (Europe/London,
// America/New_York, and America/Havana, where the switch skips midnight itself), and the
// evaluation time that keeps a clock stepped back from undoing a transition.

#include <gtest/gtest.h>

#include <optional>

#include "mapping_world.hpp"
#include "radsync/reconcile/reconciler.hpp"

namespace radsync::mapping {
namespace {

using namespace test_world;
using Outcome = Decision::Outcome;

struct MembershipDates {
    const char* name;
    const char* zone;
    const char* start;
    std::optional<const char*> end;
    const char* now;
    // The next transition (UTC) and what it does; "" when none is expected.
    const char* next_at;
    const char* next_what;
};

class MembershipTransitions : public ::testing::TestWithParam<MembershipDates> {};

TEST_P(MembershipTransitions, FallOnLocalMidnightsAndFlipAccessExactlyThen) {
    const auto& c = GetParam();
    World w;
    w.cfg.mapping.locations.clear();  // unrestricted: only the dates decide
    w.snap.locations.push_back(World::location("l-zone", "Zone", c.zone));
    w.member("m1", "active", "l-zone");
    w.membership("m1", "p-hot", c.start, c.end, "l-zone");
    w.ctx.now = at(c.now);
    const auto now_state = w.map();
    const Decision& d = decision_for(now_state, "m1");
    if (*c.next_at == '\0') {
        EXPECT_FALSE(d.next_change) << core::format_instant(*d.next_change);
        return;
    }
    ASSERT_TRUE(d.next_change);
    EXPECT_EQ(core::format_instant(*d.next_change), c.next_at);
    EXPECT_NE(d.next_change_what.find(c.next_what), std::string::npos) << d.next_change_what;
    if (d.outcome == Outcome::kGranted && c.end) {
        // The Expiration FreeRADIUS enforces on its own is the same instant.
        ASSERT_TRUE(d.account->expires);
        EXPECT_EQ(*d.account->expires, *d.next_change);
    }

    // One second before, nothing has changed yet; at the transition, access flips.
    const auto before = *d.next_change - seconds{1};
    w.ctx.now = before;
    EXPECT_EQ(decision_for(w.map(), "m1").outcome, d.outcome);
    w.ctx.now = *d.next_change;
    const Outcome after = decision_for(w.map(), "m1").outcome;
    EXPECT_NE(after, d.outcome) << to_string(after);
    EXPECT_EQ(after == Outcome::kGranted, std::string(c.next_what) == "starts");
}

INSTANTIATE_TEST_SUITE_P(
    Dst, MembershipTransitions,
    ::testing::Values(
        // London: BST begins 2026-03-29 01:00Z, ends 2026-10-25 01:00Z.
        MembershipDates{"LondonEndsOnSpringForwardDay", "Europe/London", "2026-01-01", "2026-03-29",
                        "2026-03-29T12:00:00Z", "2026-03-29T23:00:00Z", "ends"},
        MembershipDates{"LondonEndsOnFallBackDay", "Europe/London", "2026-01-01", "2026-10-25",
                        "2026-10-25T12:00:00Z", "2026-10-26T00:00:00Z", "ends"},
        MembershipDates{"LondonEndsTheDayBeforeSpringForward", "Europe/London", "2026-01-01",
                        "2026-03-28", "2026-03-28T20:00:00Z", "2026-03-29T00:00:00Z", "ends"},
        MembershipDates{"LondonStartsOnSpringForwardDay", "Europe/London", "2026-03-29",
                        std::nullopt, "2026-03-28T12:00:00Z", "2026-03-29T00:00:00Z", "starts"},
        MembershipDates{"LondonStartsTheDayAfterFallBack", "Europe/London", "2026-10-26",
                        std::nullopt, "2026-10-25T23:30:00Z", "2026-10-26T00:00:00Z", "starts"},
        // New York: EDT begins 2026-03-08 07:00Z, ends 2026-11-01 06:00Z.
        MembershipDates{"NewYorkEndsOnSpringForwardDay", "America/New_York", "2026-01-01",
                        "2026-03-08", "2026-03-08T12:00:00Z", "2026-03-09T04:00:00Z", "ends"},
        MembershipDates{"NewYorkEndsOnFallBackDay", "America/New_York", "2026-01-01", "2026-11-01",
                        "2026-11-01T12:00:00Z", "2026-11-02T05:00:00Z", "ends"},
        MembershipDates{"NewYorkStartsOnSpringForwardDay", "America/New_York", "2026-03-08",
                        std::nullopt, "2026-03-07T12:00:00Z", "2026-03-08T05:00:00Z", "starts"},
        MembershipDates{"NewYorkStartsOnFallBackDay", "America/New_York", "2026-11-01",
                        std::nullopt, "2026-10-31T12:00:00Z", "2026-11-01T04:00:00Z", "starts"},
        // Havana springs forward at midnight: 2026-03-08 begins at 01:00 CDT (05:00Z).
        MembershipDates{"HavanaStartsOnADayWithoutAMidnight", "America/Havana", "2026-03-08",
                        std::nullopt, "2026-03-07T12:00:00Z", "2026-03-08T05:00:00Z", "starts"},
        // A membership that starts tomorrow and ends the same day: the start comes first.
        MembershipDates{"OneDayMembershipStartsFirst", "Europe/London", "2026-10-25", "2026-10-25",
                        "2026-10-24T12:00:00Z", "2026-10-24T23:00:00Z", "starts"},
        MembershipDates{"OpenEndedAndStartedHasNone", "Europe/London", "2026-01-01", std::nullopt,
                        "2026-10-24T12:00:00Z", "", ""}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(MembershipTransitions, AMemberWhoseStatusBarsAccessHasNone) {
    World w;
    w.member("m1", "former");
    w.membership("m1", "p-hot", "2026-01-01", "2026-12-31");
    EXPECT_FALSE(decision_for(w.map(), "m1").next_change);
}

TEST(MembershipTransitions, TheEarliestOfSeveralMembershipsIsScheduled) {
    World w;
    w.member("m1");
    w.membership("m1", "p-hot", "2026-01-01", "2026-11-30");  // Berlin: 2026-11-30T23:00Z
    w.membership("m1", "p-ded", "2026-11-25", std::nullopt);  // Berlin: 2026-11-24T23:00Z
    const Decision d = decision_for(w.map(), "m1");
    ASSERT_TRUE(d.next_change);
    EXPECT_EQ(core::format_instant(*d.next_change), "2026-11-24T23:00:00Z");
    EXPECT_NE(d.next_change_what.find("starts"), std::string::npos);
}

TEST(MembershipTransitions, ADisabledAccountIsScheduledForRemovalAfterRetention) {
    World w;
    w.cfg.sync.revoked_retention = hours{24 * 30};
    w.member("m1", "former");
    store::AccountRecord acc;
    acc.member_id = "m1";
    acc.username = "m1@cowork.test";
    acc.state = store::AccountState::kRevoked;
    acc.state_since = at("2026-11-20T10:00:00Z");
    w.ctx.accounts["m1"] = acc;
    const Decision d = decision_for(w.map(), "m1");
    ASSERT_TRUE(d.next_change);
    EXPECT_EQ(core::format_instant(*d.next_change), "2026-12-20T10:00:00Z");
    EXPECT_NE(d.next_change_what.find("retention"), std::string::npos);
}

struct ClockStep {
    const char* name;
    const char* clock;
    std::optional<const char*> through;
    const char* evaluated;
};

class EvaluationTime : public ::testing::TestWithParam<ClockStep> {};

TEST_P(EvaluationTime, NeverGoesBackWithinADay) {
    const auto& c = GetParam();
    const std::optional<core::Instant> through =
        c.through ? std::optional(at(*c.through)) : std::nullopt;
    EXPECT_EQ(core::format_instant(reconcile::evaluation_time(at(c.clock), through)), c.evaluated);
}

INSTANTIATE_TEST_SUITE_P(
    Steps, EvaluationTime,
    ::testing::Values(ClockStep{"FirstRunTakesTheClock", "2026-12-01T10:00:00Z", std::nullopt,
                                "2026-12-01T10:00:00Z"},
                      ClockStep{"ForwardTakesTheClock", "2026-12-01T10:00:00Z",
                                "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"},
                      ClockStep{"StepBackByAnHourIsHeld", "2026-12-01T23:10:00Z",
                                "2026-12-02T00:10:00Z", "2026-12-02T00:10:00Z"},
                      ClockStep{"StepBackByADayIsHeld", "2026-12-01T00:10:00Z",
                                "2026-12-02T00:10:00Z", "2026-12-02T00:10:00Z"},
                      ClockStep{"StepBackByMoreThanADayTakesTheClock", "2026-11-30T00:09:59Z",
                                "2026-12-02T00:10:00Z", "2026-11-30T00:09:59Z"}),
    [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace radsync::mapping

namespace radsync::mapping {
namespace {

using namespace test_world;
using Outcome = Decision::Outcome;

struct PassCase {
    const char* name;
    const char* zone;
    const char* valid_from;
    std::optional<const char*> valid_to;
    config::PassOpenEnd open_end;
    const char* now;
    Outcome outcome;
    const char* next_at;  // "" when none
    const char* next_what;
};

class PassWindows : public ::testing::TestWithParam<PassCase> {};

TEST_P(PassWindows, EndAtLocalMidnightOrTheirOwnEnd) {
    const auto& c = GetParam();
    World w;
    w.enable_passes();
    w.cfg.mapping.passes->open_end = c.open_end;
    w.cfg.mapping.locations.clear();
    w.snap.locations.push_back(World::location("l-zone", "Zone", c.zone));
    w.member("v1", "contact", "l-down");  // not an active member: the pass alone counts
    w.pass("v1", c.valid_from, c.valid_to, "l-zone");
    w.ctx.now = at(c.now);
    const auto state = w.map();
    const Decision& d = decision_for(state, "v1");
    EXPECT_EQ(d.outcome, c.outcome) << d.reason;
    if (*c.next_at == '\0') {
        EXPECT_FALSE(d.next_change);
        return;
    }
    ASSERT_TRUE(d.next_change) << d.reason;
    EXPECT_EQ(core::format_instant(*d.next_change), c.next_at);
    EXPECT_NE(d.next_change_what.find(c.next_what), std::string::npos) << d.next_change_what;
    if (d.outcome == Outcome::kGranted) {
        EXPECT_EQ(d.account->group, "day-pass");
        EXPECT_EQ(d.account->kind, store::AccountKind::kPass);
        ASSERT_TRUE(d.account->expires);
        EXPECT_EQ(*d.account->expires, *d.next_change);
        const auto rows = rows_of(state, d.account->username);
        EXPECT_NE(
            std::find(
                rows.begin(), rows.end(),
                store::RadRow{store::Table::kRadcheck, d.account->username, "Expiration",
                              ":=", std::to_string(d.next_change->time_since_epoch().count()), 0}),
            rows.end());
    }
    // Access flips exactly at the transition.
    w.ctx.now = *d.next_change - seconds{1};
    EXPECT_EQ(decision_for(w.map(), "v1").outcome, d.outcome);
    w.ctx.now = *d.next_change;
    EXPECT_NE(decision_for(w.map(), "v1").outcome == Outcome::kGranted,
              d.outcome == Outcome::kGranted);
}

constexpr auto kMidnight = config::PassOpenEnd::kMidnight;
constexpr auto k24h = config::PassOpenEnd::k24Hours;

INSTANTIATE_TEST_SUITE_P(
    Dst, PassWindows,
    ::testing::Values(
        PassCase{"LondonOnSpringForwardDayEndsAtBstMidnight", "Europe/London",
                 "2026-03-29T09:00:00Z", std::nullopt, kMidnight, "2026-03-29T12:00:00Z",
                 Outcome::kGranted, "2026-03-29T23:00:00Z", "ends"},
        PassCase{"LondonOnFallBackDayEndsAtGmtMidnight", "Europe/London", "2026-10-25T09:00:00Z",
                 std::nullopt, kMidnight, "2026-10-25T12:00:00Z", Outcome::kGranted,
                 "2026-10-26T00:00:00Z", "ends"},
        PassCase{"LondonBoughtBeforeTheSwitchOnTheSwitchDay", "Europe/London",
                 "2026-03-29T00:30:00Z", std::nullopt, kMidnight, "2026-03-29T00:45:00Z",
                 Outcome::kGranted, "2026-03-29T23:00:00Z", "ends"},
        PassCase{"NewYorkOnSpringForwardDay", "America/New_York", "2026-03-08T14:00:00Z",
                 std::nullopt, kMidnight, "2026-03-08T15:00:00Z", Outcome::kGranted,
                 "2026-03-09T04:00:00Z", "ends"},
        PassCase{"NewYorkOnFallBackDay", "America/New_York", "2026-11-01T14:00:00Z", std::nullopt,
                 kMidnight, "2026-11-01T15:00:00Z", Outcome::kGranted, "2026-11-02T05:00:00Z",
                 "ends"},
        PassCase{"NewYorkBoughtInTheRepeatedHour", "America/New_York", "2026-11-01T06:30:00Z",
                 std::nullopt, kMidnight, "2026-11-01T06:40:00Z", Outcome::kGranted,
                 "2026-11-02T05:00:00Z", "ends"},
        PassCase{"TwentyFourHoursAcrossTheSwitch", "Europe/London", "2026-03-28T09:00:00Z",
                 std::nullopt, k24h, "2026-03-28T12:00:00Z", Outcome::kGranted,
                 "2026-03-29T09:00:00Z", "ends"},
        PassCase{"ItsOwnEndWins", "America/New_York", "2026-03-08T14:00:00Z",
                 "2026-03-08T22:00:00Z", kMidnight, "2026-03-08T15:00:00Z", Outcome::kGranted,
                 "2026-03-08T22:00:00Z", "ends"},
        PassCase{"NotYetValidStartsOnTime", "Europe/London", "2026-10-25T08:00:00Z", std::nullopt,
                 kMidnight, "2026-10-24T23:00:00Z", Outcome::kNoAccess, "2026-10-25T08:00:00Z",
                 "starts"},
        PassCase{"EndedGivesNothing", "Europe/London", "2026-10-20T08:00:00Z",
                 "2026-10-20T18:00:00Z", kMidnight, "2026-10-21T08:00:00Z", Outcome::kNoAccess, "",
                 ""}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(Passes, StatusCountsAndCompaniesDecideWhoIsCovered) {
    World w;
    w.enable_passes();
    w.ctx.now = at("2026-11-22T12:00:00Z");
    w.member("pending", "contact");
    w.pass("pending", "2026-11-22T08:00:00Z", std::nullopt, "", "pending");
    w.member("expired", "contact");
    w.pass("expired", "2026-11-22T08:00:00Z", std::nullopt, "", "expired");
    // Every pass of the set used: the day of the last use still counts, not the next.
    w.member("usedup", "contact");
    auto& used = w.pass("usedup", "2026-11-01T00:00:00Z", "2026-11-30T23:00:00Z");
    used.count = 5;
    used.used_count = 5;
    used.modified_at = at("2026-11-22T09:00:00Z");
    w.member("usedyesterday", "contact");
    auto& old = w.pass("usedyesterday", "2026-11-01T00:00:00Z", "2026-11-30T23:00:00Z");
    old.count = 5;
    old.used_count = 5;
    old.modified_at = at("2026-11-21T09:00:00Z");
    w.member("leftover", "contact");
    auto& left = w.pass("leftover", "2026-11-01T00:00:00Z", "2026-11-30T23:00:00Z");
    left.count = 5;
    left.used_count = 2;
    // A company pass nobody is assigned to covers nobody by default.
    w.member("staff", "active", "l-down", "c1");
    w.company_membership("c2", "p-x");  // c1 itself needs to exist
    snapshot::Company c1;
    c1.id = "c1";
    c1.status = "active";
    w.snap.companies.push_back(c1);
    w.pass("", "2026-11-22T08:00:00Z").company = "c1";

    auto state = w.map();
    EXPECT_EQ(decision_for(state, "pending").outcome, Outcome::kNoAccess);
    EXPECT_NE(decision_for(state, "pending").reason.find("pass status is 'pending'"),
              std::string::npos);
    EXPECT_EQ(decision_for(state, "expired").outcome, Outcome::kNoAccess);
    const Decision& u = decision_for(state, "usedup");
    ASSERT_EQ(u.outcome, Outcome::kGranted) << u.reason;
    EXPECT_EQ(core::format_instant(*u.account->expires), "2026-11-22T23:00:00Z");  // Berlin
    EXPECT_EQ(decision_for(state, "usedyesterday").outcome, Outcome::kNoAccess);
    const Decision& l = decision_for(state, "leftover");
    ASSERT_EQ(l.outcome, Outcome::kGranted);
    EXPECT_EQ(core::format_instant(*l.account->expires), "2026-11-30T23:00:00Z");
    EXPECT_EQ(decision_for(state, "staff").outcome, Outcome::kNoAccess);

    w.cfg.mapping.passes->company_passes = config::CompanyPasses::kAllMembers;
    state = w.map();
    const Decision& s = decision_for(state, "staff");
    ASSERT_EQ(s.outcome, Outcome::kGranted) << s.reason;
    EXPECT_NE(s.reason.find("(company)"), std::string::npos);
}

TEST(Passes, ShouldGrantActiveStatusLetsTheHoldersMembershipsCountToo) {
    World w;
    w.enable_passes();
    w.ctx.now = at("2026-11-22T12:00:00Z");
    w.member("m1", "drop-in");
    w.membership("m1", "p-hot");  // basic, rank 10: better than the pass group
    auto& p = w.pass("m1", "2026-11-22T08:00:00Z");

    auto state = w.map();
    EXPECT_EQ(decision_for(state, "m1").account->group, "day-pass");
    EXPECT_EQ(decision_for(state, "m1").account->kind, store::AccountKind::kPass);

    p.grants_active_status = true;
    state = w.map();
    const Decision& d = decision_for(state, "m1");
    EXPECT_EQ(d.account->group, "basic") << d.reason;
    EXPECT_EQ(d.account->kind, store::AccountKind::kMember);
    // The open-ended membership makes the account open-ended too.
    EXPECT_FALSE(d.account->expires);
}

TEST(Passes, AnActiveMemberWithAPassKeepsTheBetterGroupAndTheLaterEnd) {
    World w;
    w.enable_passes();
    w.ctx.now = at("2026-11-22T12:00:00Z");
    w.member("m1");
    w.membership("m1", "p-hot", "2026-01-01", "2026-11-22");  // ends tonight (Berlin)
    w.pass("m1", "2026-11-22T08:00:00Z", "2026-11-23T12:00:00Z");
    const Decision d = decision_for(w.map(), "m1");
    ASSERT_EQ(d.outcome, Outcome::kGranted);
    EXPECT_EQ(d.account->group, "basic");
    EXPECT_EQ(core::format_instant(*d.account->expires), "2026-11-23T12:00:00Z");
    EXPECT_EQ(core::format_instant(*d.next_change), "2026-11-22T23:00:00Z");  // group changes
}

TEST(Passes, APassHolderIsLimitedToThePassLocation) {
    World w;
    w.enable_passes();
    w.ctx.now = at("2026-11-22T12:00:00Z");
    w.member("v1", "contact", "l-down");
    w.pass("v1", "2026-11-22T08:00:00Z", std::nullopt, "l-up");
    EXPECT_EQ(decision_for(w.map(), "v1").account->locations, "uptown");
    w.snap.passes.back().location.clear();  // no location on the pass: the holder's home
    EXPECT_EQ(decision_for(w.map(), "v1").account->locations, "downtown");
    w.cfg.mapping.passes->roaming = config::Roaming::kAll;
    EXPECT_EQ(decision_for(w.map(), "v1").account->locations, "downtown,tokyo,uptown");
}

TEST(Passes, AnExpiredPassAccountIsSweptAtTheSweepTimeNotKeptForTheRetention) {
    World w;
    w.enable_passes();
    w.cfg.mapping.passes->sweep_at = minutes{3 * 60};  // 03:00 Berlin
    w.member("v1", "contact");
    w.pass("v1", "2026-11-22T08:00:00Z", "2026-11-22T17:00:00Z");
    w.ctx.now = at("2026-11-22T12:00:00Z");
    const Decision granted = decision_for(w.map(), "v1");
    ASSERT_EQ(granted.outcome, Outcome::kGranted);
    w.ctx.accounts["v1"] = *granted.account;

    w.ctx.now = at("2026-11-22T17:00:00Z");
    const Decision revoked = decision_for(w.map(), "v1");
    ASSERT_EQ(revoked.outcome, Outcome::kRevoked);
    ASSERT_TRUE(revoked.next_change);
    EXPECT_EQ(core::format_instant(*revoked.next_change), "2026-11-23T02:00:00Z");
    EXPECT_NE(revoked.next_change_what.find("swept"), std::string::npos);
    w.ctx.accounts["v1"] = *revoked.account;

    w.ctx.now = at("2026-11-23T02:00:00Z");
    EXPECT_EQ(decision_for(w.map(), "v1").outcome, Outcome::kRemoved);

    // With the default sweep at midnight, a pass ending at midnight is swept at once.
    w.cfg.mapping.passes->sweep_at = minutes{0};
    w.snap.passes.back().valid_to.reset();
    w.ctx.now = at("2026-11-22T12:00:00Z");
    w.ctx.accounts["v1"] = *granted.account;
    w.ctx.now = at("2026-11-22T23:00:00Z");
    const Decision swept = decision_for(w.map(), "v1");
    EXPECT_EQ(swept.outcome, Outcome::kRemoved) << swept.reason;
    EXPECT_NE(swept.reason.find("swept"), std::string::npos);
}

}  // namespace
}  // namespace radsync::mapping

namespace radsync::mapping {
namespace {

using namespace test_world;
using Outcome = Decision::Outcome;

const std::string kGuestV1 = "guest:b1:v1";

TEST(Guests, AVisitorGetsAnAccountOnlyInsideTheWindowAndAtTheBookingsLocation) {
    World w;
    w.enable_guests();
    w.visitor("v1", "Vera Visitor", "vera@example.test");
    w.booking("b1", "2026-11-22T13:00:00Z", "2026-11-22T15:00:00Z", {"v1"}, "l-up");

    w.ctx.now = at("2026-11-22T12:00:00Z");
    auto state = w.map();
    Decision d = decision_for(state, kGuestV1);
    EXPECT_EQ(d.outcome, Outcome::kNoAccess);
    ASSERT_TRUE(d.next_change);
    EXPECT_EQ(core::format_instant(*d.next_change), "2026-11-22T12:45:00Z");  // 15 min grace

    w.ctx.now = at("2026-11-22T12:45:00Z");
    state = w.map();
    d = decision_for(state, kGuestV1);
    ASSERT_EQ(d.outcome, Outcome::kGranted) << d.reason;
    EXPECT_EQ(d.member_name, "Vera Visitor");
    EXPECT_EQ(d.member_email, "vera@example.test");
    EXPECT_EQ(d.account->kind, store::AccountKind::kGuest);
    EXPECT_EQ(d.account->group, "guest");
    EXPECT_EQ(d.account->locations, "uptown");
    EXPECT_EQ(core::format_instant(*d.account->expires), "2026-11-22T15:15:00Z");
    EXPECT_EQ(core::format_instant(*d.next_change), "2026-11-22T15:15:00Z");
    // guest- and six characters, none of them look-alikes; the code is generated once.
    const std::string& name = d.account->username;
    ASSERT_EQ(name.size(), 12U) << name;
    EXPECT_EQ(name.substr(0, 6), "guest-");
    EXPECT_EQ(name.substr(6).find_first_not_of("abcdefghjkmnpqrstuvwxyz23456789"),
              std::string::npos)
        << name;
    EXPECT_FALSE(d.new_password.empty());
    w.ctx.accounts[kGuestV1] = *d.account;

    // The same name and code in the next run.
    state = w.map();
    EXPECT_EQ(decision_for(state, kGuestV1).account->username, name);
    EXPECT_TRUE(decision_for(state, kGuestV1).new_password.empty());

    // At the end of the window the account goes at once (no retention for guests).
    w.ctx.now = at("2026-11-22T15:15:00Z");
    EXPECT_EQ(decision_for(w.map(), kGuestV1).outcome, Outcome::kRemoved);
}

TEST(Guests, DerivedUserNamesAreStableAndNeedAKeyedHash) {
    config::Guests guests;
    const auto hash = [](std::string_view v) {
        // The shape of mapping::keyed_hash: a prefix and 64 hex digits.
        std::string out = "hmac:";
        for (std::size_t i = 0; i < 64; ++i) {
            out.push_back("0123456789abcdef"[(v.size() * 7 + i * 13) % 16]);
        }
        return out;
    };
    const std::string a = derived_guest_username("guest:b1:v1", guests, hash);
    EXPECT_EQ(a, derived_guest_username("guest:b1:v1", guests, hash));
    EXPECT_EQ(a.size(), 12U) << a;
    EXPECT_EQ(a.rfind("guest-", 0), 0U);
    EXPECT_EQ(derived_guest_username("guest:b1:v1", guests, {}), "");
    EXPECT_EQ(derived_guest_username("guest:b1:v1", guests,
                                     [](std::string_view) { return std::string(64, 'z'); }),
              "");
    EXPECT_EQ(guest_name_from("ab", guests), "");  // too little entropy for six characters
}

TEST(Guests, ABookingWithoutALocationIsAtItsResourcesLocation) {
    World w;
    w.enable_guests();
    w.snap.resources.front().location = "l-up";
    w.booking("b1", "2026-11-22T13:00:00Z", "2026-11-22T15:00:00Z", {"v1"}, "");
    w.ctx.now = at("2026-11-22T13:30:00Z");
    const Decision d = decision_for(w.map(), kGuestV1);
    ASSERT_EQ(d.outcome, Outcome::kGranted) << d.reason;
    EXPECT_EQ(d.account->locations, "uptown");
}

TEST(Guests, CancelledTentativeMovedAndRemovedBookingsChangeGuestsAtOnce) {
    World w;
    w.enable_guests();
    w.ctx.now = at("2026-11-22T13:30:00Z");
    auto& b = w.booking("b1", "2026-11-22T13:00:00Z", "2026-11-22T15:00:00Z", {"v1"});
    const Decision granted = decision_for(w.map(), kGuestV1);
    ASSERT_EQ(granted.outcome, Outcome::kGranted);
    w.ctx.accounts[kGuestV1] = *granted.account;

    b.tentative = true;
    Decision d = decision_for(w.map(), kGuestV1);
    EXPECT_EQ(d.outcome, Outcome::kRemoved);
    EXPECT_NE(d.reason.find("tentative"), std::string::npos);
    b.tentative = false;

    b.cancelled = true;
    d = decision_for(w.map(), kGuestV1);
    EXPECT_EQ(d.outcome, Outcome::kRemoved);
    EXPECT_NE(d.reason.find("cancelled"), std::string::npos);
    b.cancelled = false;

    b.end = at("2026-11-22T17:00:00Z");  // moved: the new end counts
    EXPECT_EQ(core::format_instant(*decision_for(w.map(), kGuestV1).account->expires),
              "2026-11-22T17:15:00Z");

    b.resource = "r-desk";  // a hot desk gives guests nothing
    EXPECT_EQ(decision_for(w.map(), kGuestV1).outcome, Outcome::kRemoved);

    w.snap.bookings.clear();  // removed
    d = decision_for(w.map(), kGuestV1);
    EXPECT_EQ(d.outcome, Outcome::kRemoved);
    EXPECT_NE(d.reason.find("no longer"), std::string::npos);
}

TEST(Guests, ResourceTypesMatchByKeyTitleOrId) {
    World w;
    w.enable_guests();
    w.cfg.mapping.guests->resource_types = {"Event space"};
    snapshot::Resource hall;
    hall.id = "r-hall";
    hall.type = "rt-1";
    w.snap.resources.push_back(hall);
    snapshot::ResourceType type;
    type.id = "rt-1";
    type.title = "Event space";
    type.type = "event_space";
    w.snap.resource_types.push_back(type);
    w.ctx.now = at("2026-11-22T13:30:00Z");
    w.booking("b1", "2026-11-22T13:00:00Z", "2026-11-22T15:00:00Z", {"v1"}, "l-down", "r-hall");
    w.booking("b2", "2026-11-22T13:00:00Z", "2026-11-22T15:00:00Z", {"v2"});  // meeting_room
    const auto state = w.map();
    EXPECT_EQ(decision_for(state, kGuestV1).outcome, Outcome::kGranted);
    EXPECT_THROW((void)decision_for(state, "guest:b2:v2"), std::runtime_error);
}

TEST(Guests, MembersOfOtherCompaniesAreGuestsWhenConfigured) {
    World w;
    w.enable_guests();
    w.ctx.now = at("2026-11-22T13:30:00Z");
    w.member("host", "active", "l-down", "c1");
    w.member("mate", "active", "l-down", "c1");
    w.member("partner", "contact", "l-down", "c2");
    auto& b = w.booking("b1", "2026-11-22T13:00:00Z", "2026-11-22T15:00:00Z", {});
    b.members = {"mate", "partner"};
    auto state = w.map();
    EXPECT_THROW((void)decision_for(state, "guest:b1:partner"), std::runtime_error);
    w.cfg.mapping.guests->members_of_other_companies = true;
    state = w.map();
    EXPECT_EQ(decision_for(state, "guest:b1:partner").outcome, Outcome::kGranted);
    EXPECT_EQ(decision_for(state, "guest:b1:partner").member_email, "partner@cowork.test");
    EXPECT_THROW((void)decision_for(state, "guest:b1:mate"), std::runtime_error);
}

struct RecurringCase {
    const char* name;
    const char* zone;
    const char* first_start;
    const char* first_end;
    const char* rrule;
    const char* now;
    Outcome outcome;
    const char* next_at;
};

class RecurringBookings : public ::testing::TestWithParam<RecurringCase> {};

TEST_P(RecurringBookings, TheOccurrenceInEffectCountsInTheBookingsWallClock) {
    const auto& c = GetParam();
    World w;
    w.enable_guests();
    w.cfg.mapping.guests->grace_before = seconds{0};
    w.cfg.mapping.guests->grace_after = seconds{0};
    auto& b = w.booking("b1", c.first_start, c.first_end, {"v1"});
    b.timezone = c.zone;
    b.rrule = c.rrule;
    w.ctx.now = at(c.now);
    const auto state = w.map();
    const Decision& d = decision_for(state, kGuestV1);
    EXPECT_EQ(d.outcome, c.outcome) << d.reason;
    ASSERT_TRUE(d.next_change) << d.reason;
    EXPECT_EQ(core::format_instant(*d.next_change), c.next_at);
}

INSTANTIATE_TEST_SUITE_P(
    Dst, RecurringBookings,
    ::testing::Values(
        // Weekly at 09:00 London: 09:00Z in winter, 08:00Z after the spring switch.
        RecurringCase{"WeeklyAfterSpringForwardKeepsLocalTime", "Europe/London",
                      "2026-03-17T09:00:00Z", "2026-03-17T10:00:00Z", "FREQ=WEEKLY",
                      "2026-03-31T08:30:00Z", Outcome::kGranted, "2026-03-31T09:00:00Z"},
        RecurringCase{"WeeklyNextOccurrenceAcrossTheSwitch", "Europe/London",
                      "2026-03-24T09:00:00Z", "2026-03-24T10:00:00Z", "FREQ=WEEKLY",
                      "2026-03-24T12:00:00Z", Outcome::kNoAccess, "2026-03-31T08:00:00Z"},
        RecurringCase{"NewYorkDailyAcrossFallBack", "America/New_York", "2026-10-30T13:00:00Z",
                      "2026-10-30T14:00:00Z", "FREQ=DAILY;COUNT=5", "2026-11-02T12:00:00Z",
                      Outcome::kNoAccess, "2026-11-02T14:00:00Z"},
        RecurringCase{"CountEndsTheSeries", "America/New_York", "2026-10-30T13:00:00Z",
                      "2026-10-30T14:00:00Z", "FREQ=DAILY;COUNT=2", "2026-10-31T12:00:00Z",
                      Outcome::kNoAccess, "2026-10-31T13:00:00Z"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(Guests, ABookingSpanningTheDstSwitchEndsAtItsOwnInstant) {
    World w;
    w.enable_guests();
    // An all-night event in London across the end of BST (01:00Z on 2026-10-25).
    w.booking("b1", "2026-10-24T22:00:00Z", "2026-10-25T03:00:00Z", {"v1"});
    w.ctx.now = at("2026-10-25T01:30:00Z");
    const auto state = w.map();
    const Decision& d = decision_for(state, kGuestV1);
    ASSERT_EQ(d.outcome, Outcome::kGranted);
    EXPECT_EQ(core::format_instant(*d.account->expires), "2026-10-25T03:15:00Z");
}

TEST(Guests, AnUnreadableRecurrenceRuleGivesNothingAndSaysWhy) {
    World w;
    w.enable_guests();
    auto& b = w.booking("b1", "2026-11-22T13:00:00Z", "2026-11-22T15:00:00Z", {"v1"});
    b.rrule = "FREQ=SOMETIMES";
    w.ctx.now = at("2026-11-22T13:30:00Z");
    const Decision d = decision_for(w.map(), kGuestV1);
    EXPECT_EQ(d.outcome, Outcome::kNoAccess);
    EXPECT_NE(d.reason.find("not valid"), std::string::npos) << d.reason;
}

}  // namespace
}  // namespace radsync::mapping
