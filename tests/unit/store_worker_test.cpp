// The store worker's processing of committed webhook events: an event that keeps failing is
// parked after ProcessingPolicy::max_attempts and the events behind it go on; a database that
// cannot even record the failure parks nothing.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <future>
#include <thread>

#include "radsync/mapping/credentials.hpp"
#include "radsync/service/store_worker.hpp"
#include "support/crash_vfs.hpp"
#include "support/hot_desk_config.hpp"
#include "support/sql_probe.hpp"
#include "support/temp_dir.hpp"

namespace radsync::service {
namespace {

reconcile::RunOptions seed_options() {
    reconcile::RunOptions o;
    o.mode = "test";
    o.source = "seed";
    return o;
}

using namespace std::chrono_literals;

store::InboxEvent member_created(const std::string& id) {
    const std::string body = R"({"event":"ev-)" + id +
                             R"(","eventType":"member.created","data":{"object":{"_id":")" + id +
                             R"(","email":")" + id +
                             R"(@cowork.test","status":"active",)"
                             R"("modifiedAt":"2026-11-22T08:00:00.000Z"}}})";
    // Received now: the worker prunes old processed events on its first round.
    return {"ev-" + id, "member.created", "1764000000", core::SystemClock().now(), body};
}

// Runs SQL on the database through a connection of its own (as an operator's tool would).
void run_sql(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10'000);  // the worker may be mid-transaction
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
}

struct WorkerHarness {
    test::TempDir dir;
    std::string path = (dir.path() / "state.db").string();  // the worker's own tables
    std::string radius_path = (dir.path() / "radius.db").string();
    core::SystemClock clock;
    metrics::Registry metrics;
    std::unique_ptr<StoreWorker> worker;

    // `setup_sql` runs after the schema exists and before the worker starts.
    explicit WorkerHarness(const std::string& setup_sql) {
        auto st = store::open_sqlite_stores({radius_path, path}).value();
        run_sql(path, setup_sql);
        worker = start_worker(std::move(st), metrics);
    }
    ~WorkerHarness() { worker->stop(); }

    std::unique_ptr<StoreWorker> start_worker(store::Stores st, metrics::Registry& into) {
        StoreWorker::Options options;
        // Retries almost at once: the test waits on outcomes, never on the clock.
        options.processing.retry_after = 1ms;
        options.processing.max_attempts = 3;
        auto w = std::make_unique<StoreWorker>(std::move(st), test::hot_desk_config(), clock,
                                               mapping::generate_password, into, options);
        EXPECT_TRUE(w->start());
        return w;
    }

    // A daemon started again on the same databases, its metrics in `into`.
    void restart(metrics::Registry& into) {
        worker->stop();
        worker.reset();
        worker = start_worker(store::open_sqlite_stores({radius_path, path}).value(), into);
    }

    void ingest(const store::InboxEvent& event) {
        std::promise<Result<StoreWorker::Ingest>> done;
        auto f = done.get_future();
        worker->ingest(event, [&done](Result<StoreWorker::Ingest> r) { done.set_value(r); });
        auto r = f.get();
        ASSERT_TRUE(r);
        EXPECT_EQ(*r, StoreWorker::Ingest::kStored);
    }

    std::map<std::string, std::size_t> counts() {
        return store::open_sqlite_stores_read_only({radius_path, path})
            .value()
            .state->inbox_counts()
            .value();
    }
};

std::string query_text(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
    std::string out;
    while (sqlite3_step(st) == SQLITE_ROW) {
        out += std::string(out.empty() ? "" : ",") +
               reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

TEST(StoreWorkerProcessing, AnEventThatKeepsFailingIsParkedAndTheOthersGoOn) {
    // The snapshot row of m2 cannot be written: a stand-in for whatever makes one event fail
    // every time while the database itself is fine.
    WorkerHarness h(
        "CREATE TRIGGER poison BEFORE INSERT ON radsync_members WHEN NEW.id = 'm2' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;");
    h.ingest(member_created("m1"));
    h.ingest(member_created("m2"));
    h.ingest(member_created("m3"));

    ASSERT_TRUE(h.worker->wait_processed(3, 10s));
    const auto counts = h.counts();
    EXPECT_EQ(counts.at("applied"), 2U);
    EXPECT_EQ(counts.at("parked"), 1U);
    EXPECT_EQ(counts.count(""), 0U);  // nothing left pending
    EXPECT_EQ(query_text(h.path, "SELECT id FROM radsync_members ORDER BY id"), "m1,m3");
    EXPECT_EQ(query_text(h.path, "SELECT attempts FROM radsync_inbox WHERE event_id = 'ev-m2'"),
              "3");
    EXPECT_NE(query_text(h.path, "SELECT result FROM radsync_inbox WHERE event_id = 'ev-m2'")
                  .find("poisoned row"),
              std::string::npos);
    EXPECT_EQ(h.metrics.value("radsync_inbox_events_total", {{"result", "parked"}}), 1);
    EXPECT_EQ(h.metrics.value("radsync_inbox_parked"), 1);
    EXPECT_TRUE(h.worker->healthy());

    // The cause is fixed and an operator requeues it from another process (`radsync inbox
    // requeue`): the running worker notices within a second and applies it.
    run_sql(h.path, "DROP TRIGGER poison;");
    auto other = store::open_sqlite_stores({h.radius_path, h.path}).value();
    ASSERT_EQ(other.state->inbox_requeue_parked(std::string("ev-m2")).value(), 1U);
    ASSERT_TRUE(h.worker->wait_processed(4, 10s));
    EXPECT_EQ(query_text(h.path, "SELECT id FROM radsync_members ORDER BY id"), "m1,m2,m3");
    EXPECT_EQ(h.counts().at("applied"), 3U);
    EXPECT_EQ(h.metrics.value("radsync_inbox_parked"), 0);
}

// radsync_inbox_parked is read from the inbox, not counted up: a restarted daemon reports the
// events parked before it started, and `radsync inbox requeue` through the daemon clears it.
TEST(StoreWorkerProcessing, TheParkedGaugeSurvivesARestartAndARequeueClearsIt) {
    metrics::Registry restarted;  // outlives the worker that reports into it
    WorkerHarness h(
        "CREATE TRIGGER poison BEFORE INSERT ON radsync_members WHEN NEW.id = 'm2' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;");
    h.ingest(member_created("m2"));
    ASSERT_TRUE(h.worker->wait_processed(1, 10s));
    EXPECT_EQ(h.metrics.value("radsync_inbox_parked"), 1);

    h.restart(restarted);
    EXPECT_EQ(restarted.value("radsync_inbox_parked"), 1);
    EXPECT_EQ(restarted.value("radsync_inbox_events_total", {{"result", "parked"}}), 0);

    run_sql(h.path, "DROP TRIGGER poison;");
    std::promise<Result<std::size_t>> done;
    auto requeued = done.get_future();
    h.worker->requeue_parked(std::nullopt,
                             [&done](Result<std::size_t> n) { done.set_value(std::move(n)); });
    EXPECT_EQ(requeued.get().value(), 1U);
    EXPECT_EQ(restarted.value("radsync_inbox_parked"), 0);  // set before the answer
    ASSERT_TRUE(h.worker->wait_processed(1, 10s));
    EXPECT_EQ(query_text(h.path, "SELECT id FROM radsync_members ORDER BY id"), "m2");
    EXPECT_EQ(restarted.value("radsync_inbox_parked"), 0);
}

TEST(StoreWorkerProcessing, NothingIsParkedWhenTheDatabaseCannotRecordTheFailure) {
    // Every snapshot write fails and so does recording an attempt: that is the database's
    // problem, not the events'. They stay pending for as long as it lasts.
    WorkerHarness h(
        "CREATE TRIGGER broken BEFORE INSERT ON radsync_members "
        "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END;"
        "CREATE TRIGGER broken_inbox BEFORE UPDATE OF attempts ON radsync_inbox "
        "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END;");
    h.ingest(member_created("m1"));
    h.ingest(member_created("m2"));

    // Many more failed runs than max_attempts (3), bounded by a deadline.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (h.metrics.value("radsync_store_errors_total", {{"kind", "apply"}}) < 12 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    EXPECT_GE(h.metrics.value("radsync_store_errors_total", {{"kind", "apply"}}), 12);
    EXPECT_FALSE(h.worker->healthy());
    const auto counts = h.counts();
    EXPECT_EQ(counts.count("parked"), 0U);
    EXPECT_EQ(counts.at(""), 2U);

    // The trouble ends: both are applied.
    run_sql(h.path, "DROP TRIGGER broken; DROP TRIGGER broken_inbox;");
    ASSERT_TRUE(h.worker->wait_processed(2, 10s));
    EXPECT_EQ(query_text(h.path, "SELECT id FROM radsync_members ORDER BY id"), "m1,m2");
    EXPECT_TRUE(h.worker->healthy());
}

std::shared_ptr<const config::Config> with_session_timeout(std::chrono::seconds timeout) {
    auto cfg = std::make_shared<config::Config>(*test::hot_desk_config());
    cfg->mapping.groups.at(0).session_timeout = timeout;
    return cfg;
}

TEST(StoreWorkerProcessing, AReloadedMappingIsAppliedToEveryMemberAndGroupAtOnce) {
    WorkerHarness h("SELECT 1;");
    h.worker->set_config(with_session_timeout(std::chrono::seconds{3600}));
    std::promise<Result<reconcile::RunReport>> seeded;
    h.worker->submit_full(
        snapshot::parse_snapshot(
            R"({"plans":[{"_id":"p1","name":"Hot Desk"}],)"
            R"("members":[{"_id":"m1","email":"m1@cowork.test","status":"active"}],)"
            R"("memberships":[{"_id":"ms1","member":"m1","plan":"p1","startDate":"2026-01-01"}]})")
            .value(),
        seed_options(), std::nullopt,
        [&seeded](Result<reconcile::RunReport> r) { seeded.set_value(std::move(r)); });
    ASSERT_TRUE(seeded.get_future().get());
    const std::string timeout_sql =
        "SELECT value FROM radgroupreply WHERE attribute = 'Session-Timeout'";
    ASSERT_EQ(query_text(h.radius_path, timeout_sql), "3600");

    // SIGHUP with a longer session: no poll, no webhook, yet the group row changes. (Waiting
    // on the row, not on the run counter: the remap of the first configuration may still be
    // counting.)
    h.worker->set_config(with_session_timeout(std::chrono::seconds{7200}));
    // The run is counted just after its commit: wait for both, bounded.
    const auto reload_runs = [&] {
        return h.metrics.value("radsync_reconcile_runs_total",
                               {{"mode", "reload"}, {"result", "success"}});
    };
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while ((query_text(h.radius_path, timeout_sql) != "7200" || reload_runs() < 1) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    EXPECT_EQ(query_text(h.radius_path, timeout_sql), "7200");
    EXPECT_GE(reload_runs(), 1);
    // The member keeps the account (a remap is not a removal).
    EXPECT_EQ(query_text(h.path, "SELECT username FROM radsync_accounts"), "m1@cowork.test");
}

store::InboxEvent event(const std::string& id, const std::string& type, const std::string& object) {
    const std::string body = R"({"event":")" + id + R"(","eventType":")" + type +
                             R"(","data":{"object":)" + object + "}}";
    return {id, type, "1764000000", core::SystemClock().now(), body};
}

Result<reconcile::RunReport> full_run(StoreWorker& worker, const std::string& json,
                                      std::optional<std::uint64_t> fetch_started) {
    std::promise<Result<reconcile::RunReport>> done;
    auto f = done.get_future();
    worker.submit_full(snapshot::parse_snapshot(json).value(), seed_options(), fetch_started,
                       [&done](Result<reconcile::RunReport> r) { done.set_value(std::move(r)); });
    return f.get();
}

// Found while fixing the trust issue (same class as item 1): a poll takes seconds to minutes;
// a member who joined by webhook meanwhile was missing from the fetched lists and lost access
// at the full run (until the next poll), and one who left came back.
TEST(StoreWorkerProcessing, APollUnderWayCannotUndoWebhooksThatArrivedMeanwhile) {
    WorkerHarness h("SELECT 1;");
    const std::string plans = R"("plans":[{"_id":"p1","name":"Hot Desk"}])";
    const std::string old_ada = R"({"_id":"ada","email":"ada@cowork.test","status":"active",)"
                                R"("modifiedAt":"2026-11-01T08:00:00.000Z"})";
    const std::string ada_ms =
        R"({"_id":"ms-ada","member":"ada","plan":"p1","startDate":"2026-01-01",)"
        R"("modifiedAt":"2026-11-01T08:00:00.000Z"})";
    const std::string before =
        "{" + plans + R"(,"members":[)" + old_ada + R"(],"memberships":[)" + ada_ms + "]}";
    ASSERT_TRUE(full_run(*h.worker, before, std::nullopt));

    const auto fetch_started = h.worker->begin_fetch();  // the poll starts fetching ...
    // ... and while it runs, Bob joins and Ada leaves.
    h.ingest(event("ev-bob", "member.created",
                   R"({"_id":"bob","email":"bob@cowork.test","status":"active",)"
                   R"("modifiedAt":"2026-11-22T09:00:00.000Z"})"));
    h.ingest(event("ev-bob-ms", "membership.created",
                   R"({"_id":"ms-bob","member":"bob","plan":"p1","startDate":"2026-01-01",)"
                   R"("modifiedAt":"2026-11-22T09:00:00.000Z"})"));
    h.ingest(event("ev-ada", "member.removed",
                   R"({"_id":"ada","status":"former","modifiedAt":"2026-11-22T09:01:00.000Z"})"));
    ASSERT_TRUE(h.worker->wait_processed(3, 10s));
    ASSERT_EQ(query_text(h.path, "SELECT state FROM radsync_accounts WHERE member_id = 'bob'"),
              "active");

    // The poll's lists were read before either change.
    auto stale = full_run(*h.worker, before, fetch_started);
    ASSERT_TRUE(stale) << stale.error().message;
    EXPECT_EQ(query_text(h.path, "SELECT state FROM radsync_accounts WHERE member_id = 'bob'"),
              "active");
    EXPECT_EQ(query_text(h.path, "SELECT state FROM radsync_accounts WHERE member_id = 'ada'"),
              "revoked");
    EXPECT_EQ(query_text(h.path, "SELECT id || ':' || removed FROM radsync_members ORDER BY id"),
              "ada:1,bob:0");
    // A later poll that does list the changes agrees, and nothing is left to merge.
    const std::string after =
        "{" + plans +
        R"(,"members":[{"_id":"bob","email":"bob@cowork.test",)"
        R"("status":"active","modifiedAt":"2026-11-22T09:00:00.000Z"}],)"
        R"("memberships":[{"_id":"ms-bob","member":"bob","plan":"p1",)"
        R"("startDate":"2026-01-01","modifiedAt":"2026-11-22T09:00:00.000Z"}]})";
    auto next = full_run(*h.worker, after, h.worker->begin_fetch());
    ASSERT_TRUE(next);
    EXPECT_EQ(next->applied.rows_inserted + next->applied.rows_deleted, 0U);
}

snapshot::Snapshot three_hot_desk_members() {
    std::string members;
    std::string memberships;
    for (const char* id : {"ma", "mb", "mc"}) {
        members += std::string(members.empty() ? "" : ",") + R"({"_id":")" + id + R"(","email":")" +
                   id + R"(@cowork.test","status":"active"})";
        memberships += std::string(memberships.empty() ? "" : ",") + R"({"_id":"ms-)" + id +
                       R"(","member":")" + id + R"(","plan":"p1","startDate":"2026-01-01"})";
    }
    return snapshot::parse_snapshot(R"({"plans":[{"_id":"p1","name":"Hot Desk"}],"members":[)" +
                                    members + R"(],"memberships":[)" + memberships + "]}")
        .value();
}

// Waits until the worker has done everything queued before this call.
void drain(StoreWorker& worker) {
    std::promise<void> done;
    auto f = done.get_future();
    worker.requeue_parked(std::nullopt, [&done](Result<std::size_t>) { done.set_value(); });
    f.get();
}

// After a stop that was not clean (here a power loss) the RADIUS rows may not be what the state
// says (a crash between the two commits; rows an operator's tool changed meanwhile). So the
// next start derives every row again from the state; after a clean stop it does not.
TEST(StoreWorkerDurability, AfterPowerLossTheRadiusRowsAreDerivedAgainAtStart) {
    test::TempDir dir;
    const store::StorePaths paths{(dir.path() / "radius.db").string(),
                                  (dir.path() / "state.db").string()};
    const std::string users = "SELECT count(DISTINCT username) FROM radcheck";
    core::SystemClock clock;
    const auto start_worker = [&](metrics::Registry& metrics) {
        auto worker = std::make_unique<StoreWorker>(
            store::open_sqlite_stores(paths).value(), test::hot_desk_config(), clock,
            mapping::generate_password, metrics, StoreWorker::Options{});
        EXPECT_TRUE(worker->start());
        drain(*worker);
        return worker;
    };
    {
        test::CrashSimulation machine;
        metrics::Registry metrics;
        auto worker = start_worker(metrics);
        std::promise<Result<reconcile::RunReport>> done;
        auto f = done.get_future();
        worker->submit_full(three_hot_desk_members(), seed_options(), std::nullopt,
                            [&done](Result<reconcile::RunReport> r) { done.set_value(r); });
        ASSERT_TRUE(f.get());
        machine.power_loss();
        worker->stop();
        worker.reset();
        machine.restart();
    }
    EXPECT_EQ(test::sql(paths.state, "SELECT count(*) FROM radsync_accounts"), "3\n");
    // What the crash took back, as far as the state is concerned.
    run_sql(paths.radius, "DELETE FROM radcheck WHERE username LIKE 'ma@%'");
    EXPECT_EQ(test::sql(paths.radius, users), "2\n");

    metrics::Registry metrics;
    auto worker = start_worker(metrics);
    EXPECT_EQ(test::sql(paths.radius, users), "3\n");
    EXPECT_EQ(
        metrics.value("radsync_reconcile_runs_total", {{"mode", "repair"}, {"result", "success"}}),
        1);
    worker->stop();
    worker.reset();

    metrics::Registry clean;
    worker = start_worker(clean);
    EXPECT_EQ(
        clean.value("radsync_reconcile_runs_total", {{"mode", "repair"}, {"result", "success"}}),
        0);
    worker->stop();
}

// Waits (bounded) until the worker has counted `n` applied transitions: its metrics are
// updated after the commit, so the rows may be visible a moment before.
bool transitions_applied(const metrics::Registry& metrics, double n) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (metrics.value("radsync_transitions_total", {{"result", "applied"}}) < n) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::yield();
    }
    return true;
}

// A member whose Hot Desk membership starts on 2026-12-02 (dates read in Europe/Berlin).
snapshot::Snapshot starts_tomorrow() {
    return snapshot::parse_snapshot(
               R"({"plans":[{"_id":"p1","name":"Hot Desk"}],)"
               R"("members":[{"_id":"m1","email":"m1@cowork.test","status":"active"}],)"
               R"("memberships":[{"_id":"ms1","member":"m1","plan":"p1",)"
               R"("startDate":"2026-12-02T00:00:00.000Z"}]})")
        .value();
}

std::shared_ptr<const config::Config> berlin_hot_desk() {
    auto cfg = std::make_shared<config::Config>(*test::hot_desk_config());
    cfg->default_timezone = "Europe/Berlin";
    return cfg;
}

TEST(StoreWorkerSchedule, AMembershipStartingTomorrowBeginsAtLocalMidnightWithoutAPoll) {
    test::TempDir dir;
    const store::StorePaths paths{(dir.path() / "radius.db").string(),
                                  (dir.path() / "state.db").string()};
    const std::string active = "SELECT count(*) FROM radsync_accounts WHERE state = 'active'";
    // 23:59:58 in Berlin.
    core::ManualClock clock(core::parse_instant("2026-12-01T22:59:58Z").value());
    metrics::Registry metrics;
    auto worker = std::make_unique<StoreWorker>(
        store::open_sqlite_stores(paths).value(), berlin_hot_desk(), clock,
        mapping::generate_password, metrics, StoreWorker::Options{});
    ASSERT_TRUE(worker->start());
    std::promise<Result<reconcile::RunReport>> done;
    worker->submit_full(starts_tomorrow(), seed_options(), std::nullopt,
                        [&done](Result<reconcile::RunReport> r) { done.set_value(r); });
    ASSERT_TRUE(done.get_future().get());
    EXPECT_EQ(test::sql(paths.state, active), "0\n");
    EXPECT_EQ(test::sql(paths.state, "SELECT subject, at FROM radsync_schedule"),
              "m1|1796166000\n");  // 2026-12-01T23:00:00Z

    clock.set(core::parse_instant("2026-12-01T23:00:00Z").value());
    ASSERT_TRUE(transitions_applied(metrics, 1));
    EXPECT_EQ(test::sql(paths.state, active), "1\n");
    EXPECT_EQ(test::sql(paths.radius,
                        "SELECT count(*) FROM radcheck WHERE username = 'm1@cowork.test' "
                        "AND attribute = 'NT-Password'"),
              "1\n");
    EXPECT_EQ(test::sql(paths.state, "SELECT count(*) FROM radsync_schedule"), "0\n");

    // NTP steps the clock back by an hour and a poll brings the same data: the member keeps
    // access (no transition undone, none to repeat at the next midnight).
    clock.set(core::parse_instant("2026-12-01T22:00:00Z").value());
    std::promise<Result<reconcile::RunReport>> poll;
    worker->submit_full(starts_tomorrow(), seed_options(), std::nullopt,
                        [&poll](Result<reconcile::RunReport> r) { poll.set_value(r); });
    ASSERT_TRUE(poll.get_future().get());
    EXPECT_EQ(test::sql(paths.state, active), "1\n");
    EXPECT_EQ(test::sql(paths.state, "SELECT count(*) FROM radsync_schedule"), "0\n");
    worker->stop();
}

TEST(StoreWorkerSchedule, ATransitionMissedWhileStoppedIsAppliedAtStart) {
    test::TempDir dir;
    const store::StorePaths paths{(dir.path() / "radius.db").string(),
                                  (dir.path() / "state.db").string()};
    core::ManualClock clock(core::parse_instant("2026-12-01T12:00:00Z").value());
    {
        metrics::Registry metrics;
        StoreWorker worker(store::open_sqlite_stores(paths).value(), berlin_hot_desk(), clock,
                           mapping::generate_password, metrics, StoreWorker::Options{});
        ASSERT_TRUE(worker.start());
        std::promise<Result<reconcile::RunReport>> done;
        worker.submit_full(starts_tomorrow(), seed_options(), std::nullopt,
                           [&done](Result<reconcile::RunReport> r) { done.set_value(r); });
        ASSERT_TRUE(done.get_future().get());
        worker.stop();  // a clean stop: the next start repairs nothing
    }
    EXPECT_EQ(test::sql(paths.state, "SELECT count(*) FROM radsync_accounts"), "0\n");

    clock.set(core::parse_instant("2026-12-02T08:00:00Z").value());  // down over midnight
    metrics::Registry metrics;
    StoreWorker worker(store::open_sqlite_stores(paths).value(), berlin_hot_desk(), clock,
                       mapping::generate_password, metrics, StoreWorker::Options{});
    ASSERT_TRUE(worker.start());
    ASSERT_TRUE(transitions_applied(metrics, 1));
    EXPECT_EQ(
        test::sql(paths.state, "SELECT count(*) FROM radsync_accounts WHERE state = 'active'"),
        "1\n");
    EXPECT_EQ(
        metrics.value("radsync_reconcile_runs_total", {{"mode", "repair"}, {"result", "success"}}),
        0);
    worker.stop();
}

}  // namespace
}  // namespace radsync::service

namespace radsync::service {
namespace {

using namespace std::chrono_literals;

// Webhook runs are scoped to the entities' members: a booking's guests must be in that scope
// (their accounts are keyed by booking and visitor), or a booking.created gives them nothing
// until the next poll, and a booking.removed leaves them their access.
TEST(StoreWorkerGuests, BookingWebhooksCreateAndRemoveGuestAccountsAtOnce) {
    test::TempDir dir;
    const store::StorePaths paths{(dir.path() / "radius.db").string(),
                                  (dir.path() / "state.db").string()};
    auto cfg = std::make_shared<config::Config>(*test::hot_desk_config());
    config::AccessGroup guest;
    guest.name = "guest";
    cfg->mapping.groups.push_back(guest);
    config::Guests guests;
    guests.group = "guest";
    cfg->mapping.guests = guests;
    core::SystemClock clock;
    metrics::Registry metrics;
    StoreWorker worker(store::open_sqlite_stores(paths).value(), cfg, clock,
                       mapping::generate_password, metrics, StoreWorker::Options{});
    ASSERT_TRUE(worker.start());
    ASSERT_TRUE(full_run(worker,
                         R"({"resources":[{"_id":"r1","type":"meeting_room"}],)"
                         R"("visitors":[{"_id":"v1","name":"Vera","email":"vera@example.test"}]})",
                         std::nullopt));
    const auto now = clock.now();
    const std::string booking =
        R"({"_id":"b1","member":"m1","resource":"r1","start":")" +
        core::format_instant(now - 10min) + R"(","end":")" + core::format_instant(now + 1h) +
        R"(","visitors":["v1"],"modifiedAt":")" + core::format_instant(now) + R"("})";
    const std::string accounts = "SELECT count(*) FROM radsync_accounts WHERE kind = 'guest'";

    std::promise<Result<StoreWorker::Ingest>> created;
    worker.ingest(event("ev-b1", "booking.created", booking),
                  [&created](Result<StoreWorker::Ingest> r) { created.set_value(r); });
    ASSERT_TRUE(created.get_future().get());
    ASSERT_TRUE(worker.wait_processed(1, 10s));
    EXPECT_EQ(test::sql(paths.state, accounts), "1\n");
    // The guest's rows are counted as a webhook's changes, not a poll's.
    const auto changes = [&metrics](const char* mode, const char* op) {
        return metrics.value("radsync_reconcile_changes_total", {{"mode", mode}, {"op", op}});
    };
    EXPECT_GT(changes("webhook", "insert"), 0);
    EXPECT_EQ(changes("full", "insert"), 0);

    // An occupancy slot of the booking is a hint: nothing stored, the guest re-mapped.
    std::promise<Result<StoreWorker::Ingest>> slot;
    worker.ingest(event("ev-s1", "occupancyslot.created", R"({"_id":"s1","booking":"b1"})"),
                  [&slot](Result<StoreWorker::Ingest> r) { slot.set_value(r); });
    ASSERT_TRUE(slot.get_future().get());
    ASSERT_TRUE(worker.wait_processed(2, 10s));
    EXPECT_EQ(test::sql(paths.state, "SELECT result FROM radsync_inbox WHERE event_id = 'ev-s1'"),
              "applied\n");

    std::promise<Result<StoreWorker::Ingest>> removed;
    worker.ingest(event("ev-b1-gone", "booking.removed", booking),
                  [&removed](Result<StoreWorker::Ingest> r) { removed.set_value(r); });
    ASSERT_TRUE(removed.get_future().get());
    ASSERT_TRUE(worker.wait_processed(3, 10s));
    EXPECT_EQ(test::sql(paths.state, accounts), "0\n");
    EXPECT_GT(changes("webhook", "delete") + changes("webhook", "update"), 0);
    EXPECT_EQ(changes("full", "delete") + changes("full", "update"), 0);
    worker.stop();
}

}  // namespace
}  // namespace radsync::service
