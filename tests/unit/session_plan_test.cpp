#include <gtest/gtest.h>

#include "radsync/mapping/engine.hpp"
#include "radsync/session/plan.hpp"

namespace radsync::session {
namespace {

using reconcile::RowChange;
using store::RadRow;
using store::Table;

RowChange inserted(RadRow row) {
    return {RowChange::Op::kInsert, std::nullopt, std::nullopt, std::move(row)};
}
RowChange deleted(RadRow row) {
    return {RowChange::Op::kDelete, 1, std::move(row), std::nullopt};
}
RowChange updated(RadRow before, RadRow after) {
    return {RowChange::Op::kUpdate, 1, std::move(before), std::move(after)};
}
RadRow check(const std::string& user, const std::string& attr, const std::string& value) {
    return {Table::kRadcheck, user, attr, ":=", value, 0};
}
RadRow member_of(const std::string& user, const std::string& group, int priority) {
    return {Table::kRadusergroup, user, group, "", "", priority};
}
RadRow group_reply(const std::string& group, const std::string& attr, const std::string& value) {
    return {Table::kRadgroupreply, group, attr, ":=", value, 0};
}

const std::vector<RadRow> kGroups = {
    group_reply("radsync:plan:basic", "Session-Timeout", "14400"),
    group_reply("radsync:plan:basic", "WISPr-Bandwidth-Max-Down", "10000000"),
    group_reply("radsync:plan:basic", "Fall-Through", "Yes"),
    group_reply("radsync:plan:pro", "Session-Timeout", "28800"),
    group_reply("radsync:plan:pro", "WISPr-Bandwidth-Max-Down", "50000000"),
    group_reply("radsync:plan:pro", "Fall-Through", "Yes"),
    group_reply("radsync:plan:pro-twin", "Session-Timeout", "28800"),
    group_reply("radsync:plan:pro-twin", "WISPr-Bandwidth-Max-Down", "50000000"),
    group_reply("radsync:site:downtown:1", "Tunnel-Private-Group-Id", "100"),
    group_reply("radsync:site:uptown:1", "Tunnel-Private-Group-Id", "200"),
};

TEST(AccessChanges, RevokedRemovedAndNewPasswordEndTheSessions) {
    const auto changes = access_changes(
        {inserted(check("ann", "Auth-Type", "Reject")), deleted(check("ann", "NT-Password", "aa")),
         deleted(check("bob", "NT-Password", "bb")),
         deleted(member_of("bob", "radsync:plan:basic", 10)),
         updated(check("cy", "NT-Password", "c1"), check("cy", "NT-Password", "c2"))},
        kGroups);
    ASSERT_EQ(changes.size(), 3U);
    EXPECT_EQ(changes[0].username, "ann");
    EXPECT_EQ(changes[0].kind, AccessChange::Kind::kEnd);
    EXPECT_EQ(changes[0].why, "access revoked");
    EXPECT_EQ(changes[1].username, "bob");
    EXPECT_EQ(changes[1].why, "account removed");
    EXPECT_EQ(changes[2].username, "cy");
    EXPECT_EQ(changes[2].why, "password changed");
}

TEST(AccessChanges, ALostLocationOrAddressEndsTheSessionAGainedOneDoesNot) {
    const auto changes = access_changes(
        {deleted(member_of("ann", "radsync:site:uptown:1", 101)),
         inserted(member_of("bob", "radsync:site:uptown:1", 101)),
         updated({Table::kRadreply, "cy", "Framed-IP-Address", ":=", "10.0.0.5", 0},
                 {Table::kRadreply, "cy", "Framed-IP-Address", ":=", "10.0.0.6", 0}),
         // Priorities renumbered: the same site group deleted and inserted is no loss.
         deleted(member_of("dee", "radsync:site:downtown:1", 100)),
         inserted(member_of("dee", "radsync:site:downtown:1", 101)),
         // A matcher the mapping dropped (uptown:2 is gone, uptown:1 stays): no loss.
         deleted(member_of("eve", "radsync:site:uptown:2", 102)),
         // A location the mapping dropped altogether: its members lose it.
         deleted(member_of("fay", "radsync:site:midtown:1", 100))},
        kGroups);
    ASSERT_EQ(changes.size(), 3U);
    EXPECT_EQ(changes[0].username, "ann");
    EXPECT_EQ(changes[0].why, "location uptown no longer allowed");
    EXPECT_EQ(changes[2].username, "fay");
    EXPECT_EQ(changes[2].why, "location midtown removed from the mapping");
    EXPECT_EQ(changes[1].username, "cy");
    EXPECT_EQ(changes[1].why, "Framed-IP-Address changed");
}

TEST(AccessChanges, APlanWithOtherLimitsChangesThemAnEqualOneChangesNothing) {
    const auto changes = access_changes({deleted(member_of("ann", "radsync:plan:basic", 10)),
                                         inserted(member_of("ann", "radsync:plan:pro", 10)),
                                         deleted(member_of("bob", "radsync:plan:pro", 10)),
                                         inserted(member_of("bob", "radsync:plan:pro-twin", 10)),
                                         // A first plan: no session can exist yet.
                                         inserted(member_of("cy", "radsync:plan:pro", 10))},
                                        kGroups);
    ASSERT_EQ(changes.size(), 1U);
    EXPECT_EQ(changes[0].username, "ann");
    EXPECT_EQ(changes[0].kind, AccessChange::Kind::kChangeLimits);
    EXPECT_EQ(changes[0].why, "plan radsync:plan:basic -> radsync:plan:pro");
    ASSERT_EQ(changes[0].limits.size(), 2U);  // Fall-Through is not a limit
    EXPECT_EQ(changes[0].limits[0].attribute, "Session-Timeout");
    EXPECT_EQ(changes[0].limits[1].attribute, "WISPr-Bandwidth-Max-Down");
}

TEST(AccessChanges, APlanWithNewLimitsChangesThemForItsMembers) {
    const std::vector<RowChange> changes = {
        updated(group_reply("radsync:plan:pro", "WISPr-Bandwidth-Max-Down", "20000000"),
                group_reply("radsync:plan:pro", "WISPr-Bandwidth-Max-Down", "50000000"))};
    EXPECT_TRUE(group_rows_changed(changes));
    const std::vector<RadRow> memberships = {
        member_of("ann", "radsync:plan:pro", 10), member_of("ann", "radsync:site:downtown:1", 100),
        member_of("bob", "radsync:plan:basic", 10), member_of("cy", "radsync:plan:pro", 10)};
    auto with_cy_revoked = changes;
    with_cy_revoked.push_back(inserted(check("cy", "Auth-Type", "Reject")));
    const auto out = access_changes(with_cy_revoked, kGroups, memberships);
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(out[0].username, "cy");
    EXPECT_EQ(out[0].kind, AccessChange::Kind::kEnd);
    EXPECT_EQ(out[1].username, "ann");
    EXPECT_EQ(out[1].kind, AccessChange::Kind::kChangeLimits);
    EXPECT_EQ(out[1].why, "plan radsync:plan:pro has new limits");
    EXPECT_EQ(out[1].limits.size(), 2U);

    EXPECT_FALSE(
        group_rows_changed({inserted(group_reply("radsync:plan:pro", "Fall-Through", "Yes")),
                            inserted(check("ann", "Expiration", "1"))}));
    // Without the memberships nobody's sessions can be named.
    EXPECT_TRUE(access_changes(changes, kGroups).empty());
    // A member whose own rows changed too (a new expiry) still gets the new limits.
    auto with_ann_expiring = changes;
    with_ann_expiring.push_back(inserted(check("ann", "Expiration", "1796000000")));
    const auto again = access_changes(with_ann_expiring, kGroups, memberships);
    ASSERT_EQ(again.size(), 2U);
    EXPECT_EQ(again[0].username, "ann");
    EXPECT_EQ(again[0].kind, AccessChange::Kind::kChangeLimits);
}

TEST(AccessChanges, ALocationsNewVlanEndsItsMembersSessions) {
    const std::vector<RowChange> changes = {
        updated(group_reply("radsync:site:downtown:1", "Tunnel-Private-Group-Id", "100"),
                group_reply("radsync:site:downtown:1", "Tunnel-Private-Group-Id", "110"))};
    EXPECT_TRUE(group_rows_changed(changes));
    const auto out = access_changes(
        changes, kGroups,
        {member_of("ann", "radsync:plan:pro", 10), member_of("ann", "radsync:site:downtown:1", 100),
         member_of("bob", "radsync:site:uptown:1", 100)});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].username, "ann");
    EXPECT_EQ(out[0].kind, AccessChange::Kind::kEnd);
    EXPECT_EQ(out[0].why, "location group radsync:site:downtown:1 has a new VLAN");
}

TEST(AccessChanges, GroupRowsAloneChangeNoSession) {
    EXPECT_TRUE(
        access_changes({inserted(group_reply("radsync:plan:pro", "Session-Timeout", "1"))}, kGroups)
            .empty());
}

store::Session carol_session() {
    store::Session s;
    s.username = "carol";
    s.session_id = "sess-9";
    s.nas_ip = "127.0.0.1";
    s.calling_station_id = "AA-BB-CC-DD-EE-FF";
    s.framed_ip = "";
    return s;
}

TEST(PlanRequest, DisconnectNamesTheSessionByWhatTheNasAsksFor) {
    config::Nas nas;
    nas.identify = {config::SessionKey::kUserName, config::SessionKey::kAcctSessionId,
                    config::SessionKey::kCallingStationId, config::SessionKey::kFramedIpAddress,
                    config::SessionKey::kNasIpAddress};
    const auto planned = plan_request({"carol", AccessChange::Kind::kEnd, "access revoked", {}},
                                      carol_session(), nas);
    EXPECT_EQ(planned.code, radius::Code::kDisconnectRequest);
    ASSERT_EQ(planned.attributes.size(), 4U);  // no Framed-IP-Address recorded: left out
    EXPECT_EQ(planned.attributes[0].type, 1);
    EXPECT_EQ(planned.attributes[0].value, "carol");
    EXPECT_EQ(planned.attributes[1].type, 44);
    EXPECT_EQ(planned.attributes[1].value, "sess-9");
    EXPECT_EQ(planned.attributes[2].type, 31);
    EXPECT_EQ(planned.attributes[3].type, 4);
    EXPECT_EQ(planned.attributes[3].value, std::string("\x7f\x00\x00\x01", 4));
}

TEST(PlanRequest, LimitsGoInACoaOrBecomeADisconnectWithoutCoa) {
    config::Nas nas;
    nas.identify = {config::SessionKey::kUserName};
    const AccessChange change{"carol",
                              AccessChange::Kind::kChangeLimits,
                              "plan",
                              {group_reply("g", "Session-Timeout", "28800"),
                               group_reply("g", "WISPr-Bandwidth-Max-Down", "50000000"),
                               group_reply("g", "Mikrotik-Rate-Limit", "10M/50M")}};
    const auto coa = plan_request(change, carol_session(), nas);
    EXPECT_EQ(coa.code, radius::Code::kCoaRequest);
    ASSERT_EQ(coa.attributes.size(), 4U);
    EXPECT_EQ(coa.attributes[1].type, 27);
    EXPECT_EQ(coa.attributes[1].value, std::string("\x00\x00\x70\x80", 4));
    EXPECT_EQ(coa.attributes[2].vendor, 14122U);
    EXPECT_EQ(coa.attributes[2].vendor_type, 8);
    EXPECT_EQ(coa.attributes[3].vendor, 14988U);
    EXPECT_EQ(coa.attributes[3].value, "10M/50M");

    nas.coa = false;
    const auto disconnect = plan_request(change, carol_session(), nas);
    EXPECT_EQ(disconnect.code, radius::Code::kDisconnectRequest);
    EXPECT_EQ(disconnect.attributes.size(), 1U);
}

TEST(LimitAttribute, OnlyWhatItCanEncode) {
    EXPECT_TRUE(limit_attribute("Acct-Interim-Interval", "600"));
    EXPECT_FALSE(limit_attribute("Session-Timeout", "soon"));
    EXPECT_FALSE(limit_attribute("Session-Timeout", "99999999999"));
    EXPECT_FALSE(limit_attribute("Fall-Through", "Yes"));
    EXPECT_FALSE(limit_attribute("Class", "x"));
}

TEST(StaleCutoff, TheLongestIntervalTimesTheMultiple) {
    config::Config cfg;
    cfg.sessions.interim_interval = std::chrono::seconds{300};
    cfg.sessions.stale_after_intervals = 3;
    config::AccessGroup slow;
    slow.accounting_interval = std::chrono::seconds{900};
    config::AccessGroup off;
    off.access = false;
    off.accounting_interval = std::chrono::seconds{86400};  // no rows, no sessions
    cfg.mapping.groups = {slow, off};
    const core::Instant now{std::chrono::seconds{1'000'000}};
    EXPECT_EQ(stale_cutoff(now, cfg), now - std::chrono::seconds{2700});
}

TEST(ResendWait, DoublesUpToEightTimes) {
    const std::chrono::milliseconds t{500};
    EXPECT_EQ(resend_wait(t, 1), t);
    EXPECT_EQ(resend_wait(t, 2), 2 * t);
    EXPECT_EQ(resend_wait(t, 4), 8 * t);
    EXPECT_EQ(resend_wait(t, 9), 8 * t);
}

TEST(NasFor, ByTheSessionsNasAddress) {
    config::Sessions cfg;
    config::Nas a;
    a.name = "downtown";
    a.address = "10.0.0.2";
    cfg.nas = {a};
    auto s = carol_session();
    EXPECT_EQ(nas_for(s, cfg), nullptr);
    s.nas_ip = "10.0.0.2";
    ASSERT_NE(nas_for(s, cfg), nullptr);
    EXPECT_EQ(nas_for(s, cfg)->name, "downtown");
}

}  // namespace
}  // namespace radsync::session
