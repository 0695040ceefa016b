#include <gtest/gtest.h>

#include <filesystem>

#include "radsync/reconcile/reconciler.hpp"
#include "radsync/snapshot/merge.hpp"
#include "support/hot_desk_config.hpp"
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

config::Config make_config(const std::filesystem::path& dir) {
    config::Config cfg = test::hot_desk_downtown_config();
    cfg.radius_database = (dir / "radius.db").string();
    cfg.state_database = (dir / "state.db").string();
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
    config::Config cfg = make_config(dir.path());
    store::Stores stores =
        store::open_sqlite_stores({cfg.radius_database, cfg.state_database}).value();
    store::StateStore& state = *stores.state;
    store::RadiusStore& radius = *stores.radius;
    core::ManualClock clock{at("2026-11-22T12:00:00Z")};
    int generated = 0;
    Environment env{state, radius, clock,
                    [this](int) { return "password-" + std::to_string(++generated); }};

    Result<RunReport> run(const std::string& json, bool dry_run = false) {
        return reconcile_full(env, cfg, snapshot::parse_snapshot(json).value(),
                              run_options(dry_run, "file"));
    }
};

// The state store of a process that dies right after the RADIUS commit: everything reads
// through, but the state's own commit never happens.
class DiesBeforeTheStateCommit final : public store::StateStore {
public:
    explicit DiesBeforeTheStateCommit(store::StateStore& real) : real_(real) {}
    std::string keyed_hash(std::string_view v) const override { return real_.keyed_hash(v); }
    void set_secret_properties(std::set<std::string> n) override {
        real_.set_secret_properties(std::move(n));
    }
    Result<snapshot::Snapshot> load_snapshot() override { return real_.load_snapshot(); }
    Result<std::map<std::string, store::AccountRecord>> load_accounts() override {
        return real_.load_accounts();
    }
    Result<std::map<std::string, store::AccountRecord>> load_accounts_for(
        const std::set<std::string>& ids, const std::set<std::string>& names) override {
        return real_.load_accounts_for(ids, names);
    }
    Result<snapshot::Tombstones> load_tombstones() override { return real_.load_tombstones(); }
    Result<std::map<std::string, std::string>> addresses_in_use() override {
        return real_.addresses_in_use();
    }
    Result<store::ApplyReport> apply(const store::WriteSet&, const store::ApplyReport&,
                                     core::Instant) override {
        ++crashes;
        return Error(Errc::kStoreFailed, "killed between the two commits (test)");
    }
    void record_failed_run(const store::WriteSet&, core::Instant, const std::string&) override {}
    Result<PreviousRun> mark_running() override { return real_.mark_running(); }
    Status mark_stopped() override { return real_.mark_stopped(); }
    Result<std::optional<store::Transition>> next_transition() override {
        return real_.next_transition();
    }
    Result<std::vector<store::Transition>> due_transitions(core::Instant now,
                                                           std::size_t n) override {
        return real_.due_transitions(now, n);
    }
    Result<std::optional<core::Instant>> evaluated_through() override {
        return real_.evaluated_through();
    }
    Result<std::vector<bool>> inbox_append(const std::vector<store::InboxEvent>& e) override {
        return real_.inbox_append(e);
    }
    Result<std::vector<store::InboxEvent>> inbox_pending(std::size_t n) override {
        return real_.inbox_pending(n);
    }
    Result<std::size_t> inbox_depth() override { return real_.inbox_depth(); }
    Result<int> inbox_record_failure(const std::string& id, std::string_view e) override {
        return real_.inbox_record_failure(id, e);
    }
    Status inbox_park(const std::string& id, core::Instant now) override {
        return real_.inbox_park(id, now);
    }
    Result<std::size_t> inbox_prune(core::Instant cutoff) override {
        return real_.inbox_prune(cutoff);
    }
    Result<std::vector<store::ParkedEvent>> inbox_parked(std::size_t n) override {
        return real_.inbox_parked(n);
    }
    Result<std::size_t> inbox_requeue_parked(const std::optional<std::string>& id) override {
        return real_.inbox_requeue_parked(id);
    }
    Result<std::vector<store::OutboxMessage>> outbox_claim(core::Instant now,
                                                           std::size_t n) override {
        return real_.outbox_claim(now, n);
    }
    Status outbox_settle(const std::vector<store::OutboxSettlement>& s,
                         core::Instant now) override {
        return real_.outbox_settle(s, now);
    }
    Result<std::size_t> outbox_recover(core::Instant now) override {
        return real_.outbox_recover(now);
    }
    Result<std::optional<core::Instant>> outbox_next_due() override {
        return real_.outbox_next_due();
    }
    Result<std::vector<store::OutboxMessage>> outbox_list(std::optional<store::OutboxStatus> st,
                                                          const std::optional<std::string>& subject,
                                                          std::size_t n) override {
        return real_.outbox_list(st, subject, n);
    }
    Result<std::size_t> outbox_requeue(std::optional<std::int64_t> id, core::Instant now) override {
        return real_.outbox_requeue(id, now);
    }
    Result<std::map<std::string, std::size_t>> outbox_counts() override {
        return real_.outbox_counts();
    }
    Result<std::size_t> outbox_prune(core::Instant cutoff) override {
        return real_.outbox_prune(cutoff);
    }
    Status checkpoint_in_background() override { return {}; }
    Result<std::vector<store::RunRecord>> recent_runs(std::size_t n) override {
        return real_.recent_runs(n);
    }
    Result<std::map<std::string, std::size_t>> inbox_counts() override {
        return real_.inbox_counts();
    }
    Result<std::vector<store::AuditEntry>> audit(std::size_t n,
                                                 const std::optional<std::string>& name) override {
        return real_.audit(n, name);
    }

    int crashes = 0;

private:
    store::StateStore& real_;
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

// Issue 9: the RADIUS rows and radsync's state live in two files, committed one after the
// other. A crash between the two leaves rows the state does not know of; the next run diffs
// against the rows actually present and ends where an uninterrupted run would have.
TEST(Reconciler, ACrashBetweenTheTwoCommitsIsRepairedByTheNextRun) {
    Harness h;
    ASSERT_TRUE(h.run(kSnapshot));
    std::string without_bob = kSnapshot;
    without_bob.replace(without_bob.find(",\n    {\"_id\": \"ms2\""),
                        std::string(",\n    {\"_id\": \"ms2\", \"member\": \"m2\", \"plan\": "
                                    "\"p1\", \"location\": \"l1\", \"startDate\": \"2026-01-01\"}")
                            .size(),
                        "");
    std::string with_carol = kSnapshot;
    with_carol.replace(with_carol.find("\n  ],\n  \"memberships\""), 0,
                       ",\n    {\"_id\": \"m3\", \"email\": \"carol@cowork.test\", "
                       "\"status\": \"active\", \"location\": \"l1\"}");
    with_carol.replace(with_carol.rfind("\n  ]"), 0,
                       ",\n    {\"_id\": \"ms3\", \"member\": \"m3\", \"plan\": \"p1\", "
                       "\"location\": \"l1\", \"startDate\": \"2026-01-01\"}");

    const auto radius_rows = [&] {
        std::vector<store::RadRow> rows;
        for (const auto& o : h.radius.load_owned_rows().value()) {
            rows.push_back(o.row);
        }
        return rows;
    };
    std::string everyone = kSnapshot;
    for (const std::string* next : {&without_bob, &with_carol, &everyone}) {
        DiesBeforeTheStateCommit dying(h.state);
        Environment crashing{dying, h.radius, h.clock, h.env.generator};
        const auto snap = snapshot::parse_snapshot(*next).value();
        const auto rows_before = radius_rows();
        auto crashed = reconcile_full(crashing, h.cfg, snap, run_options(false, "file"));
        ASSERT_FALSE(crashed);
        ASSERT_EQ(dying.crashes, 1);
        ASSERT_NE(radius_rows(), rows_before);  // the RADIUS side did commit

        // The restarted process runs again: afterwards a run finds nothing to change, and the
        // accounts agree with the rows FreeRADIUS has.
        auto repaired = h.run(*next);
        ASSERT_TRUE(repaired) << repaired.error().message;
        auto settled = h.run(*next);
        ASSERT_TRUE(settled);
        EXPECT_TRUE(settled->row_changes.empty());
        EXPECT_TRUE(settled->account_changes.empty());
        for (const auto& [id, acc] : h.state.load_accounts().value()) {
            bool has_rows = false;
            for (const auto& o : h.radius.load_owned_rows().value()) {
                has_rows = has_rows || o.row.name == acc.username;
            }
            EXPECT_TRUE(has_rows) << id;
        }
    }
    const auto accounts = h.state.load_accounts().value();
    EXPECT_EQ(accounts.at("m2").state, store::AccountState::kActive);   // bob came back
    EXPECT_EQ(accounts.at("m3").state, store::AccountState::kRevoked);  // carol left again
    EXPECT_EQ(accounts.size(), 3U);
}

TEST(Reconciler, DryRunWritesNothing) {
    Harness h;
    auto dry = h.run(kSnapshot, /*dry_run=*/true);
    ASSERT_TRUE(dry);
    EXPECT_FALSE(dry->row_changes.empty());
    EXPECT_TRUE(h.radius.load_owned_rows().value().empty());
    EXPECT_TRUE(h.state.load_accounts().value().empty());
    EXPECT_TRUE(h.state.load_snapshot().value().members.empty());
    const std::string text = describe(*dry);
    EXPECT_NE(text.find("dry run, nothing written"), std::string::npos);
    EXPECT_NE(text.find("radcheck ada@cowork.test NT-Password: := (secret)"), std::string::npos);
    EXPECT_EQ(text.find("password-1"), std::string::npos);  // never printed
}

TEST(Reconciler, RemovedMembershipRevokesThenAReturnRestoresTheSamePassword) {
    Harness h;
    ASSERT_TRUE(h.run(kSnapshot));
    const auto before = h.state.load_accounts().value().at("m2");

    std::string without_bob = kSnapshot;
    without_bob.replace(
        without_bob.find(",\n    {\"_id\": \"ms2\""),
        std::string(",\n    {\"_id\": \"ms2\", \"member\": \"m2\", \"plan\": \"p1\", "
                    "\"location\": \"l1\", \"startDate\": \"2026-01-01\"}")
            .size(),
        "");
    auto revoked = h.run(without_bob);
    ASSERT_TRUE(revoked);
    const auto bob = h.state.load_accounts().value().at("m2");
    EXPECT_EQ(bob.state, store::AccountState::kRevoked);
    bool reject_row = false;
    for (const auto& o : h.radius.load_owned_rows().value()) {
        if (o.row.name == "bob@cowork.test") {
            EXPECT_EQ(o.row.attribute, "Auth-Type");
            reject_row = true;
        }
    }
    EXPECT_TRUE(reject_row);

    auto back = h.run(kSnapshot);
    ASSERT_TRUE(back);
    EXPECT_EQ(h.state.load_accounts().value().at("m2").secret, before.secret);
    EXPECT_EQ(h.generated, 2);  // the password came back, not a new one
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
        return reconcile(h.env, h.cfg, snap, run_options(false, "webhook", std::move(scope)), {});
    };
    auto full_changes = [&] {
        auto r = reconcile(h.env, h.cfg, snap, run_options(true, "file"), {});
        return r ? r->row_changes.size() + r->account_changes.size() : 999U;
    };

    // Bob loses his membership: only Bob is re-mapped, and he is disabled.
    snap.memberships.erase(snap.memberships.begin() + 1);
    auto r1 = scoped({"m2"});
    ASSERT_TRUE(r1) << r1.error().message;
    EXPECT_EQ(r1->decisions.size(), 1U);
    EXPECT_EQ(h.state.load_accounts().value().at("m2").state, store::AccountState::kRevoked);
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
    const auto accounts = h.state.load_accounts().value();
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

std::size_t active_accounts(store::StateStore& st) {
    std::size_t n = 0;
    for (const auto& [id, a] : st.load_accounts().value()) {
        n += a.state == store::AccountState::kActive ? 1 : 0;
    }
    return n;
}

TEST(DeletionGuard, HoldsBackMassRemovalsUntilApproved) {
    Harness h;
    ASSERT_TRUE(h.run(members_snapshot(20)));
    ASSERT_EQ(active_accounts(h.state), 20U);

    // A poll that lost half the members: 10 removals > max(5, 10% of 20).
    auto guarded = h.run(members_snapshot(10));
    ASSERT_TRUE(guarded);
    ASSERT_TRUE(guarded->guarded);
    EXPECT_EQ(guarded->guarded->removals, 10U);
    EXPECT_EQ(guarded->guarded->limit, 5U);
    EXPECT_EQ(active_accounts(h.state), 20U);  // nobody lost access
    EXPECT_NE(describe(*guarded).find("10 removal(s) held back"), std::string::npos);

    // Five removals are within the limit and go through.
    ASSERT_TRUE(h.run(members_snapshot(15)));
    EXPECT_EQ(active_accounts(h.state), 15U);

    // Approved: the operator says the removals are real.
    auto approved =
        reconcile_full(h.env, h.cfg, snapshot::parse_snapshot(members_snapshot(2)).value(),
                       run_options(false, "file", std::nullopt, true));
    ASSERT_TRUE(approved);
    EXPECT_FALSE(approved->guarded);
    EXPECT_EQ(active_accounts(h.state), 2U);
}

TEST(DeletionGuard, AnEmptyMemberListNeverRemovesAnyone) {
    Harness h;
    ASSERT_TRUE(h.run(members_snapshot(3)));  // 3 removals would be within max(5, ...)
    auto empty = h.run(R"({"plans":[{"_id":"p1","name":"Hot Desk"}]})");
    ASSERT_TRUE(empty);
    ASSERT_TRUE(empty->guarded);
    EXPECT_NE(empty->guarded->reason.find("no members"), std::string::npos);
    EXPECT_EQ(active_accounts(h.state), 3U);
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
    const auto now = core::parse_instant("2026-12-01T00:00:00Z").value();
    auto v = deletion_guard(decisions, current, 100, 0.10, 5, now);
    EXPECT_TRUE(v.tripped);
    EXPECT_EQ(v.limit, 10U);
    EXPECT_EQ(v.removals, 11U);
    decisions[10].outcome = mapping::Decision::Outcome::kGranted;
    EXPECT_FALSE(deletion_guard(decisions, current, 100, 0.10, 5, now).tripped);

    // Accounts the clock ended (their own `expires` has passed: passes, guests, memberships
    // on their last day) are not a sign of bad data: 50 of them at midnight trip nothing.
    for (int i = 0; i < 50; ++i) {
        current[std::to_string(i)].expires = now;
        decisions[static_cast<std::size_t>(i)].outcome = mapping::Decision::Outcome::kRevoked;
    }
    EXPECT_FALSE(deletion_guard(decisions, current, 100, 0.10, 5, now).tripped);
    // One second before that end they would still count.
    EXPECT_TRUE(
        deletion_guard(decisions, current, 100, 0.10, 5, now - std::chrono::seconds{1}).tripped);
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
