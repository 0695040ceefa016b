#include <gtest/gtest.h>

#include "radsync/core/timezone.hpp"
#include "radsync/session/presence.hpp"

namespace radsync::session {
namespace {

using namespace std::chrono_literals;
using Kind = CheckinAction::Kind;

// Berlin is UTC+1 in January: its day 2027-01-15 runs from 2027-01-14T23:00Z.
core::Instant at(const std::string& iso) {
    return core::parse_instant(iso).value();
}

struct World {
    PresenceInput in;
    World() {
        in.members = {{"ann@cowork.test", "m-ann"}, {"bob@cowork.test", "m-bob"}};
        in.sites = {{"loc-berlin",
                     core::TimeZone::locate("Europe/Berlin").value(),
                     {"10.0.0.2"},
                     {"CoWork"}}};
        in.now = at("2027-01-15T09:00:00Z");
        in.checkout_after = 30min;
    }
    void session(const std::string& user, const std::string& start,
                 std::optional<std::string> stop = std::nullopt, std::string nas = "10.0.0.2",
                 std::string called = "", std::optional<std::string> heard = std::nullopt) {
        in.sessions.push_back({user, std::move(nas), std::move(called), at(start),
                               at(heard.value_or(start)),
                               stop ? std::optional(at(*stop)) : std::nullopt});
    }
    void record(const std::string& member, const std::string& day, CheckinState state,
                const std::string& start, int attempts = 0) {
        in.records.push_back(
            {member, "loc-berlin", day, state, at(start), std::nullopt, "c-1", attempts, ""});
    }
};

TEST(Presence, TheFirstSessionOfTheDayChecksInOnceAtItsStart) {
    World w;
    w.session("ann@cowork.test", "2027-01-15T08:10:00Z", "2027-01-15T08:40:00Z");
    w.session("ann@cowork.test", "2027-01-15T08:50:00Z");  // a second device, later
    const auto actions = plan_checkins(w.in);
    ASSERT_EQ(actions.size(), 1U);
    EXPECT_EQ(actions[0].kind, Kind::kCheckIn);
    EXPECT_EQ(actions[0].member_id, "m-ann");
    EXPECT_EQ(actions[0].location_id, "loc-berlin");
    EXPECT_EQ(actions[0].day, "2027-01-15");
    EXPECT_EQ(actions[0].at, at("2027-01-15T08:10:00Z"));
    EXPECT_EQ(actions[0].day_start, at("2027-01-14T23:00:00Z"));
    EXPECT_EQ(actions[0].day_end, at("2027-01-15T23:00:00Z"));

    w.record("m-ann", "2027-01-15", CheckinState::kOpen, "2027-01-15T08:10:00Z");
    EXPECT_TRUE(plan_checkins(w.in).empty());  // recorded: nothing more today
}

TEST(Presence, ASessionFromYesterdayCountsFromTheLocalMidnightOnceHeardOfToday) {
    World w;
    // 23:30 in Berlin, still open, its last interim update before midnight: a device left on.
    w.session("ann@cowork.test", "2027-01-14T22:30:00Z", std::nullopt, "10.0.0.2", "",
              "2027-01-14T22:50:00Z");
    EXPECT_TRUE(plan_checkins(w.in).empty());
    w.in.sessions[0].last_heard = at("2027-01-15T08:55:00Z");  // an interim update this morning
    const auto actions = plan_checkins(w.in);
    ASSERT_EQ(actions.size(), 1U);
    EXPECT_EQ(actions[0].day, "2027-01-15");
    EXPECT_EQ(actions[0].at, at("2027-01-14T23:00:00Z"));
}

TEST(Presence, UnknownUsersAndOtherNetworksAreIgnoredAndSsidsMatchByName) {
    World w;
    w.session("guest-17@cowork.test", "2027-01-15T08:00:00Z");  // not a member account
    w.session("bob@cowork.test", "2027-01-15T08:00:00Z", std::nullopt, "10.9.9.9");  // elsewhere
    EXPECT_TRUE(plan_checkins(w.in).empty());
    w.session("bob@cowork.test", "2027-01-15T08:05:00Z", std::nullopt, "10.9.9.9",
              "AA-BB-CC-DD-EE-FF:cowork");  // the SSID, in other case
    const auto actions = plan_checkins(w.in);
    ASSERT_EQ(actions.size(), 1U);
    EXPECT_EQ(actions[0].member_id, "m-bob");
    EXPECT_EQ(actions[0].at, at("2027-01-15T08:05:00Z"));
}

TEST(Presence, APendingCheckinIsRetriedAsFirstDecidedWhateverItsDay) {
    World w;
    w.session("ann@cowork.test", "2027-01-15T08:30:00Z");
    w.record("m-ann", "2027-01-15", CheckinState::kPending, "2027-01-15T08:10:00Z", 3);
    w.record("m-bob", "2027-01-14", CheckinState::kPending, "2027-01-14T16:00:00Z", 1);
    const auto actions = plan_checkins(w.in);
    ASSERT_EQ(actions.size(), 2U);
    EXPECT_EQ(actions[0].kind, Kind::kCheckIn);
    EXPECT_EQ(actions[0].member_id, "m-ann");
    EXPECT_EQ(actions[0].at, at("2027-01-15T08:10:00Z"));  // the start a GET can recognise
    // Yesterday's, to be resolved from what OfficeRnD has (the worker never POSTs for it).
    EXPECT_EQ(actions[1].member_id, "m-bob");
    EXPECT_EQ(actions[1].day, "2027-01-14");
    EXPECT_EQ(actions[1].day_end, at("2027-01-14T23:00:00Z"));
}

TEST(Presence, ChecksOutAtTheLastStopOnceNothingWasOpenForCheckoutAfter) {
    World w;
    w.session("ann@cowork.test", "2027-01-15T07:00:00Z", "2027-01-15T08:10:00Z");
    w.session("ann@cowork.test", "2027-01-15T07:30:00Z", "2027-01-15T08:40:00Z");
    w.record("m-ann", "2027-01-15", CheckinState::kOpen, "2027-01-15T07:00:00Z");
    EXPECT_TRUE(plan_checkins(w.in).empty());  // 20 minutes since the last Stop
    w.in.now = at("2027-01-15T09:10:00Z");
    auto actions = plan_checkins(w.in);
    ASSERT_EQ(actions.size(), 1U);
    EXPECT_EQ(actions[0].kind, Kind::kCheckOut);
    EXPECT_EQ(actions[0].at, at("2027-01-15T08:40:00Z"));
    EXPECT_EQ(actions[0].checkin_id, "c-1");
    w.session("ann@cowork.test", "2027-01-15T09:05:00Z");  // back: still there
    EXPECT_TRUE(plan_checkins(w.in).empty());
}

TEST(Presence, AtTheEndOfTheDayEveryOpenCheckinIsCheckedOutBeforeTheNextDaysBegin) {
    World w;
    w.in.now = at("2027-01-16T07:00:00Z");  // 08:00 the next day in Berlin
    // Ann's session ran past midnight (an update this morning): checked out at the day's last
    // second; checked in for the new day only once that is done.
    w.session("ann@cowork.test", "2027-01-15T17:00:00Z", std::nullopt, "10.0.0.2", "",
              "2027-01-16T06:50:00Z");
    w.record("m-ann", "2027-01-15", CheckinState::kOpen, "2027-01-15T17:00:00Z");
    // Bob left at 22:50 local, ten minutes before midnight: checked out at his Stop.
    w.session("bob@cowork.test", "2027-01-15T20:00:00Z", "2027-01-15T21:50:00Z");
    w.record("m-bob", "2027-01-15", CheckinState::kOpen, "2027-01-15T20:00:00Z");
    auto actions = plan_checkins(w.in);
    ASSERT_EQ(actions.size(), 2U);
    EXPECT_EQ(actions[0].kind, Kind::kCheckOut);
    EXPECT_EQ(actions[0].member_id, "m-ann");
    EXPECT_EQ(actions[0].at, at("2027-01-15T22:59:59Z"));
    EXPECT_EQ(actions[1].kind, Kind::kCheckOut);
    EXPECT_EQ(actions[1].member_id, "m-bob");
    EXPECT_EQ(actions[1].at, at("2027-01-15T21:50:00Z"));

    w.in.records[0].state = CheckinState::kClosed;
    w.in.records[1].state = CheckinState::kClosed;
    actions = plan_checkins(w.in);
    ASSERT_EQ(actions.size(), 1U);
    EXPECT_EQ(actions[0].kind, Kind::kCheckIn);
    EXPECT_EQ(actions[0].member_id, "m-ann");
    EXPECT_EQ(actions[0].day, "2027-01-16");
    EXPECT_EQ(actions[0].at, at("2027-01-15T23:00:00Z"));
}

TEST(Presence, ARecordWhoseLocationIsNoSiteAnyMoreWaits) {
    World w;
    w.in.now = at("2027-01-16T07:00:00Z");
    w.in.records.push_back({"m-ann", "loc-gone", "2027-01-15", CheckinState::kOpen,
                            at("2027-01-15T08:00:00Z"), std::nullopt, "c-1", 0, ""});
    EXPECT_TRUE(plan_checkins(w.in).empty());
}

TEST(Presence, OneCheckinADayAndOthersCheckinsAreLeftAlone) {
    World w;
    w.session("ann@cowork.test", "2027-01-15T08:50:00Z");  // back after being checked out
    w.record("m-ann", "2027-01-15", CheckinState::kClosed, "2027-01-15T07:00:00Z");
    w.session("bob@cowork.test", "2027-01-15T06:00:00Z", "2027-01-15T07:00:00Z");
    w.record("m-bob", "2027-01-15", CheckinState::kAdopted, "2027-01-15T06:00:00Z");
    EXPECT_TRUE(plan_checkins(w.in).empty());
}

TEST(Presence, SitesAreTheLocationRulesThatNameAccessPoints) {
    config::Config cfg;
    cfg.default_timezone = "Europe/London";
    config::LocationRule downtown;
    downtown.match.name = "Downtown";
    downtown.key = "downtown";
    downtown.nas_ip_addresses = {"10.0.0.2"};
    config::LocationRule annex;  // matched by NAS-Identifier only: radacct cannot tell
    annex.match.name = "Annex";
    annex.key = "annex";
    annex.nas_identifiers = {"annex"};
    config::LocationRule harbour;
    harbour.match.id = "loc-3";
    harbour.key = "harbour";
    harbour.ssids = {"Harbour"};
    harbour.timezone = "Europe/Berlin";
    cfg.mapping.locations = {downtown, annex, harbour};
    snapshot::Snapshot snap;
    snapshot::Location a;
    a.id = "loc-1";
    a.name = "Downtown";
    snapshot::Location b;
    b.id = "loc-2";
    b.name = "Annex";
    snapshot::Location c;
    c.id = "loc-3";
    c.name = "Harbour";
    c.timezone = "Europe/Lisbon";
    snap.locations = {a, b, c};
    const auto sites = presence_sites(cfg, snap);
    ASSERT_EQ(sites.size(), 2U);
    EXPECT_EQ(sites[0].location_id, "loc-1");
    EXPECT_EQ(sites[0].zone.name(), "Europe/London");  // neither rule nor OfficeRnD says
    EXPECT_EQ(sites[1].location_id, "loc-3");
    EXPECT_EQ(sites[1].zone.name(), "Europe/Berlin");  // the rule over OfficeRnD's
    EXPECT_EQ(sites[1].ssids, std::vector<std::string>{"Harbour"});
}

}  // namespace
}  // namespace radsync::session
