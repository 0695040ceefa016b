#include <gtest/gtest.h>

#include <filesystem>

#include "radsync/core/timezone.hpp"
#include "radsync/store/accounting.hpp"
#include "support/sql_probe.hpp"
#include "support/temp_dir.hpp"

namespace radsync::store {
namespace {

using test::sql;

// A row as FreeRADIUS's stock sqlite accounting queries write it: epoch seconds.
std::string start(const std::string& unique, const std::string& user, long started,
                  const std::string& updated = "NULL") {
    return "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, "
           "acctstarttime, acctupdatetime, callingstationid) VALUES ('s-" +
           unique + "', '" + unique + "', '" + user + "', '127.0.0.1', " + std::to_string(started) +
           ", " + updated + ", 'AA-BB');";
}

struct Accounting {
    test::TempDir dir;
    std::string path = (dir.path() / "accounting.db").string();
    std::unique_ptr<AccountingStore> db;
    Accounting() {
        auto opened = open_accounting_store(path);
        EXPECT_TRUE(opened) << opened.error().message;
        db = std::move(*opened);
    }
};

TEST(AccountingStore, CreatesTheStockTablesGroupWritable) {
    Accounting a;
    EXPECT_EQ(sql(a.path, "PRAGMA user_version"), "2\n");
    EXPECT_EQ(sql(a.path, "PRAGMA journal_mode"), "wal\n");
    EXPECT_EQ(sql(a.path,
                  "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
                  "('radacct', 'nasreload') ORDER BY name"),
              "nasreload\nradacct\n");
    const auto perms = std::filesystem::status(a.path).permissions();
    EXPECT_EQ(perms & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                  std::filesystem::perms::group_read | std::filesystem::perms::group_write);
    const auto status = accounting_schema_status(a.path);
    ASSERT_TRUE(status);
    EXPECT_EQ(*status, std::make_pair(2, 2));
}

TEST(AccountingStore, OpenSessionsOfOneUserOrAll) {
    Accounting a;
    sql(a.path, start("u1", "carol", 1000) + start("u2", "dave", 1100, "1200") +
                    start("u3", "carol", 1300) +
                    "UPDATE radacct SET acctstoptime = 1400 WHERE acctuniqueid = 'u3';");
    auto all = a.db->open_sessions(std::nullopt, 10);
    ASSERT_TRUE(all) << all.error().message;
    ASSERT_EQ(all->size(), 2U);
    EXPECT_EQ((*all)[0].username, "carol");
    EXPECT_EQ((*all)[0].session_id, "s-u1");
    EXPECT_EQ((*all)[0].calling_station_id, "AA-BB");
    EXPECT_EQ((*all)[0].last_heard, (*all)[0].started);  // no interim yet
    EXPECT_EQ((*all)[1].last_heard, core::Instant{std::chrono::seconds{1200}});
    auto carol = a.db->open_sessions(std::string("carol"), 10);
    ASSERT_TRUE(carol);
    EXPECT_EQ(carol->size(), 1U);
    EXPECT_EQ(a.db->open_session_count().value(), 2U);
}

TEST(AccountingStore, DateTextReadsAsEpochSeconds) {
    Accounting a;
    sql(a.path, start("u1", "carol", 0) + start("u2", "dave", 0) +
                    "UPDATE radacct SET acctstarttime = '2026-12-01 10:00:00', "
                    "acctupdatetime = '2026-12-01 10:05:00' WHERE acctuniqueid = 'u1';"
                    "UPDATE radacct SET acctstarttime = 1796000000.7 WHERE acctuniqueid = 'u2';");
    auto open = a.db->open_sessions(std::nullopt, 10);
    ASSERT_TRUE(open);
    ASSERT_EQ(open->size(), 2U);
    EXPECT_EQ(core::format_instant((*open)[0].started), "2026-12-01T10:00:00Z");
    EXPECT_EQ(core::format_instant((*open)[0].last_heard), "2026-12-01T10:05:00Z");
    EXPECT_EQ((*open)[1].started, core::Instant{std::chrono::seconds{1796000000}});  // a real
}

TEST(AccountingStore, ClosesOnlySessionsNotHeardOfSinceTheCutoff) {
    Accounting a;
    // u1: started long ago, never updated; u2: started long ago, interim recently; u3: new.
    sql(a.path,
        start("u1", "carol", 1000) + start("u2", "dave", 1000, "5000") + start("u3", "erin", 4900));
    const core::Instant cutoff{std::chrono::seconds{4000}};
    const core::Instant now{std::chrono::seconds{6000}};
    auto closed = a.db->close_stale(cutoff, now, 100);
    ASSERT_TRUE(closed) << closed.error().message;
    ASSERT_EQ(closed->size(), 1U);
    EXPECT_EQ((*closed)[0].username, "carol");
    EXPECT_EQ((*closed)[0].stopped, now);
    EXPECT_EQ(sql(a.path,
                  "SELECT acctuniqueid, acctstoptime, acctterminatecause, acctsessiontime FROM "
                  "radacct WHERE acctstoptime IS NOT NULL"),
              "u1|6000|Stale-Session|0\n");
    EXPECT_EQ(a.db->open_session_count().value(), 2U);
    // Idempotent: nothing more is stale.
    EXPECT_TRUE(a.db->close_stale(cutoff, now, 100).value().empty());
}

TEST(AccountingStore, SessionsSinceAreTheOpenOnesAndTheRecentlyStopped) {
    Accounting a;
    sql(a.path, start("u1", "carol", 1000) + start("u2", "dave", 1000) + start("u3", "erin", 1000) +
                    start("u4", "fay", 1000) + start("u5", "gus", 1000) +
                    "UPDATE radacct SET acctstoptime = 1500 WHERE acctuniqueid = 'u2';"
                    "UPDATE radacct SET acctstoptime = 3000 WHERE acctuniqueid = 'u3';"
                    // Date text, as other setups write it: 1970-01-01 01:00:00 is 3600.
                    "UPDATE radacct SET acctstoptime = '1970-01-01 01:00:00' WHERE acctuniqueid = "
                    "'u4';"
                    "UPDATE radacct SET acctstoptime = '1970-01-01 00:10:00' WHERE acctuniqueid = "
                    "'u5';");
    auto found = a.db->sessions_since(core::Instant{std::chrono::seconds{2000}}, 10);
    ASSERT_TRUE(found) << found.error().message;
    ASSERT_EQ(found->size(), 3U);
    EXPECT_EQ((*found)[0].username, "carol");  // the open ones first
    EXPECT_FALSE((*found)[0].stopped);
    EXPECT_EQ((*found)[1].username, "fay");  // then the stopped since, newest first
    EXPECT_EQ((*found)[1].stopped, core::Instant{std::chrono::seconds{3600}});
    EXPECT_EQ((*found)[2].username, "erin");
    EXPECT_EQ((*found)[2].stopped, core::Instant{std::chrono::seconds{3000}});
    // A limit never drops an open session for a stopped one.
    found = a.db->sessions_since(core::Instant{std::chrono::seconds{2000}}, 1);
    ASSERT_TRUE(found);
    ASSERT_EQ(found->size(), 1U);
    EXPECT_EQ((*found)[0].username, "carol");
}

TEST(AccountingStore, CheckinRecordsAreInsertedOnceUpdatedAndPruned) {
    using session::CheckinRecord;
    using session::CheckinState;
    Accounting a;
    const core::Instant t{std::chrono::seconds{1800000000}};
    CheckinRecord r{"m1", "loc1", "2027-01-15", CheckinState::kPending, t, std::nullopt, "", 0, ""};
    EXPECT_TRUE(a.db->checkin_insert(r, t).value());
    CheckinRecord other = r;
    other.start = t + std::chrono::hours{1};
    EXPECT_FALSE(a.db->checkin_insert(other, t).value());  // the day already has one
    r.state = CheckinState::kOpen;
    r.checkin_id = "c1";
    ASSERT_TRUE(a.db->checkin_update(r, t));
    CheckinRecord old{"m2", "loc1", "2026-11-01", CheckinState::kClosed, t, t, "c0", 0, ""};
    CheckinRecord stuck{"m3", "loc1", "2026-11-01", CheckinState::kOpen, t, std::nullopt,
                        "c9", 2,      "503"};
    ASSERT_TRUE(a.db->checkin_insert(old, t));
    ASSERT_TRUE(a.db->checkin_insert(stuck, t));
    auto recent = a.db->checkins("2027-01-01");
    ASSERT_TRUE(recent) << recent.error().message;
    // The day's record as updated, and the old one still open; not the old settled one.
    ASSERT_EQ(recent->size(), 2U);
    EXPECT_EQ((*recent)[0], stuck);
    EXPECT_EQ((*recent)[1], r);
    EXPECT_EQ(a.db->checkin_prune("2027-01-01").value(), 1U);  // the settled old one only
    EXPECT_EQ(sql(a.path, "SELECT member_id FROM radsync_checkins ORDER BY member_id"), "m1\nm3\n");
}

TEST(AccountingStore, ReadOnlyRefusesAMissingFile) {
    test::TempDir dir;
    auto db = open_accounting_store_read_only((dir.path() / "none.db").string());
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code, Errc::kNotFound);
    EXPECT_EQ(accounting_schema_status((dir.path() / "none.db").string()).value().first, 0);
}

}  // namespace
}  // namespace radsync::store
