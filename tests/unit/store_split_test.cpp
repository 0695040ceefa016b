// Issue 9, upgrade: a database written by the release that kept everything in one file is
// split on the first start, losing nothing, even when the split is interrupted. The fixture
// (tests/fixtures/one-file/radsync-v4.sql) was written by that release.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "radsync/mapping/credentials.hpp"
#include "radsync/reconcile/reconciler.hpp"
#include "radsync/store/at_rest.hpp"
#include "radsync/store/store.hpp"
#include "support/hot_desk_config.hpp"
#include "support/sql_probe.hpp"
#include "support/temp_dir.hpp"

namespace radsync::store {
namespace {

using test::file_bytes;
using test::sql;

std::string fixture_sql() {
    std::ifstream in(std::string(RADSYNC_SOURCE_DIR) + "/tests/fixtures/one-file/radsync-v4.sql");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The one-file database of the fixture, as that release left it, in `dir`.
StorePaths one_file_database(const test::TempDir& dir) {
    const StorePaths paths{(dir.path() / "radsync.db").string(),
                           (dir.path() / "state.db").string()};
    const auto out = sql(paths.radius, fixture_sql());
    EXPECT_EQ(out.find("ERROR"), std::string::npos) << out;
    EXPECT_EQ(sql(paths.radius, "PRAGMA user_version"), "4\n");
    return paths;
}

OpenOptions secret_properties() {
    OpenOptions o;
    o.secret_properties = {"wifi_password"};
    return o;
}

// Everything the state holds, in a form that does not depend on the at-rest key (the keyed
// hashes do), for comparing an interrupted split with one that ran straight through.
std::string digest(StateStore& st) {
    std::ostringstream out;
    for (const auto& [id, a] : st.load_accounts().value()) {
        out << "account " << id << " " << a.username << " " << a.secret << " " << a.secret_attribute
            << " " << to_string(a.state) << " " << a.group << " " << a.reason << "\n";
    }
    const auto snap = st.load_snapshot().value();
    for (const auto& m : snap.members) {
        out << "member " << m.id << " " << m.email << " " << m.status;
        for (const auto& [k, v] : m.properties) {
            out << " " << k << "=" << (mapping::is_keyed_hash(v) ? "(keyed hash)" : v);
        }
        out << "\n";
    }
    out << "memberships " << snap.memberships.size() << " plans " << snap.plans.size()
        << " locations " << snap.locations.size() << "\n";
    for (const auto& r : st.recent_runs(100).value()) {
        out << "run " << r.id << " " << r.mode << " " << r.result << " +" << r.rows_inserted << " -"
            << r.rows_deleted << "\n";
    }
    out << "audit " << st.audit(1000, std::nullopt).value().size() << "\n";
    for (const auto& [result, n] : st.inbox_counts().value()) {
        out << "inbox '" << result << "' " << n << "\n";
    }
    for (const auto& e : st.inbox_pending(10).value()) {
        out << "pending " << e.event_id << " " << e.body << "\n";
    }
    for (const auto& p : st.inbox_parked(10).value()) {
        out << "parked " << p.event_id << " " << p.attempts << " " << p.error << "\n";
    }
    return out.str();
}

// The secrets of the fixture, which must be nowhere in clear after the split.
const std::vector<std::string> kFixtureSecrets = {
    "Prop-Secret-Ada", "Prop-Secret-Bob",   "Door-Cora-4711",     "Eve Example",
    "Inbox-Done-Pw-1", "Inbox-Parked-Pw-2", "Inbox-Pending-Pw-3",
};

TEST(StoreSplit, AOneFileDatabaseIsSplitLosingNothingAndKeepingNoSecretInClear) {
    test::TempDir dir;
    const auto paths = one_file_database(dir);
    std::map<std::string, std::string> old_passwords;  // member id -> generated, in clear
    {
        std::istringstream rows(
            sql(paths.radius, "SELECT member_id, password FROM radsync_accounts"));
        for (std::string line; std::getline(rows, line);) {
            old_passwords[line.substr(0, line.find('|'))] = line.substr(line.find('|') + 1);
        }
    }
    ASSERT_EQ(old_passwords.size(), 4U);
    const std::string radius_rows_before =
        sql(paths.radius, "SELECT id, username, attribute, op, value FROM radcheck ORDER BY id") +
        sql(paths.radius, "SELECT * FROM radsync_owned_rows ORDER BY 1, 2");

    auto stores = open_sqlite_stores(paths, secret_properties());
    ASSERT_TRUE(stores) << stores.error().message;
    auto& st = *stores->state;

    // The RADIUS file: the same rows FreeRADIUS had, and nothing of radsync's own tables.
    EXPECT_EQ(
        sql(paths.radius, "SELECT id, username, attribute, op, value FROM radcheck ORDER BY id") +
            sql(paths.radius, "SELECT * FROM radsync_owned_rows ORDER BY 1, 2"),
        radius_rows_before);
    EXPECT_EQ(sql(paths.radius,
                  "SELECT group_concat(name) FROM sqlite_master WHERE type = "
                  "'table' AND name LIKE 'radsync%'"),
              "radsync_owned_rows\n");
    EXPECT_EQ(sql(paths.state,
                  "SELECT value FROM radsync_meta WHERE key = "
                  "'split_from_one_file'"),
              "yes\n");

    // Accounts keep their passwords as hashes: what the row holds for active ones, the hash of
    // the old password for Bob, whose account is disabled (only a Reject row).
    const auto accounts = st.load_accounts().value();
    ASSERT_EQ(accounts.size(), 4U);
    for (const auto& [id, a] : accounts) {
        EXPECT_EQ(a.secret, mapping::nt_hash_hex(old_passwords.at(id)).value()) << id;
        EXPECT_EQ(a.secret_attribute, "NT-Password");
    }
    EXPECT_EQ(accounts.at("m2").state, AccountState::kRevoked);

    // The snapshot, runs and audit came along; property passwords are keyed hashes now.
    const auto snap = st.load_snapshot().value();
    ASSERT_EQ(snap.members.size(), 4U);
    EXPECT_EQ(snap.members[0].properties.at("wifi_password"), st.keyed_hash("Prop-Secret-Ada"));
    EXPECT_TRUE(mapping::is_keyed_hash(snap.members[0].properties.at("door_password")));
    EXPECT_EQ(snap.members[0].properties.at("team"), "blue");
    EXPECT_EQ(snap.memberships.size(), 3U);
    EXPECT_EQ(st.recent_runs(10).value().size(), 2U);
    EXPECT_EQ(st.audit(1000, std::nullopt).value().size(), 31U);

    // The inbox: the pending event still pending with its exact body, the parked one still
    // parked, the processed one without its body.
    const auto pending = st.inbox_pending(10).value();
    ASSERT_EQ(pending.size(), 1U);
    EXPECT_EQ(pending[0].event_id, "ev-pending");
    EXPECT_NE(pending[0].body.find("\"wifi_password\":\"Inbox-Pending-Pw-3\""), std::string::npos);
    EXPECT_EQ(st.inbox_parked(10).value().at(0).error, "disk trouble");
    EXPECT_EQ(sql(paths.state,
                  "SELECT event_id, length(body) > 0, result FROM radsync_inbox "
                  "ORDER BY seq"),
              "ev-done|0|applied\nev-parked|1|parked: disk trouble\nev-pending|1|\n");

    // A run right after the upgrade finds every member as they were: nothing to change but
    // the site groups' VLAN rows, whose operator became "=" (a company's VLAN per member wins),
    // and the plan group's Acct-Interim-Interval, which groups send since sessions arrived.
    const core::ManualClock clock{core::parse_instant("2026-12-01T12:00:00Z").value()};
    int generated = 0;
    reconcile::Environment env{st, *stores->radius, clock, [&](int) {
                                   ++generated;
                                   return std::string("never-used-1");
                               }};
    reconcile::RunOptions run;
    run.mode = "file";
    auto report = reconcile::reconcile_full(env, test::hot_desk_downtown_config(), snap, run);
    ASSERT_TRUE(report) << report.error().message;
    std::size_t interim_rows = 0;
    for (const auto& change : report->row_changes) {
        if (change.op == reconcile::RowChange::Op::kInsert && change.after &&
            change.after->attribute == "Acct-Interim-Interval") {
            ++interim_rows;
            continue;
        }
        ASSERT_TRUE(change.before && change.after) << reconcile::describe(*report);
        EXPECT_EQ(change.after->table, store::Table::kRadgroupreply);
        EXPECT_EQ(change.before->op, ":=");
        EXPECT_EQ(change.after->op, "=");
        EXPECT_EQ(change.after->value, change.before->value);
    }
    EXPECT_EQ(interim_rows, 1U) << reconcile::describe(*report);
    EXPECT_EQ(report->row_changes.size(), 4U) << reconcile::describe(*report);
    EXPECT_EQ(generated, 0);

    // Not one secret in clear in either file or next to them.
    stores->state.reset();  // closed: everything is in the files
    stores->radius.reset();
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        const std::string bytes = file_bytes(entry.path().string());
        for (const auto& secret : kFixtureSecrets) {
            EXPECT_EQ(bytes.find(secret), std::string::npos)
                << secret << " in " << entry.path().filename();
        }
        for (const auto& [id, password] : old_passwords) {
            EXPECT_EQ(bytes.find(password), std::string::npos)
                << id << "'s password in " << entry.path().filename();
        }
    }
}

TEST(StoreSplit, AnInterruptedSplitIsFinishedByTheNextStart) {
    test::TempDir reference_dir;
    const auto reference_paths = one_file_database(reference_dir);
    const std::string expected =
        digest(*open_sqlite_stores(reference_paths, secret_properties()).value().state);

    for (const char* step : {"state-built", "state-in-place", "dropped"}) {
        SCOPED_TRACE(step);
        test::TempDir dir;
        const auto paths = one_file_database(dir);
        OpenOptions interrupted = secret_properties();
        interrupted.interrupt = [&](std::string_view at) { return at == step; };
        auto stopped = open_sqlite_stores(paths, interrupted);
        ASSERT_FALSE(stopped);
        EXPECT_NE(stopped.error().message.find(step), std::string::npos);

        if (std::string_view(step) == "state-built") {
            // Nothing is in place yet: the RADIUS file still holds everything.
            EXPECT_FALSE(std::filesystem::exists(paths.state));
            EXPECT_EQ(sql(paths.radius, "SELECT count(*) FROM radsync_accounts"), "4\n");
        } else {
            EXPECT_TRUE(std::filesystem::exists(paths.state));
        }
        // A read-only command in between refuses the half-done split rather than misread it.
        if (std::string_view(step) != "dropped") {
            auto reader = open_sqlite_stores_read_only(paths);
            ASSERT_FALSE(reader);
            EXPECT_NE(reader.error().message.find("migrate"), std::string::npos)
                << reader.error().message;
        }
        auto stores = open_sqlite_stores(paths, secret_properties());
        ASSERT_TRUE(stores) << stores.error().message;
        EXPECT_EQ(digest(*stores->state), expected);
        EXPECT_EQ(sql(paths.radius,
                      "SELECT count(*) FROM sqlite_master WHERE name = "
                      "'radsync_accounts'"),
                  "0\n");
        EXPECT_FALSE(std::filesystem::exists(paths.state + ".partial"));
        EXPECT_EQ(sql(paths.state,
                      "SELECT count(*) FROM radsync_meta WHERE key = "
                      "'radius_vacuum_pending'"),
                  "0\n");
    }
}

// A state database that exists but was not made by the split is not silently taken as the
// split's result: the one-file tables stay, with a message that says what to do.
TEST(StoreSplit, AForeignStateDatabaseIsRefusedWhileTheRadiusFileStillHoldsState) {
    test::TempDir dir;
    const auto paths = one_file_database(dir);
    {
        test::TempDir other;
        const StorePaths fresh{(other.path() / "r.db").string(), paths.state};
        ASSERT_TRUE(open_sqlite_stores(fresh));  // an unrelated, empty state database
    }
    auto refused = open_sqlite_stores(paths);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("was not split out of"), std::string::npos)
        << refused.error().message;
    EXPECT_EQ(sql(paths.radius, "SELECT count(*) FROM radsync_accounts"), "4\n");
}

// The database directory is writable by FreeRADIUS's group: a link planted there must not
// make radsync (perhaps run by root) create, chmod or chown a file somewhere else.
TEST(StoreOpen, ADatabaseThatIsASymbolicLinkIsRefusedAndItsTargetLeftAlone) {
    test::TempDir dir;
    const auto target = dir.path() / "elsewhere.sh";
    std::filesystem::create_symlink(target, dir.path() / "radsync.db");
    auto refused = open_sqlite_stores(
        {(dir.path() / "radsync.db").string(), (dir.path() / "state.db").string()});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("symbolic link"), std::string::npos)
        << refused.error().message;
    EXPECT_FALSE(std::filesystem::exists(target));
}

}  // namespace
}  // namespace radsync::store
