#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "radsync/store/store.hpp"
#include "support/crash_vfs.hpp"
#include "support/temp_dir.hpp"

namespace radsync::store {
namespace {

using reconcile::RowChange;

core::Instant at(const char* iso) {
    return core::parse_instant(iso).value();
}

// Runs SQL through the plain C API: what FreeRADIUS or an operator would do beside radsync.
std::string sql(const std::string& path, const std::string& query) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    std::string out;
    char* err = nullptr;
    sqlite3_exec(
        db, query.c_str(),
        [](void* acc, int n, char** values, char**) {
            auto* s = static_cast<std::string*>(acc);
            for (int i = 0; i < n; ++i) {
                *s += (i ? "|" : "") + std::string(values[i] ? values[i] : "NULL");
            }
            *s += "\n";
            return 0;
        },
        &out, &err);
    if (err != nullptr) {
        out = std::string("ERROR: ") + err;
        sqlite3_free(err);
    }
    sqlite3_close(db);
    return out;
}

RowChange insert(Table t, const std::string& name, const std::string& attr,
                 const std::string& value, int priority = 0) {
    return {RowChange::Op::kInsert, std::nullopt, std::nullopt,
            RadRow{t, name, attr, t == Table::kRadusergroup ? "" : ":=", value, priority}};
}

TEST(Store, MigrationsCreateTheStockFreeRadiusSchemaInWal) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    auto st = open_sqlite_store(path);
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(sql(path, "PRAGMA journal_mode"), "wal\n");
    EXPECT_EQ(sql(path, "PRAGMA user_version"),
              std::to_string(embedded_migrations().back().version) + "\n");
    // Column layout exactly as FreeRADIUS's schema.sql (the stock queries rely on it).
    EXPECT_EQ(sql(path, "SELECT group_concat(name, ',') FROM pragma_table_info('radcheck')"),
              "id,username,attribute,op,value\n");
    EXPECT_EQ(sql(path, "SELECT group_concat(name, ',') FROM pragma_table_info('radusergroup')"),
              "id,username,groupname,priority\n");
    EXPECT_EQ(sql(path,
                  "SELECT count(*) FROM sqlite_master WHERE name IN ('radpostauth','radacct',"
                  "'nas','radgroupcheck','radgroupreply','radreply')"),
              "6\n");
}

TEST(Store, MigratingTwiceIsANoOpAndNewerDatabasesAreRefused) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    ASSERT_TRUE(migrate_sqlite(path));
    auto again = migrate_sqlite(path);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->database_version, again->binary_version);

    sql(path, "PRAGMA user_version = 999");
    auto refused = open_sqlite_store(path);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::kStoreSchemaTooNew);
    EXPECT_NE(refused.error().message.find("schema version 999"), std::string::npos);
    EXPECT_EQ(open_sqlite_store_read_only(path).error().code, Errc::kStoreSchemaTooNew);
}

TEST(Store, AdoptsADatabaseFreeRadiusBootstrappedItself) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    sql(path, embedded_migrations().front().sql);  // tables and indexes exist, version 0
    sql(path, "INSERT INTO radcheck (username, attribute, op, value) VALUES ('x','A',':=','1')");
    ASSERT_TRUE(open_sqlite_store(path));
    EXPECT_EQ(sql(path, "SELECT count(*) FROM radcheck"), "1\n");
}

TEST(Store, AppliesRowsTracksOwnershipAndNeverTouchesForeignRows) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    auto st = open_sqlite_store(path).value();
    // An operator's hand-made user, before and beside radsync.
    sql(path,
        "INSERT INTO radcheck (username, attribute, op, value) VALUES "
        "('staff-laptop','Cleartext-Password',':=','x')");

    WriteSet w;
    w.run_mode = "test";
    w.rows = {insert(Table::kRadcheck, "ada", "NT-Password", "abc"),
              insert(Table::kRadusergroup, "ada", "radsync:plan:pro", "", 10),
              insert(Table::kRadgroupreply, "radsync:plan:pro", "Fall-Through", "Yes")};
    w.reasons["ada"] = "granted: because";
    auto report = st->apply(w, at("2026-11-22T12:00:00Z"));
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ(report->rows_inserted, 3U);

    auto owned = st->load_owned_rows().value();
    ASSERT_EQ(owned.size(), 3U);
    EXPECT_EQ(st->foreign_usernames().value(), std::set<std::string>{"staff-laptop"});

    // Delete everything radsync owns: the operator's row stays.
    WriteSet del;
    del.run_mode = "test";
    for (const auto& o : owned) {
        del.rows.push_back({RowChange::Op::kDelete, o.id, o.row, std::nullopt});
    }
    ASSERT_TRUE(st->apply(del, at("2026-11-22T12:01:00Z")));
    EXPECT_EQ(sql(path, "SELECT username FROM radcheck"), "staff-laptop\n");
    EXPECT_EQ(sql(path, "SELECT count(*) FROM radsync_owned_rows"), "0\n");

    // The audit log has every change, with the password masked.
    EXPECT_EQ(sql(path,
                  "SELECT op, attribute, old_value, new_value, reason FROM radsync_audit "
                  "WHERE name = 'ada' AND tbl = 'radcheck' ORDER BY id"),
              "insert|NT-Password||:= (secret)|granted: because\n"
              "delete|NT-Password|:= (secret)||\n");
    EXPECT_EQ(sql(path, "SELECT count(*), min(result) FROM radsync_runs"), "2|ok\n");
}

TEST(Store, UpdatesKeepRowIds) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    auto st = open_sqlite_store(path).value();
    WriteSet w;
    w.rows = {insert(Table::kRadusergroup, "ada", "radsync:plan:pro", "", 10)};
    ASSERT_TRUE(st->apply(w, at("2026-11-22T12:00:00Z")));
    const auto before = st->load_owned_rows().value().at(0);
    RadRow changed = before.row;
    changed.priority = 20;
    WriteSet u;
    u.rows = {{RowChange::Op::kUpdate, before.id, before.row, changed}};
    ASSERT_TRUE(st->apply(u, at("2026-11-22T12:00:00Z")));
    const auto after = st->load_owned_rows().value().at(0);
    EXPECT_EQ(after.id, before.id);
    EXPECT_EQ(after.row.priority, 20);
}

TEST(Store, AFailedApplyWritesNothingButRecordsTheFailure) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    auto st = open_sqlite_store(path).value();
    WriteSet w;
    w.run_mode = "test";
    // The second insert fails half way through (a trigger stands in for a full disk).
    w.rows = {insert(Table::kRadcheck, "ada", "NT-Password", "abc"),
              insert(Table::kRadcheck, "bob", "NT-Password", "def")};
    sql(path,
        "CREATE TRIGGER boom BEFORE INSERT ON radcheck WHEN NEW.username = 'bob' "
        "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");
    auto report = st->apply(w, at("2026-11-22T12:00:00Z"));
    ASSERT_FALSE(report);
    EXPECT_EQ(report.error().code, Errc::kStoreFailed);
    EXPECT_EQ(sql(path, "SELECT count(*) FROM radcheck"), "0\n");
    EXPECT_EQ(sql(path, "SELECT count(*) FROM radsync_owned_rows"), "0\n");
    EXPECT_EQ(sql(path, "SELECT result, error FROM radsync_runs"), "failed|step: disk on fire\n");
}

TEST(Store, SnapshotRoundTripsAndOnlyChangedEntitiesAreWritten) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    auto st = open_sqlite_store(path).value();
    auto snap = snapshot::parse_snapshot(
                    R"({"members":[{"_id":"m1","email":"a@x.test","status":"active"},{"_id":"m2"}],
                        "memberships":[{"_id":"ms1","member":"m1","plan":"p"}],
                        "plans":[{"_id":"p","name":"Hot Desk"}]})")
                    .value();
    WriteSet w;
    w.replace_snapshot = snap;
    EXPECT_EQ(st->apply(w, at("2026-11-22T12:00:00Z")).value().snapshot_rows_written, 4U);
    const auto loaded = st->load_snapshot().value();
    ASSERT_EQ(loaded.members.size(), 2U);
    EXPECT_EQ(loaded.members[0].email, "a@x.test");
    EXPECT_EQ(loaded.memberships[0].plan, "p");
    EXPECT_EQ(sql(path, "SELECT email, status FROM radsync_members WHERE id='m1'"),
              "a@x.test|active\n");

    // Same snapshot again: nothing written. One member gone: one delete.
    EXPECT_EQ(st->apply(w, at("2026-11-22T12:00:00Z")).value().snapshot_rows_written, 0U);
    w.replace_snapshot->members.pop_back();
    EXPECT_EQ(st->apply(w, at("2026-11-22T12:00:00Z")).value().snapshot_rows_written, 1U);
    EXPECT_EQ(st->load_snapshot().value().members.size(), 1U);
}

TEST(Store, AccountsRoundTrip) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    auto st = open_sqlite_store(path).value();
    AccountRecord a;
    a.member_id = "m1";
    a.username = "ada@cowork.test";
    a.password = "pw";
    a.state = AccountState::kRevoked;
    a.state_since = at("2026-11-01T00:00:00Z");
    a.expires = at("2026-12-01T00:00:00Z");
    a.reason = "why";
    WriteSet w;
    w.accounts = {{AccountChange::Op::kUpsert, a}};
    ASSERT_TRUE(st->apply(w, at("2026-11-22T12:00:00Z")));
    EXPECT_EQ(st->load_accounts().value().at("m1"), a);
    w.accounts = {{AccountChange::Op::kDelete, a}};
    ASSERT_TRUE(st->apply(w, at("2026-11-22T12:00:00Z")));
    EXPECT_TRUE(st->load_accounts().value().empty());
}

}  // namespace
}  // namespace radsync::store

namespace radsync::store {
namespace {

TEST(StoreInbox, AppendDedupesPendingAndProcessedAndPrune) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    auto st = open_sqlite_store(path).value();
    const auto now = at("2026-11-22T12:00:00Z");
    std::vector<InboxEvent> batch = {{"e1", "member.updated", "1", now, "{}"},
                                     {"e2", "member.updated", "2", now, "{\"x\":1}"},
                                     {"e1", "member.updated", "1", now, "{}"}};
    EXPECT_EQ(st->inbox_append(batch).value(), (std::vector<bool>{true, true, false}));
    EXPECT_EQ(st->inbox_append({batch[1]}).value(), std::vector<bool>{false});
    EXPECT_EQ(st->inbox_depth().value(), 2U);
    auto pending = st->inbox_pending(10).value();
    ASSERT_EQ(pending.size(), 2U);
    EXPECT_EQ(pending[0].event_id, "e1");
    EXPECT_EQ(pending[1].body, "{\"x\":1}");

    WriteSet w;
    w.processed_events = {{"e1", "applied"}};
    ASSERT_TRUE(st->apply(w, now));
    // A duplicate right after a statement that changed rows (the UPDATE above) is still
    // recognised: sqlite3_changes() would report that statement's count.
    EXPECT_EQ(st->inbox_append({batch[1]}).value(), std::vector<bool>{false});
    EXPECT_EQ(st->inbox_depth().value(), 1U);
    EXPECT_EQ(st->inbox_pending(10).value().at(0).event_id, "e2");
    // Still a duplicate after processing, until pruned.
    EXPECT_EQ(st->inbox_append({batch[0]}).value(), std::vector<bool>{false});
    EXPECT_EQ(st->inbox_prune(now + std::chrono::hours{1}).value(), 1U);
    EXPECT_EQ(st->inbox_append({batch[0]}).value(), std::vector<bool>{true});
}

TEST(StoreInbox, FailedAttemptsCountUpAndAParkedEventIsNoLongerPending) {
    test::TempDir dir;
    auto st = open_sqlite_store((dir.path() / "r.db").string()).value();
    const auto now = at("2026-11-22T12:00:00Z");
    ASSERT_TRUE(st->inbox_append(
        {{"e1", "member.updated", "1", now, "{}"}, {"e2", "member.updated", "2", now, "{}"}}));
    EXPECT_EQ(st->inbox_record_failure("e1", "constraint failed").value(), 1);
    EXPECT_EQ(st->inbox_record_failure("e1", "constraint failed").value(), 2);
    EXPECT_EQ(st->inbox_record_failure("nope", "x").error().code, Errc::kNotFound);
    // Still pending: attempts alone change nothing about the order.
    EXPECT_EQ(st->inbox_pending(10).value().at(0).event_id, "e1");

    ASSERT_TRUE(st->inbox_park("e1", now));  // with the error of its last attempt
    EXPECT_EQ(st->inbox_depth().value(), 1U);
    EXPECT_EQ(st->inbox_pending(10).value().at(0).event_id, "e2");
    const auto counts = st->inbox_counts().value();
    EXPECT_EQ(counts.at("parked"), 1U);
    EXPECT_EQ(counts.at(""), 1U);
    // A redelivery of a parked event is still a duplicate (it is in the inbox, with its error).
    EXPECT_EQ(st->inbox_append({{"e1", "member.updated", "1", now, "{}"}}).value(),
              std::vector<bool>{false});

    const auto parked = st->inbox_parked(10).value();
    ASSERT_EQ(parked.size(), 1U);
    EXPECT_EQ(parked[0].event_id, "e1");
    EXPECT_EQ(parked[0].attempts, 2);
    EXPECT_EQ(parked[0].error, "constraint failed");
    // Requeued: pending again, first in line (arrival order), attempts from zero.
    EXPECT_EQ(st->inbox_requeue_parked(std::string("other")).value(), 0U);
    EXPECT_EQ(st->inbox_requeue_parked(std::nullopt).value(), 1U);
    EXPECT_EQ(st->inbox_depth().value(), 2U);
    EXPECT_EQ(st->inbox_pending(10).value().at(0).event_id, "e1");
    EXPECT_TRUE(st->inbox_parked(10).value().empty());
    EXPECT_EQ(st->inbox_record_failure("e1", "again").value(), 1);
}

TEST(StoreInbox, BackgroundCheckpointsKeepTheLogShortWithoutTheWriter) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    auto st = open_sqlite_store(path).value();
    ASSERT_TRUE(st->checkpoint_in_background());
    const auto now = at("2026-11-22T12:00:00Z");
    const auto db_size = [&] { return std::filesystem::file_size(path); };
    const auto before = db_size();
    // ~4 MB of bodies in 250 commits: several times SQLite's 1000-frame threshold. The
    // writer never checkpoints itself (its hook is replaced), so the database file grows
    // only if the background checkpointer copied the log into it.
    for (int b = 0; b < 250; ++b) {
        std::vector<InboxEvent> batch;
        for (int i = 0; i < 4; ++i) {
            batch.push_back({"e" + std::to_string(b * 4 + i), "member.updated", "1", now,
                             std::string(4000, 'x')});
        }
        ASSERT_TRUE(st->inbox_append(batch));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (db_size() < before + 2'000'000 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();  // waiting on another thread's progress, bounded
    }
    EXPECT_GE(db_size(), before + 2'000'000);
    EXPECT_EQ(st->inbox_depth().value(), 1000U);
}

TEST(StoreInbox, EntityWritesAndTombstonesPersist) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    auto st = open_sqlite_store(path).value();
    snapshot::Snapshot s;
    snapshot::Tombstones t;
    auto up = snapshot::merge_event(
                  s, t, snapshot::Kind::kMember,
                  R"({"_id":"m1","email":"a@x.test","modifiedAt":"2026-01-01T00:00:00Z"})", false)
                  .value();
    auto gone = snapshot::merge_event(s, t, snapshot::Kind::kMember,
                                      R"({"_id":"m2","modifiedAt":"2026-01-01T00:00:00Z"})", true)
                    .value();
    WriteSet w;
    w.entities = {up.second, gone.second};
    ASSERT_TRUE(st->apply(w, at("2026-11-22T12:00:00Z")));
    const auto loaded = st->load_snapshot().value();
    ASSERT_EQ(loaded.members.size(), 1U);
    EXPECT_EQ(loaded.members[0].email, "a@x.test");
    const auto tombstones = st->load_tombstones().value();
    ASSERT_EQ(tombstones.size(), 1U);
    EXPECT_EQ(tombstones.begin()->first.second, "m2");
}

}  // namespace
}  // namespace radsync::store

namespace radsync::store {
namespace {

TEST(StoreSchema, ReadOnlyStatusReportsVersionsWithoutChangingAnything) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    EXPECT_EQ(read_schema_status(path).error().code, Errc::kNotFound);
    sql(path, "CREATE TABLE t (x)");  // an existing, unmigrated file
    auto before = read_schema_status(path).value();
    EXPECT_EQ(before.database_version, 0);
    EXPECT_EQ(before.binary_version, embedded_migrations().back().version);
    EXPECT_EQ(sql(path, "SELECT count(*) FROM sqlite_master WHERE name = 'radcheck'"), "0\n");
    ASSERT_TRUE(migrate_sqlite(path));
    EXPECT_EQ(read_schema_status(path).value().database_version, before.binary_version);
}

// Regression (trust issue, item 12): with synchronous = NORMAL a WAL commit is not fsynced, so
// webhooks acknowledged just before an OS crash or a disk gone read-only were lost (28 of them
// in the campaign). Every commit radsync acknowledges must survive power loss.
TEST(StoreDurability, AnAcknowledgedInboxCommitSurvivesPowerLoss) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    test::CrashSimulation machine;
    {
        auto st = open_sqlite_store(path);
        ASSERT_TRUE(st) << st.error().message;
        const auto t = at("2026-03-01T08:00:00Z");
        std::vector<InboxEvent> batch = {{"e1", "member.updated", "1", t, "{}"},
                                         {"e2", "member.updated", "1", t, "{}"}};
        ASSERT_TRUE((*st)->inbox_append(batch));  // the point where the 2xx goes out
        ASSERT_TRUE((*st)->inbox_append({{"e3", "member.removed", "1", t, "{}"}}));
        machine.power_loss();
    }  // the connection goes down with the machine
    machine.restart();
    auto st = open_sqlite_store(path);
    ASSERT_TRUE(st) << st.error().message;
    auto pending = (*st)->inbox_pending(10);
    ASSERT_TRUE(pending) << pending.error().message;
    std::vector<std::string> ids;
    for (const auto& e : *pending) {
        ids.push_back(e.event_id);
    }
    EXPECT_EQ(ids, (std::vector<std::string>{"e1", "e2", "e3"}));
}

TEST(StoreDurability, AnAppliedRunSurvivesPowerLoss) {
    test::TempDir dir;
    const auto path = (dir.path() / "r.db").string();
    test::CrashSimulation machine;
    {
        auto st = open_sqlite_store(path);
        ASSERT_TRUE(st);
        WriteSet w;
        w.run_mode = "file";
        w.rows = {insert(Table::kRadcheck, "ada", "NT-Password", "00")};
        ASSERT_TRUE((*st)->apply(w, at("2026-03-01T08:00:00Z")));
        machine.power_loss();
    }
    machine.restart();
    EXPECT_EQ(sql(path, "SELECT username FROM radcheck"), "ada\n");
}

}  // namespace
}  // namespace radsync::store
