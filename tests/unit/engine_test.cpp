#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "mapping_world.hpp"
#include "radsync/mapping/engine.hpp"

namespace radsync::mapping {
namespace {

using namespace std::chrono;
using namespace test_world;
using Outcome = Decision::Outcome;
using store::RadRow;
using store::Table;

struct AccessCase {
    const char* name;
    std::function<void(World&)> setup;
    Outcome outcome;
    const char* group;      // expected group ("" when not granted)
    const char* locations;  // expected location keys
    const char* expires;    // ISO instant or ""
    const char* reason_has;
};

class AccessRules : public ::testing::TestWithParam<AccessCase> {};

TEST_P(AccessRules, DecidesAsTheAccessModelSays) {
    const AccessCase& c = GetParam();
    World w;
    c.setup(w);
    const auto state = w.map();
    const Decision& d = decision_for(state, "m");
    EXPECT_EQ(to_string(d.outcome), std::string(to_string(c.outcome))) << d.reason;
    EXPECT_NE(d.reason.find(c.reason_has), std::string::npos) << "reason: " << d.reason;
    if (c.outcome == Outcome::kGranted) {
        ASSERT_TRUE(d.account);
        EXPECT_EQ(d.account->group, c.group);
        EXPECT_EQ(d.account->locations, c.locations);
        EXPECT_EQ(d.account->expires ? core::format_instant(*d.account->expires) : "", c.expires);
    } else {
        EXPECT_FALSE(d.account);
    }
}

const AccessCase kAccessCases[] = {
    {"personal_hot_desk",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-hot");
     },
     Outcome::kGranted, "basic", "downtown", "", "-> group basic; roaming home: downtown"},
    {"former_member",
     [](World& w) {
         w.member("m", "former");
         w.membership("m", "p-hot");
     },
     Outcome::kNoAccess, "", "", "", "member status is 'former'"},
    {"lead_member",
     [](World& w) {
         w.member("m", "lead");
         w.membership("m", "p-hot");
     },
     Outcome::kNoAccess, "", "", "", "member status is 'lead'"},
    {"ended_yesterday_berlin",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-hot", "2026-01-01", "2026-11-21");
     },
     Outcome::kNoAccess, "", "", "", "ended 2026-11-21"},
    {"ends_today_expires_at_berlin_midnight",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-hot", "2026-01-01", "2026-11-22");
     },
     Outcome::kGranted, "basic", "downtown", "2026-11-22T23:00:00Z", "until 2026-11-22T23:00:00Z"},
    {"ended_in_berlin_though_not_in_utc",
     [](World& w) {
         w.ctx.now = at("2026-11-21T23:30:00Z");  // already 22 Nov in Berlin
         w.member("m");
         w.membership("m", "p-hot", "2026-01-01", "2026-11-21");
     },
     Outcome::kNoAccess, "", "", "", "ended 2026-11-21"},
    {"starts_tomorrow",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-hot", "2026-11-23");
     },
     Outcome::kNoAccess, "", "", "", "starts 2026-11-23"},
    {"not_approved",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-hot").calculated_status = "not_approved";
     },
     Outcome::kNoAccess, "", "", "", "not approved"},
    {"stale_calculated_status_loses_to_dates",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-hot", "2026-01-01", "2026-12-31").calculated_status = "expired";
     },
     Outcome::kGranted, "basic", "downtown", "2026-12-31T23:00:00Z", "group basic"},
    {"expired_without_dates_trusts_officernd",
     [](World& w) {
         w.member("m");
         auto& ms = w.membership("m", "p-hot");
         ms.start_date.reset();
         ms.calculated_status = "expired";
     },
     Outcome::kNoAccess, "", "", "", "membership 'p-hot': expired"},
    {"virtual_office_only",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-vo");
     },
     Outcome::kNoAccess, "", "", "", "group virtual-office has access: none"},
    {"virtual_office_and_hot_desk",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-vo");
         w.membership("m", "p-hot");
     },
     Outcome::kGranted, "basic", "downtown", "", "group basic"},
    {"best_rank_wins_and_brings_its_roaming",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-hot");
         w.membership("m", "p-ded");
     },
     Outcome::kGranted, "pro", "downtown,tokyo,uptown", "", "roaming all"},
    {"unmapped_plan",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-x");
     },
     Outcome::kNoAccess, "", "", "", "plan 'Meeting Credits' is not mapped"},
    {"no_membership", [](World& w) { w.member("m"); }, Outcome::kNoAccess, "", "", "",
     "no membership"},
    {"company_membership_covers_member",
     [](World& w) {
         w.member("m", "active", "l-up", "c1");
         w.company_membership("c1", "p-hot");
     },
     Outcome::kGranted, "basic", "uptown", "", "membership 'p-hot' (company)"},
    {"company_membership_does_not_cover_contacts",
     [](World& w) {
         w.member("m", "contact", "l-up", "c1");
         w.company_membership("c1", "p-hot");
     },
     Outcome::kNoAccess, "", "", "", "member status is 'contact'"},
    {"other_company_membership_ignored",
     [](World& w) {
         w.member("m", "active", "l-up", "c1");
         w.company_membership("c2", "p-hot");
     },
     Outcome::kNoAccess, "", "", "", "no membership"},
    {"roaming_membership_uses_membership_locations",
     [](World& w) {
         w.cfg.mapping.roaming = config::Roaming::kMembership;
         w.member("m", "active", "l-down");
         w.membership("m", "p-hot", "2026-01-01", std::nullopt, "l-up");
     },
     Outcome::kGranted, "basic", "uptown", "", "roaming membership: uptown"},
    {"home_location_not_mapped",
     [](World& w) {
         w.member("m", "active", "l-elsewhere");
         w.membership("m", "p-hot");
     },
     Outcome::kNoAccess, "", "", "", "location 'Elsewhere' is not mapped"},
    {"home_falls_back_to_membership_location",
     [](World& w) {
         w.member("m", "active", "");
         w.membership("m", "p-hot", "2026-01-01", std::nullopt, "l-up");
     },
     Outcome::kGranted, "basic", "uptown", "", "roaming home: uptown"},
    {"one_open_ended_membership_means_no_expiry",
     [](World& w) {
         w.member("m");
         w.membership("m", "p-hot", "2026-01-01", "2026-11-30");
         w.membership("m", "p-hot");
     },
     Outcome::kGranted, "basic", "downtown", "", "group basic"},
    {"expiry_uses_the_membership_location_zone",
     [](World& w) {
         w.cfg.mapping.roaming = config::Roaming::kMembership;
         w.member("m");
         w.membership("m", "p-hot", "2026-01-01", "2026-11-30", "l-tokyo");
     },
     Outcome::kGranted, "basic", "tokyo", "2026-11-30T15:00:00Z", "until"},
    {"no_location_rules_means_unrestricted",
     [](World& w) {
         w.cfg.mapping.locations.clear();
         w.member("m");
         w.membership("m", "p-hot");
     },
     Outcome::kGranted, "basic", "*", "", "all locations"},
    {"member_without_email",
     [](World& w) {
         w.member("m").email.clear();
         w.membership("m", "p-hot");
     },
     Outcome::kNoAccess, "", "", "", "refused: member has no e-mail address"},
};

INSTANTIATE_TEST_SUITE_P(Engine, AccessRules, ::testing::ValuesIn(kAccessCases),
                         [](const auto& test_info) { return std::string(test_info.param.name); });

TEST(Engine, GrantedMemberGetsTheVerifiedRowPattern) {
    World w;
    w.member("ada");
    w.membership("ada", "p-hot");
    const auto state = w.map();
    const std::vector<RadRow> expected = {
        {Table::kRadcheck, "ada@cowork.test", "NT-Password",
         ":=", nt_hash_hex("gen1xxxxxxxx").value(), 0},
        {Table::kRadusergroup, "ada@cowork.test", "radsync:deny", "", "", kDenyPriority},
        {Table::kRadusergroup, "ada@cowork.test", "radsync:plan:basic", "", "", kPlanPriority},
        {Table::kRadusergroup, "ada@cowork.test", "radsync:site:downtown:1", "", "", 100},
    };
    EXPECT_EQ(rows_of(state, "ada@cowork.test"), expected);
}

TEST(Engine, RoamingMemberGetsEverySiteAtDistinctPriorities) {
    World w;
    w.member("dave");
    w.membership("dave", "p-ded", "2026-01-01", "2026-12-31");
    const auto rows = rows_of(w.map(), "dave@cowork.test");
    std::vector<std::pair<std::string, int>> groups;
    for (const auto& r : rows) {
        if (r.table == Table::kRadusergroup) {
            groups.emplace_back(r.attribute, r.priority);
        }
    }
    std::sort(groups.begin(), groups.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
    const std::vector<std::pair<std::string, int>> expected = {
        {"radsync:plan:pro", 10},       {"radsync:site:downtown:1", 100},
        {"radsync:site:tokyo:1", 101},  {"radsync:site:uptown:1", 102},
        {"radsync:site:uptown:2", 103}, {"radsync:deny", 1000}};
    EXPECT_EQ(groups, expected);
    const auto expiration = std::find_if(
        rows.begin(), rows.end(), [](const RadRow& r) { return r.attribute == "Expiration"; });
    ASSERT_NE(expiration, rows.end());
    EXPECT_EQ(expiration->value,
              std::to_string(at("2026-12-31T23:00:00Z").time_since_epoch().count()));
}

TEST(Engine, GroupRowsCarryBandwidthSessionVlanAndDeny) {
    World w;
    const auto rows = group_rows(w.cfg);
    auto has = [&](Table t, const char* name, const char* attr, const char* op, const char* value) {
        return std::find(rows.begin(), rows.end(), RadRow{t, name, attr, op, value, 0}) !=
               rows.end();
    };
    EXPECT_TRUE(has(Table::kRadgroupreply, "radsync:plan:pro", "WISPr-Bandwidth-Max-Down",
                    ":=", "50000000"));
    EXPECT_TRUE(
        has(Table::kRadgroupreply, "radsync:plan:pro", "WISPr-Bandwidth-Max-Up", ":=", "10000000"));
    EXPECT_TRUE(
        has(Table::kRadgroupreply, "radsync:plan:pro", "Mikrotik-Rate-Limit", ":=", "10M/50M"));
    EXPECT_TRUE(has(Table::kRadgroupreply, "radsync:plan:pro", "Session-Timeout", ":=", "28800"));
    EXPECT_TRUE(has(Table::kRadgroupreply, "radsync:plan:pro", "Fall-Through", "=", "Yes"));
    EXPECT_TRUE(
        has(Table::kRadgroupreply, "radsync:plan:basic", "Mikrotik-Rate-Limit", ":=", "0/10M"));
    EXPECT_TRUE(
        has(Table::kRadgroupcheck, "radsync:site:downtown:1", "NAS-Identifier", "==", "downtown"));
    EXPECT_TRUE(has(Table::kRadgroupcheck, "radsync:site:uptown:2", "Called-Station-Id", "=~",
                    ":CoWork\\.Uptown$"));
    EXPECT_TRUE(
        has(Table::kRadgroupreply, "radsync:site:uptown:2", "Tunnel-Private-Group-Id", "=", "200"));
    EXPECT_TRUE(has(Table::kRadgroupreply, "radsync:site:downtown:1", "Tunnel-Type", "=", "VLAN"));
    EXPECT_TRUE(has(Table::kRadgroupcheck, "radsync:deny", "Auth-Type", ":=", "Reject"));
    // No VLAN rows for a site without a VLAN; no rows at all for an access: none group.
    EXPECT_FALSE(has(Table::kRadgroupreply, "radsync:site:tokyo:1", "Tunnel-Type", "=", "VLAN"));
    EXPECT_TRUE(std::none_of(rows.begin(), rows.end(), [](const RadRow& r) {
        return r.name.find("virtual-office") != std::string::npos;
    }));
}

TEST(Engine, UsernameCollisionRefusesTheLaterMember) {
    World w;
    w.member("first").email = "shared@cowork.test";
    w.member("second").email = "Shared@CoWork.test";
    w.snap.members.back().created_at = at("2025-06-01T00:00:00Z");
    w.membership("first", "p-hot");
    w.membership("second", "p-hot");
    const auto state = w.map();
    EXPECT_EQ(decision_for(state, "first").outcome, Outcome::kGranted);
    const auto& loser = decision_for(state, "second");
    EXPECT_EQ(loser.outcome, Outcome::kConflict);
    EXPECT_NE(loser.reason.find("already used by member first"), std::string::npos);
    EXPECT_FALSE(loser.account);
}

TEST(Engine, ExistingHolderKeepsItsUsernameEvenIfCreatedLater) {
    World w;
    w.member("old").email = "x@cowork.test";
    w.member("new").email = "x@cowork.test";
    w.snap.members.back().created_at = at("2020-01-01T00:00:00Z");  // created earlier
    w.membership("old", "p-hot");
    w.membership("new", "p-hot");
    store::AccountRecord held;
    held.member_id = "old";
    held.username = "x@cowork.test";
    held.secret = "kept-password";
    held.secret_attribute = "NT-Password";
    w.ctx.accounts["old"] = held;
    const auto state = w.map();
    EXPECT_EQ(decision_for(state, "old").outcome, Outcome::kGranted);
    EXPECT_EQ(decision_for(state, "old").account->secret, "kept-password");
    EXPECT_EQ(decision_for(state, "new").outcome, Outcome::kConflict);
    EXPECT_EQ(w.generated, 0);
}

TEST(Engine, ForeignRowsBlockAUsername) {
    World w;
    w.member("m");
    w.membership("m", "p-hot");
    w.ctx.foreign_usernames = {"m@cowork.test"};
    const auto state = w.map();
    const auto& d = decision_for(state, "m");
    EXPECT_EQ(d.outcome, Outcome::kConflict);
    EXPECT_NE(d.reason.find("rows radsync does not own"), std::string::npos);
}

TEST(Engine, EmailChangeIntoACollisionKeepsThePreviousUsername) {
    World w;
    w.member("a").email = "a@cowork.test";
    w.member("b").email = "a@cowork.test";  // b changed their e-mail to a's
    w.membership("a", "p-hot");
    w.membership("b", "p-hot");
    store::AccountRecord acc_a;
    acc_a.member_id = "a";
    acc_a.username = "a@cowork.test";
    store::AccountRecord acc_b;
    acc_b.member_id = "b";
    acc_b.username = "b@cowork.test";
    w.ctx.accounts = {{"a", acc_a}, {"b", acc_b}};
    const auto state = w.map();
    const auto& b = decision_for(state, "b");
    EXPECT_EQ(b.outcome, Outcome::kGranted);
    EXPECT_EQ(b.account->username, "b@cowork.test");
    EXPECT_NE(b.reason.find("keeping previous username"), std::string::npos);
}

TEST(Engine, RevokedThenRemovedAfterRetention) {
    World w;
    w.member("m", "former");
    store::AccountRecord acc;
    acc.member_id = "m";
    acc.username = "m@cowork.test";
    acc.secret = "pw";
    acc.secret_attribute = "NT-Password";
    acc.state_since = at("2026-01-01T00:00:00Z");
    w.ctx.accounts["m"] = acc;

    auto state = w.map();
    const auto& d = decision_for(state, "m");
    EXPECT_EQ(d.outcome, Outcome::kRevoked);
    ASSERT_TRUE(d.account);
    EXPECT_EQ(d.account->state, store::AccountState::kRevoked);
    EXPECT_EQ(d.account->state_since, w.ctx.now);
    EXPECT_EQ(d.account->secret, "pw");  // kept for a returning member
    EXPECT_EQ(
        rows_of(state, "m@cowork.test"),
        (std::vector<RadRow>{{Table::kRadcheck, "m@cowork.test", "Auth-Type", ":=", "Reject", 0}}));

    // 29 days later: still disabled. 30 days later: gone.
    w.ctx.accounts["m"] = *d.account;
    w.ctx.now += days{29};
    EXPECT_EQ(decision_for(w.map(), "m").outcome, Outcome::kRevoked);
    w.ctx.now += days{1};
    const auto later = w.map();
    EXPECT_EQ(decision_for(later, "m").outcome, Outcome::kRemoved);
    EXPECT_TRUE(rows_of(later, "m@cowork.test").empty());
}

TEST(Engine, ReturningMemberGetsTheSamePassword) {
    World w;
    w.member("m");
    w.membership("m", "p-hot");
    store::AccountRecord acc;
    acc.member_id = "m";
    acc.username = "m@cowork.test";
    acc.secret = "returning-pw";
    acc.secret_attribute = "NT-Password";
    acc.state = store::AccountState::kRevoked;
    w.ctx.accounts["m"] = acc;
    const auto state = w.map();
    const auto& d = decision_for(state, "m");
    EXPECT_EQ(d.outcome, Outcome::kGranted);
    EXPECT_EQ(d.account->secret, "returning-pw");
    EXPECT_EQ(d.account->state, store::AccountState::kActive);
    EXPECT_EQ(d.account->state_since, w.ctx.now);
}

TEST(Engine, MemberGoneFromOfficeRndIsRevoked) {
    World w;
    store::AccountRecord acc;
    acc.member_id = "gone";
    acc.username = "gone@cowork.test";
    w.ctx.accounts["gone"] = acc;
    const auto state = w.map();
    const auto& d = decision_for(state, "gone");
    EXPECT_EQ(d.outcome, Outcome::kRevoked);
    EXPECT_NE(d.reason.find("no longer in OfficeRnD"), std::string::npos);
}

TEST(Engine, PasswordFromPropertyStoredAsCleartextWhenAskedTo) {
    World w;
    w.cfg.accounts.password_source = config::PasswordSource::kProperty;
    w.cfg.accounts.password_property = "wifi_password";
    w.cfg.accounts.password_storage = config::PasswordStorage::kCleartext;
    w.member("m").properties["wifi_password"] = "s3cret";
    w.membership("m", "p-hot");
    w.member("n");
    w.membership("n", "p-hot");
    const auto state = w.map();
    const auto rows = rows_of(state, "m@cowork.test");
    EXPECT_NE(std::find(rows.begin(), rows.end(),
                        RadRow{Table::kRadcheck, "m@cowork.test", "Cleartext-Password",
                               ":=", "s3cret", 0}),
              rows.end());
    // Kept as the row holds it, in clear only because storage: cleartext asks for that.
    EXPECT_EQ(decision_for(state, "m").account->secret, "s3cret");
    EXPECT_EQ(decision_for(state, "m").account->secret_attribute, "Cleartext-Password");
    const auto& n = decision_for(state, "n");
    EXPECT_EQ(n.outcome, Outcome::kNoAccess);
    EXPECT_NE(n.reason.find("custom property 'wifi_password' is empty"), std::string::npos);
}

TEST(Engine, TemplateUsernamesAreNormalisedAndEscaped) {
    World w;
    w.cfg.accounts.username_format = config::UsernameFormat::kTemplate;
    w.cfg.accounts.username_template = "{properties.wifi_user}+wifi";
    w.member("m").properties["wifi_user"] = "Ada.L";
    w.membership("m", "p-hot");
    const auto state = w.map();
    const auto& d = decision_for(state, "m");
    ASSERT_TRUE(d.account);
    EXPECT_EQ(d.account->username, "ada.l=2Bwifi");
}

TEST(Engine, DeterministicForTheSameInput) {
    World a;
    World b;
    for (World* w : {&a, &b}) {
        w->member("x");
        w->membership("x", "p-ded");
        w->member("y", "active", "l-up", "c");
        w->company_membership("c", "p-hot");
    }
    EXPECT_EQ(a.map().rows, b.map().rows);
}

// Regression (trust issue, item 2): after company.removed, members still authenticated through
// the company's membership. Company-derived access ends; personal memberships stay.
TEST(Engine, ARemovedCompanyTakesItsMembershipsAccessWithIt) {
    World w;
    w.member("m", "active", "l-up", "c1");
    w.member("p", "active", "l-down", "c1");
    w.company_membership("c1", "p-ded");
    w.membership("p", "p-hot");  // p also has a personal membership
    ASSERT_EQ(decision_for(w.map(), "m").outcome, Outcome::kGranted);
    ASSERT_EQ(decision_for(w.map(), "p").account->group, "pro");

    w.snap.companies.clear();  // the company is tombstoned / no longer listed
    const auto state = w.map();
    const auto& m = decision_for(state, "m");
    EXPECT_EQ(m.outcome, Outcome::kNoAccess);
    EXPECT_NE(m.reason.find("company c1 is no longer in OfficeRnD"), std::string::npos) << m.reason;
    const auto& p = decision_for(state, "p");
    EXPECT_EQ(p.outcome, Outcome::kGranted);
    EXPECT_EQ(p.account->group, "basic");  // the personal plan, not the company's
}

// Regression (trust issue, item 3): member A lost access, the next run deleted A's account at
// once (skipping the retention) and gave A's username to member B, whose e-mail differed from
// A's only in case.
TEST(Engine, ADisabledAccountHoldsItsUsernameForTheWholeRetention) {
    World w;
    w.member("a", "former").email = "wendy@cowork.test";
    w.member("b").email = "Wendy@Cowork.TEST";
    w.snap.members.back().created_at = at("2020-01-01T00:00:00Z");  // b even predates a
    w.membership("b", "p-hot");
    store::AccountRecord a;
    a.member_id = "a";
    a.username = "wendy@cowork.test";
    a.secret = "a-pw";
    a.secret_attribute = "NT-Password";
    a.state = store::AccountState::kActive;
    a.state_since = at("2025-06-01T00:00:00Z");
    w.ctx.accounts["a"] = a;

    auto state = w.map();
    const auto& da = decision_for(state, "a");
    EXPECT_EQ(da.outcome, Outcome::kRevoked);
    ASSERT_TRUE(da.account);
    EXPECT_EQ(da.account->username, "wendy@cowork.test");
    const auto& db = decision_for(state, "b");
    EXPECT_EQ(db.outcome, Outcome::kConflict);
    EXPECT_EQ(db.problem, Decision::Problem::kConflict);
    EXPECT_NE(db.reason.find("held by member a's disabled account until 2026-12-22"),
              std::string::npos)
        << db.reason;
    EXPECT_FALSE(db.account);

    // Through the retention the name stays with a; the day it ends, b gets it in the same run.
    w.ctx.accounts["a"] = *da.account;
    w.ctx.now += days{29};
    EXPECT_EQ(decision_for(w.map(), "b").outcome, Outcome::kConflict);
    w.ctx.now += days{1};
    state = w.map();
    EXPECT_EQ(decision_for(state, "a").outcome, Outcome::kRemoved);
    EXPECT_EQ(decision_for(state, "b").outcome, Outcome::kGranted);
    EXPECT_EQ(decision_for(state, "b").account->username, "wendy@cowork.test");
}

TEST(Engine, AReturningMemberGetsTheirHeldUsernameBack) {
    World w;
    w.member("a").email = "wendy@cowork.test";
    w.membership("a", "p-hot");
    w.member("b").email = "WENDY@cowork.test";
    w.membership("b", "p-hot");
    w.snap.members.back().created_at = at("2020-01-01T00:00:00Z");
    store::AccountRecord a;
    a.member_id = "a";
    a.username = "wendy@cowork.test";
    a.secret = "a-pw";
    a.secret_attribute = "NT-Password";
    a.state = store::AccountState::kRevoked;
    a.state_since = w.ctx.now - days{3};
    w.ctx.accounts["a"] = a;
    const auto state = w.map();
    EXPECT_EQ(decision_for(state, "a").outcome, Outcome::kGranted);
    EXPECT_EQ(decision_for(state, "a").account->secret, "a-pw");
    EXPECT_EQ(decision_for(state, "b").outcome, Outcome::kConflict);
}

TEST(Engine, AScopedRunHonoursTheHoldToo) {
    World w;
    w.member("b").email = "wendy@cowork.test";
    w.membership("b", "p-hot");
    store::AccountRecord a;
    a.member_id = "a";  // not in the snapshot any more, but inside the scope
    a.username = "wendy@cowork.test";
    a.state = store::AccountState::kRevoked;
    a.state_since = w.ctx.now - days{1};
    w.ctx.accounts["a"] = a;
    const std::set<std::string> scope = {"a", "b"};
    w.ctx.scope = &scope;
    const auto state = w.map();
    EXPECT_EQ(decision_for(state, "a").outcome, Outcome::kRevoked);
    EXPECT_EQ(decision_for(state, "b").outcome, Outcome::kConflict);
}

// Regression (trust issue, item 5): a password with a character outside the BMP was stored as
// an NT hash that neither FreeRADIUS nor eapol_test could ever match.
TEST(Engine, APasswordOutsideTheBmpIsRefusedWithAReason) {
    World w;
    w.cfg.accounts.password_source = config::PasswordSource::kProperty;
    w.cfg.accounts.password_property = "wifi_password";
    w.member("m").properties["wifi_password"] = "party\xF0\x9F\x8E\x89time";  // U+1F389
    w.membership("m", "p-hot");
    w.member("ok").properties["wifi_password"] = "caf\xC3\xA9-\xE2\x82\xAC";  // BMP: fine
    w.membership("ok", "p-hot");
    const auto state = w.map();
    const auto& m = decision_for(state, "m");
    EXPECT_EQ(m.outcome, Outcome::kNoAccess);
    EXPECT_EQ(m.problem, Decision::Problem::kUnusablePassword);
    EXPECT_NE(m.reason.find("outside the Basic Multilingual Plane"), std::string::npos) << m.reason;
    EXPECT_EQ(m.reason.find("party"), std::string::npos) << "the password is never quoted";
    EXPECT_TRUE(rows_of(state, "m@cowork.test").empty());
    EXPECT_EQ(decision_for(state, "ok").outcome, Outcome::kGranted);
}

TEST(Engine, ProblemsAreCategorised) {
    World w;
    w.member("unmapped");
    w.membership("unmapped", "p-x");  // Meeting Credits: not mapped
    w.member("nomail").email.clear();
    w.membership("nomail", "p-hot");
    w.member("ended");
    w.membership("ended", "p-x", "2026-01-01", "2026-02-01");  // unmapped and ended: not a gap
    w.member("elsewhere", "active", "l-elsewhere");
    w.membership("elsewhere", "p-hot", "2026-01-01", std::nullopt, "l-elsewhere");
    const auto state = w.map();
    EXPECT_EQ(decision_for(state, "unmapped").problem, Decision::Problem::kUnmapped);
    EXPECT_EQ(decision_for(state, "nomail").problem, Decision::Problem::kNoUsername);
    EXPECT_EQ(decision_for(state, "ended").problem, Decision::Problem::kNone);
    EXPECT_NE(decision_for(state, "ended").reason.find("ended 2026-02-01"), std::string::npos);
    EXPECT_EQ(decision_for(state, "elsewhere").problem, Decision::Problem::kUnmapped);
}

// Issue 9: no cleartext password at rest. A generated password leaves the run once, in the
// decision, and the account keeps only what the RADIUS row holds.
TEST(Engine, AGeneratedPasswordIsHandedOverOnceAndKeptOnlyAsItsHash) {
    World w;
    w.member("m");
    w.membership("m", "p-hot");
    auto state = w.map();
    const auto first = decision_for(state, "m");
    ASSERT_TRUE(first.account);
    EXPECT_EQ(first.new_password, "gen1xxxxxxxx");
    EXPECT_EQ(first.account->secret, nt_hash_hex("gen1xxxxxxxx").value());
    EXPECT_EQ(first.account->secret_attribute, "NT-Password");
    EXPECT_TRUE(first.account->secret_mac.empty());

    // The next run reuses the hash: nothing generated, nothing to hand over.
    w.ctx.accounts["m"] = *first.account;
    state = w.map();
    EXPECT_EQ(decision_for(state, "m").account->secret, first.account->secret);
    EXPECT_TRUE(decision_for(state, "m").new_password.empty());
    EXPECT_EQ(w.generated, 1);

    // reset-password: a new one, handed over once, and its hash replaces the old one.
    w.ctx.reset_passwords = {"m"};
    state = w.map();
    EXPECT_EQ(decision_for(state, "m").new_password, "gen2xxxxxxxx");
    EXPECT_EQ(decision_for(state, "m").account->secret, nt_hash_hex("gen2xxxxxxxx").value());
}

TEST(Engine, APropertyPasswordIsRecognisedByItsKeyedHashAlone) {
    World w;
    w.cfg.accounts.password_source = config::PasswordSource::kProperty;
    w.cfg.accounts.password_property = "wifi_password";
    w.ctx.keyed_hash = [](std::string_view v) { return keyed_hash("test-key", v); };
    w.member("m").properties["wifi_password"] = "s3cret-pw";
    w.membership("m", "p-hot");
    auto state = w.map();
    const auto first = *decision_for(state, "m").account;
    EXPECT_EQ(first.secret, nt_hash_hex("s3cret-pw").value());
    EXPECT_EQ(first.secret_mac, keyed_hash("test-key", "s3cret-pw"));
    EXPECT_TRUE(decision_for(state, "m").new_password.empty());  // OfficeRnD has it

    // After a restart the stored snapshot holds only the keyed hash: the account stays.
    w.ctx.accounts["m"] = first;
    w.snap.members.back().properties["wifi_password"] = first.secret_mac;
    state = w.map();
    EXPECT_EQ(decision_for(state, "m").outcome, Outcome::kGranted);
    EXPECT_EQ(decision_for(state, "m").account->secret, first.secret);

    // Changed in OfficeRnD: a new hash.
    w.snap.members.back().properties["wifi_password"] = "n3w-pw-here";
    state = w.map();
    EXPECT_EQ(decision_for(state, "m").account->secret, nt_hash_hex("n3w-pw-here").value());

    // A keyed hash that matches no account cannot become a password: refused, with why.
    w.ctx.accounts.clear();
    w.snap.members.back().properties["wifi_password"] = first.secret_mac;
    state = w.map();
    EXPECT_EQ(decision_for(state, "m").problem, Decision::Problem::kUnusablePassword);
    EXPECT_NE(decision_for(state, "m").reason.find("known here only as a keyed hash"),
              std::string::npos)
        << decision_for(state, "m").reason;
}

}  // namespace
}  // namespace radsync::mapping

namespace radsync::mapping {
namespace {

using namespace test_world;
using Outcome = Decision::Outcome;

// Two members of a private-office company: their company's VLAN and one address each from its
// pool (the defect: a group-wide static_ip gave both 10.20.30.40).
struct Office : World {
    Office() {
        config::CompanyRule acme;
        acme.match.name = "Acme";
        acme.vlan = 310;
        acme.ip_pool = "10.20.30.0/30";  // two usable addresses
        cfg.mapping.companies = {acme};
        company_membership("c-acme", "p-ded");
        snap.companies.back().name = "Acme";
        member("alice", "active", "l-down", "c-acme");
        member("bob", "active", "l-down", "c-acme");
    }
    std::string address_of(const DesiredState& s, const std::string& id) {
        const Decision& d = decision_for(s, id);
        return d.account ? d.account->address : "";
    }
    void keep(const DesiredState& s) {
        for (const auto& d : s.decisions) {
            if (d.account) {
                ctx.accounts[d.member_id] = *d.account;
            }
        }
    }
};

TEST(PrivateOffice, MembersGetTheirCompanysVlanAndDifferentStableAddresses) {
    Office w;
    auto state = w.map();
    EXPECT_EQ(w.address_of(state, "alice"), "10.20.30.1");
    EXPECT_EQ(w.address_of(state, "bob"), "10.20.30.2");
    for (const char* user : {"alice@cowork.test", "bob@cowork.test"}) {
        const auto rows = rows_of(state, user);
        const auto has = [&](const char* attr, const std::string& value) {
            return std::any_of(rows.begin(), rows.end(), [&](const store::RadRow& r) {
                return r.table == store::Table::kRadreply && r.attribute == attr && r.op == ":=" &&
                       r.value == value;
            });
        };
        EXPECT_TRUE(has("Tunnel-Private-Group-Id", "310")) << user;
        EXPECT_TRUE(has("Tunnel-Type", "VLAN")) << user;
        EXPECT_TRUE(
            has("Framed-IP-Address", std::string(user)[0] == 'a' ? "10.20.30.1" : "10.20.30.2"));
    }
    // Stable across runs, and a newcomer who sorts first does not take anyone's address.
    w.keep(state);
    w.snap.members.clear();
    w.member("aaron", "active", "l-down", "c-acme");
    w.member("alice", "active", "l-down", "c-acme");
    w.member("bob", "active", "l-down", "c-acme");
    state = w.map();
    EXPECT_EQ(w.address_of(state, "alice"), "10.20.30.1");
    EXPECT_EQ(w.address_of(state, "bob"), "10.20.30.2");
    // The pool is exhausted: the newcomer is refused, with the reason.
    const Decision& aaron = decision_for(state, "aaron");
    EXPECT_EQ(aaron.outcome, Outcome::kNoAccess);
    EXPECT_EQ(aaron.problem, Decision::Problem::kNoAddress);
    EXPECT_NE(aaron.reason.find("address pool 10.20.30.0/30 of company 'Acme' is exhausted"),
              std::string::npos)
        << aaron.reason;
}

TEST(PrivateOffice, AnAddressIsReleasedOnlyWhenTheAccountIsFinallyRemoved) {
    Office w;
    w.cfg.sync.revoked_retention = hours{24};
    auto state = w.map();
    w.keep(state);
    // Alice leaves: her disabled account keeps 10.20.30.1 through the retention.
    w.snap.members.front().status = "former";
    w.member("carol", "active", "l-down", "c-acme");
    state = w.map();
    EXPECT_EQ(decision_for(state, "alice").outcome, Outcome::kRevoked);
    EXPECT_EQ(decision_for(state, "alice").account->address, "10.20.30.1");
    EXPECT_EQ(decision_for(state, "carol").problem, Decision::Problem::kNoAddress);
    w.keep(state);
    // After the retention her account is removed and carol gets the address.
    w.ctx.now += hours{25};
    state = w.map();
    EXPECT_EQ(decision_for(state, "alice").outcome, Outcome::kRemoved);
    EXPECT_EQ(w.address_of(state, "carol"), "10.20.30.1");
}

TEST(PrivateOffice, AScopedRunNeverHandsOutAnAddressHeldOutsideItsScope) {
    Office w;
    auto state = w.map();
    const std::string bob_address = w.address_of(state, "bob");
    w.ctx.accounts["alice"] = *decision_for(state, "alice").account;
    // A webhook for alice and a newcomer: bob's account is not loaded, only its address.
    w.ctx.addresses_in_use = {{bob_address, "bob"}};
    w.member("dan", "active", "l-down", "c-acme");
    const std::set<std::string> scope = {"alice", "dan"};
    w.ctx.scope = &scope;
    state = w.map();
    EXPECT_EQ(w.address_of(state, "alice"), "10.20.30.1");
    EXPECT_EQ(decision_for(state, "dan").problem, Decision::Problem::kNoAddress);
}

TEST(PrivateOffice, VlanFromACompanyPropertyAndAnExplicitMemberAddress) {
    Office w;
    w.cfg.mapping.companies.clear();
    w.cfg.mapping.company_vlan_property = "vlan_id";
    w.cfg.mapping.member_address_property = "wifi_ip";
    w.snap.companies.back().properties["vlan_id"] = "420";
    w.snap.members[0].properties["wifi_ip"] = "192.168.7.7";
    w.snap.members[1].properties["wifi_ip"] = "not-an-ip";
    auto state = w.map();
    const Decision& alice = decision_for(state, "alice");
    ASSERT_EQ(alice.outcome, Outcome::kGranted) << alice.reason;
    EXPECT_EQ(alice.account->address, "192.168.7.7");
    EXPECT_NE(alice.reason.find("company VLAN 420"), std::string::npos);
    const Decision& bob = decision_for(state, "bob");
    EXPECT_EQ(bob.problem, Decision::Problem::kNoAddress);
    EXPECT_NE(bob.reason.find("'wifi_ip' is not an IPv4 address"), std::string::npos);

    // The mapping's VLAN wins over the property.
    config::CompanyRule acme;
    acme.match.id = "c-acme";
    acme.vlan = 311;
    w.cfg.mapping.companies = {acme};
    EXPECT_NE(decision_for(w.map(), "alice").reason.find("company VLAN 311"), std::string::npos);
}

TEST(PrivateOffice, AGroupPoolServesMembersOutsideAnyCompany) {
    World w;
    w.cfg.mapping.groups[1].ip_pool = "10.9.0.0/29";  // basic
    w.member("m1");
    w.membership("m1", "p-hot");
    w.member("m2");
    w.membership("m2", "p-hot");
    const auto state = w.map();
    EXPECT_EQ(decision_for(state, "m1").account->address, "10.9.0.1");
    EXPECT_EQ(decision_for(state, "m2").account->address, "10.9.0.2");
    EXPECT_EQ(decision_for(state, "m1").account->group, "basic");
}

}  // namespace
}  // namespace radsync::mapping
