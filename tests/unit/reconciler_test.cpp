#include <gtest/gtest.h>

#include "radsync/reconcile/reconciler.hpp"
#include "radsync/snapshot/merge.hpp"
#include "support/temp_dir.hpp"

namespace radsync::reconcile {
namespace {

core::Instant at(const char* iso) {
    return core::parse_instant(iso).value();
}

RunOptions run_options(bool dry_run, const char* mode,
                       std::optional<std::set<std::string>> scope = std::nullopt,
                       bool allow_mass_removal = false) {
    RunOptions o;
    o.dry_run = dry_run;
    o.mode = mode;
    o.source = "test";
    o.scope = std::move(scope);
    o.allow_mass_removal = allow_mass_removal;
    return o;
}

config::Config make_config(const std::string& db) {
    config::Config cfg;
    cfg.database = db;
    cfg.default_timezone = "Europe/Berlin";
    config::AccessGroup basic;
    basic.name = "basic";
    basic.bandwidth_down_bps = 10'000'000;
    cfg.mapping.groups = {basic};
    cfg.mapping.plans = {{{std::nullopt, std::string("Hot Desk"), std::nullopt}, "basic", {}, {}}};
    config::LocationRule downtown;
    downtown.match.name = "Downtown";
    downtown.key = "downtown";
    downtown.vlan = 100;
    downtown.nas_identifiers = {"downtown"};
    cfg.mapping.locations = {downtown};
    return cfg;
}

const char* kSnapshot = R"({
  "plans": [{"_id": "p1", "name": "Hot Desk"}],
  "locations": [{"_id": "l1", "name": "Downtown", "timezone": "Europe/Berlin"}],
  "members": [
    {"_id": "m1", "email": "ada@cowork.test", "status": "active", "location": "l1"},
    {"_id": "m2", "email": "bob@cowork.test", "status": "active", "location": "l1"}
  ],
  "memberships": [
    {"_id": "ms1", "member": "m1", "plan": "p1", "location": "l1", "startDate": "2026-01-01"},
    {"_id": "ms2", "member": "m2", "plan": "p1", "location": "l1", "startDate": "2026-01-01"}
  ]
})";

struct Harness {
    test::TempDir dir;
    config::Config cfg = make_config((dir.path() / "r.db").string());
    std::unique_ptr<store::RadiusStore> store = store::open_sqlite_store(cfg.database).value();
    core::ManualClock clock{at("2026-11-22T12:00:00Z")};
    int generated = 0;
    mapping::PasswordGenerator generator = [this](int) {
        return "password-" + std::to_string(++generated);
    };

    Result<RunReport> run(const std::string& json, bool dry_run = false) {
        return reconcile_full(*store, cfg, snapshot::parse_snapshot(json).value(), clock, generator,
                              run_options(dry_run, "file"));
    }
};

TEST(Reconciler, SecondRunWithUnchangedInputWritesNothing) {
    Harness h;
    auto first = h.run(kSnapshot);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_GT(first->applied.rows_inserted, 0U);
    EXPECT_EQ(first->applied.accounts_written, 2U);

    h.clock.advance(std::chrono::hours{1});
    auto second = h.run(kSnapshot);
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->row_changes.empty());
    EXPECT_TRUE(second->account_changes.empty());
    EXPECT_EQ(second->applied.total(), 0U);
    EXPECT_EQ(h.generated, 2);  // passwords generated once, then kept
}

TEST(Reconciler, DryRunWritesNothing) {
    Harness h;
    auto dry = h.run(kSnapshot, /*dry_run=*/true);
    ASSERT_TRUE(dry);
    EXPECT_FALSE(dry->row_changes.empty());
    EXPECT_TRUE(h.store->load_owned_rows().value().empty());
    EXPECT_TRUE(h.store->load_accounts().value().empty());
    EXPECT_TRUE(h.store->load_snapshot().value().members.empty());
    const std::string text = describe(*dry);
    EXPECT_NE(text.find("dry run, nothing written"), std::string::npos);
    EXPECT_NE(text.find("radcheck ada@cowork.test NT-Password: := (secret)"), std::string::npos);
    EXPECT_EQ(text.find("password-1"), std::string::npos);  // never printed
}

TEST(Reconciler, RemovedMembershipRevokesThenAReturnRestoresTheSamePassword) {
    Harness h;
    ASSERT_TRUE(h.run(kSnapshot));
    const auto before = h.store->load_accounts().value().at("m2");

    std::string without_bob = kSnapshot;
    without_bob.replace(
        without_bob.find(",\n    {\"_id\": \"ms2\""),
        std::string(",\n    {\"_id\": \"ms2\", \"member\": \"m2\", \"plan\": \"p1\", "
                    "\"location\": \"l1\", \"startDate\": \"2026-01-01\"}")
            .size(),
        "");
    auto revoked = h.run(without_bob);
    ASSERT_TRUE(revoked);
    const auto bob = h.store->load_accounts().value().at("m2");
    EXPECT_EQ(bob.state, store::AccountState::kRevoked);
    bool reject_row = false;
    for (const auto& o : h.store->load_owned_rows().value()) {
        if (o.row.name == "bob@cowork.test") {
            EXPECT_EQ(o.row.attribute, "Auth-Type");
            reject_row = true;
        }
    }
    EXPECT_TRUE(reject_row);

    auto back = h.run(kSnapshot);
    ASSERT_TRUE(back);
    EXPECT_EQ(h.store->load_accounts().value().at("m2").password, before.password);
}

}  // namespace
}  // namespace radsync::reconcile

namespace radsync::reconcile {
namespace {

// A webhook (scoped) run must leave the tables exactly as a full run would: after any scoped
// run, a full run with the same snapshot finds nothing to change.
TEST(Reconciler, ScopedRunsAgreeWithFullRuns) {
    Harness h;
    ASSERT_TRUE(h.run(kSnapshot));
    auto snap = snapshot::parse_snapshot(kSnapshot).value();
    auto scoped = [&](std::set<std::string> scope) {
        return reconcile(*h.store, h.cfg, snap, h.clock, h.generator,
                         run_options(false, "webhook", std::move(scope)), {});
    };
    auto full_changes = [&] {
        auto r =
            reconcile(*h.store, h.cfg, snap, h.clock, h.generator, run_options(true, "file"), {});
        return r ? r->row_changes.size() + r->account_changes.size() : 999U;
    };

    // Bob loses his membership: only Bob is re-mapped, and he is disabled.
    snap.memberships.erase(snap.memberships.begin() + 1);
    auto r1 = scoped({"m2"});
    ASSERT_TRUE(r1) << r1.error().message;
    EXPECT_EQ(r1->decisions.size(), 1U);
    EXPECT_EQ(h.store->load_accounts().value().at("m2").state, store::AccountState::kRevoked);
    EXPECT_EQ(full_changes(), 0U);

    // A new member arrives with Bob's e-mail: Bob's disabled account is pulled into the scope
    // and keeps the name for its retention (the trust issue, item 3): the newcomer is refused,
    // with the reason, rather than handed Bob's username.
    snapshot::Member carol = snap.members[1];
    carol.id = "m3";
    snap.members.push_back(carol);
    snapshot::Membership ms = snap.memberships[0];
    ms.id = "ms3";
    ms.member = "m3";
    snap.memberships.push_back(ms);
    snap.normalise();
    auto r2 = scoped({"m3"});
    ASSERT_TRUE(r2) << r2.error().message;
    const auto accounts = h.store->load_accounts().value();
    EXPECT_EQ(accounts.at("m2").state, store::AccountState::kRevoked);
    EXPECT_EQ(accounts.at("m2").username, "bob@cowork.test");
    EXPECT_EQ(accounts.count("m3"), 0U);
    bool refused = false;
    for (const auto& d : r2->decisions) {
        if (d.member_id == "m3") {
            refused = d.outcome == mapping::Decision::Outcome::kConflict &&
                      d.reason.find("held by member m2's disabled account") != std::string::npos;
        }
    }
    EXPECT_TRUE(refused);
    EXPECT_EQ(full_changes(), 0U);
}

TEST(AffectedMembers, FollowOwnershipOfEachKind) {
    auto snap = snapshot::parse_snapshot(R"({
      "members": [{"_id": "a", "company": "c"}, {"_id": "b", "company": "c"}, {"_id": "d"}],
      "memberships": [{"_id": "personal", "member": "d"}, {"_id": "corp", "company": "c"}],
      "passes": [{"_id": "p", "member": "a"}]})")
                    .value();
    auto affected = [&](snapshot::Kind kind, const char* id) {
        std::set<std::string> out;
        snapshot::collect_affected_members(snap, kind, id, out);
        return out;
    };
    using K = snapshot::Kind;
    EXPECT_EQ(affected(K::kMember, "zz"), (std::set<std::string>{"zz"}));
    EXPECT_EQ(affected(K::kMembership, "personal"), (std::set<std::string>{"d"}));
    EXPECT_EQ(affected(K::kMembership, "corp"), (std::set<std::string>{"a", "b"}));
    EXPECT_EQ(affected(K::kCompany, "c"), (std::set<std::string>{"a", "b"}));
    EXPECT_EQ(affected(K::kPass, "p"), (std::set<std::string>{"a"}));
    EXPECT_TRUE(affected(K::kMembership, "unknown").empty());
}

}  // namespace
}  // namespace radsync::reconcile

namespace radsync::reconcile {
namespace {

std::string members_snapshot(int count) {
    std::string members;
    std::string memberships;
    for (int i = 0; i < count; ++i) {
        const std::string id = "m" + std::to_string(100 + i);
        members += std::string(members.empty() ? "" : ",") + R"({"_id":")" + id + R"(","email":")" +
                   id + R"(@cowork.test","status":"active","location":"l1"})";
        memberships += std::string(memberships.empty() ? "" : ",") + R"({"_id":"ms)" + id +
                       R"(","member":")" + id + R"(","plan":"p1","startDate":"2026-01-01"})";
    }
    return R"({"plans":[{"_id":"p1","name":"Hot Desk"}],)"
           R"("locations":[{"_id":"l1","name":"Downtown"}],"members":[)" +
           members + R"(],"memberships":[)" + memberships + "]}";
}

std::size_t active_accounts(store::RadiusStore& st) {
    std::size_t n = 0;
    for (const auto& [id, a] : st.load_accounts().value()) {
        n += a.state == store::AccountState::kActive ? 1 : 0;
    }
    return n;
}

TEST(DeletionGuard, HoldsBackMassRemovalsUntilApproved) {
    Harness h;
    ASSERT_TRUE(h.run(members_snapshot(20)));
    ASSERT_EQ(active_accounts(*h.store), 20U);

    // A poll that lost half the members: 10 removals > max(5, 10% of 20).
    auto guarded = h.run(members_snapshot(10));
    ASSERT_TRUE(guarded);
    ASSERT_TRUE(guarded->guarded);
    EXPECT_EQ(guarded->guarded->removals, 10U);
    EXPECT_EQ(guarded->guarded->limit, 5U);
    EXPECT_EQ(active_accounts(*h.store), 20U);  // nobody lost access
    EXPECT_NE(describe(*guarded).find("10 removal(s) held back"), std::string::npos);

    // Five removals are within the limit and go through.
    ASSERT_TRUE(h.run(members_snapshot(15)));
    EXPECT_EQ(active_accounts(*h.store), 15U);

    // Approved: the operator says the removals are real.
    auto approved =
        reconcile_full(*h.store, h.cfg, snapshot::parse_snapshot(members_snapshot(2)).value(),
                       h.clock, h.generator, run_options(false, "file", std::nullopt, true));
    ASSERT_TRUE(approved);
    EXPECT_FALSE(approved->guarded);
    EXPECT_EQ(active_accounts(*h.store), 2U);
}

TEST(DeletionGuard, AnEmptyMemberListNeverRemovesAnyone) {
    Harness h;
    ASSERT_TRUE(h.run(members_snapshot(3)));  // 3 removals would be within max(5, ...)
    auto empty = h.run(R"({"plans":[{"_id":"p1","name":"Hot Desk"}]})");
    ASSERT_TRUE(empty);
    ASSERT_TRUE(empty->guarded);
    EXPECT_NE(empty->guarded->reason.find("no members"), std::string::npos);
    EXPECT_EQ(active_accounts(*h.store), 3U);
}

TEST(DeletionGuard, PureVerdict) {
    std::map<std::string, store::AccountRecord> current;
    std::vector<mapping::Decision> decisions;
    for (int i = 0; i < 100; ++i) {
        store::AccountRecord a;
        a.member_id = std::to_string(i);
        current[a.member_id] = a;
        mapping::Decision d;
        d.member_id = a.member_id;
        d.outcome =
            i < 11 ? mapping::Decision::Outcome::kRevoked : mapping::Decision::Outcome::kGranted;
        decisions.push_back(d);
    }
    auto v = deletion_guard(decisions, current, 100, 0.10, 5);
    EXPECT_TRUE(v.tripped);
    EXPECT_EQ(v.limit, 10U);
    EXPECT_EQ(v.removals, 11U);
    decisions[10].outcome = mapping::Decision::Outcome::kGranted;
    EXPECT_FALSE(deletion_guard(decisions, current, 100, 0.10, 5).tripped);
}

// Regression (trust issue, item 6): members left out by a problem (a template whose property
// is missing, a collision) never appeared in the output; it just said changed=0.
TEST(Reconciler, TheReportListsProblemsWithCountsAndReasons) {
    Harness h;
    h.cfg.accounts.username_format = config::UsernameFormat::kTemplate;
    h.cfg.accounts.username_template = "{properties.wifi_user}";
    std::string json = R"({
      "plans": [{"_id": "p1", "name": "Hot Desk"}, {"_id": "p9", "name": "Lounge"}],
      "locations": [{"_id": "l1", "name": "Downtown", "timezone": "Europe/Berlin"}],
      "members": [)";
    for (int i = 0; i < 7; ++i) {
        json += (i ? "," : "") + std::string(R"({"_id": "m)") + std::to_string(i) +
                R"(", "email": "x@y", "status": "active", "location": "l1"})";
    }
    json += R"(, {"_id": "u1", "status": "active", "location": "l1"}],
      "memberships": [)";
    for (int i = 0; i < 7; ++i) {
        json += (i ? "," : "") + std::string(R"({"_id": "ms)") + std::to_string(i) +
                R"(", "member": "m)" + std::to_string(i) +
                R"(", "plan": "p1", "location": "l1", "startDate": "2026-01-01"})";
    }
    json += R"(, {"_id": "msu", "member": "u1", "plan": "p9", "location": "l1",
                  "startDate": "2026-01-01"}]})";
    auto report = h.run(json, /*dry_run=*/true);
    ASSERT_TRUE(report) << report.error().message;
    const std::string text = describe(*report);
    EXPECT_NE(text.find("problems: 7 username, 1 unmapped"), std::string::npos) << text;
    EXPECT_NE(text.find("  username member=m0 <x@y>: membership 'ms0' -> group basic"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("username template field {properties.wifi_user} is empty"),
              std::string::npos);
    EXPECT_NE(text.find("... and 2 more username"), std::string::npos) << text;
    EXPECT_NE(text.find("  unmapped member=u1: membership 'msu': plan 'Lounge' is not mapped"),
              std::string::npos)
        << text;
}

}  // namespace
}  // namespace radsync::reconcile
