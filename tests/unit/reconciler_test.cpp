#include <gtest/gtest.h>

#include "radsync/reconcile/reconciler.hpp"
#include "support/temp_dir.hpp"

namespace radsync::reconcile {
namespace {

core::Instant at(const char* iso) {
    return core::parse_instant(iso).value();
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
                              RunOptions{dry_run, "file", "test"});
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
