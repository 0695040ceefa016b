#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "radsync/mapping/credentials.hpp"
#include "radsync/service/poller.hpp"
#include "support/hot_desk_config.hpp"
#include "support/temp_dir.hpp"

namespace radsync::service {
namespace {

using namespace std::chrono_literals;

snapshot::Snapshot make_snapshot(int members) {
    std::string m;
    std::string ms;
    for (int i = 0; i < members; ++i) {
        const std::string id = "m" + std::to_string(100 + i);
        m += std::string(m.empty() ? "" : ",") + R"({"_id":")" + id + R"(","email":")" + id +
             R"(@cowork.test","status":"active"})";
        ms += std::string(ms.empty() ? "" : ",") + R"({"_id":"ms)" + id + R"(","member":")" + id +
              R"(","plan":"p1","startDate":"2026-01-01"})";
    }
    return snapshot::parse_snapshot(R"({"plans":[{"_id":"p1","name":"Hot Desk"}],"members":[)" + m +
                                    R"(],"memberships":[)" + ms + "]}")
        .value();
}

struct PollerHarness {
    test::TempDir dir;
    core::SystemClock clock;
    metrics::Registry metrics;
    std::unique_ptr<StoreWorker> worker;
    std::atomic<int> fetches{0};
    Result<snapshot::Snapshot> next = make_snapshot(3);
    std::mutex mu;

    PollerHarness() {
        auto st = store::open_sqlite_stores(
                      {(dir.path() / "radius.db").string(), (dir.path() / "state.db").string()})
                      .value();
        worker = std::make_unique<StoreWorker>(std::move(st), test::hot_desk_config(), clock,
                                               mapping::generate_password, metrics,
                                               StoreWorker::Options{});
        EXPECT_TRUE(worker->start());
    }
    ~PollerHarness() { worker->stop(); }

    Poller::Source source() {
        Poller::Source s;
        s.fetch = [this]() -> Result<snapshot::Snapshot> {
            ++fetches;
            std::lock_guard lock(mu);
            return next;
        };
        s.confirm = [this](snapshot::Kind, const std::string& id) {
            std::lock_guard lock(mu);
            confirmed.push_back(id);
            return answer;
        };
        return s;
    }
    std::vector<std::string> confirmed;
    reconcile::Confirmation answer{reconcile::Confirmation::Presence::kGone, {}, {}};

    // Waits for one requested run to end (the promise is set by the poller's thread).
    static Result<reconcile::RunReport> run_now(Poller& p, bool dry_run = false) {
        std::promise<Result<reconcile::RunReport>> done;
        auto f = done.get_future();
        p.trigger({dry_run, false,
                   [&done](Result<reconcile::RunReport> r) { done.set_value(std::move(r)); }});
        return f.get();
    }
};

TEST(Poller, InitialImportThenRequestedRunsAndFailuresChangeNothing) {
    PollerHarness h;
    Poller poller(h.source(), *h.worker, sched::Policy{15min, 0.1, 30s}, h.metrics);
    poller.start();  // queues the initial import

    auto first = PollerHarness::run_now(poller);  // runs after the initial import
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(
        h.metrics.value("radsync_reconcile_runs_total", {{"mode", "full"}, {"result", "success"}}),
        2);
    EXPECT_EQ(first->applied.total(), 0U);  // the initial import already wrote everything
    EXPECT_EQ(h.metrics.value("radsync_radius_users", {{"state", "active"}}), 3);
    const auto full_inserts = [&h] {
        return h.metrics.value("radsync_reconcile_changes_total",
                               {{"mode", "full"}, {"op", "insert"}});
    };
    const double imported = full_inserts();
    EXPECT_GT(imported, 0);  // the initial import's rows, counted as a poll's
    EXPECT_EQ(
        h.metrics.value("radsync_reconcile_changes_total", {{"mode", "webhook"}, {"op", "insert"}}),
        0);
    EXPECT_EQ(h.metrics.value("radsync_reconcile_consecutive_failures"), 0);

    {
        std::lock_guard lock(h.mu);
        h.next = Error(Errc::kApiUnavailable, "simulated outage");
    }
    auto failed = PollerHarness::run_now(poller);
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code, Errc::kApiUnavailable);
    const auto st = poller.state();
    EXPECT_EQ(st.consecutive_failures, 1);
    EXPECT_EQ(h.metrics.value("radsync_reconcile_consecutive_failures"), 1);
    EXPECT_EQ(
        h.metrics.value("radsync_officernd_fetch_failures_total", {{"error", "api_unavailable"}}),
        1);
    EXPECT_EQ(st.last_error, "simulated outage");
    ASSERT_TRUE(st.next_run);
    // After one failure the next try comes after the retry base (30 s ± 10 %), not 15 min.
    EXPECT_LT(*st.next_run, std::chrono::system_clock::now() + 40s);
    EXPECT_EQ(h.metrics.value("radsync_radius_users", {{"state", "active"}}), 3);

    {
        std::lock_guard lock(h.mu);
        h.next = make_snapshot(4);
    }
    auto dry = PollerHarness::run_now(poller, /*dry_run=*/true);
    ASSERT_TRUE(dry);
    EXPECT_FALSE(dry->row_changes.empty());
    EXPECT_EQ(dry->applied.total(), 0U);
    EXPECT_EQ(full_inserts(), imported);  // a dry run changes nothing
    EXPECT_EQ(h.metrics.value("radsync_reconcile_consecutive_failures"), 1);  // nor the count
    auto recovered = PollerHarness::run_now(poller);
    ASSERT_TRUE(recovered);
    EXPECT_GT(recovered->applied.rows_inserted, 0U);
    EXPECT_EQ(full_inserts(), imported + static_cast<double>(recovered->applied.rows_inserted));
    EXPECT_EQ(poller.state().consecutive_failures, 0);
    EXPECT_EQ(h.metrics.value("radsync_reconcile_consecutive_failures"), 0);
    poller.stop();
    EXPECT_EQ(h.fetches.load(), 5);
}

// A reload hands the poller a new source (new credentials): the next run fetches from it.
// A run requested after stop() is answered (a control request waits for it).
TEST(Poller, AReplacedSourceServesTheNextRunAndARequestAfterStopIsAnswered) {
    PollerHarness h;
    Poller poller(h.source(), *h.worker, sched::Policy{15min, 0.1, 30s}, h.metrics);
    poller.start();
    ASSERT_TRUE(PollerHarness::run_now(poller));
    const int before = h.fetches.load();

    std::atomic<int> replaced{0};
    Poller::Source next = h.source();
    next.fetch = [&]() -> Result<snapshot::Snapshot> {
        ++replaced;
        return make_snapshot(5);
    };
    poller.replace_source(std::move(next));
    auto run = PollerHarness::run_now(poller);
    ASSERT_TRUE(run) << run.error().message;
    EXPECT_EQ(replaced.load(), 1);
    EXPECT_EQ(h.fetches.load(), before);
    EXPECT_EQ(h.metrics.value("radsync_radius_users", {{"state", "active"}}), 5);

    poller.stop();
    auto after = PollerHarness::run_now(poller);
    ASSERT_FALSE(after);
    EXPECT_EQ(after.error().code, Errc::kStoreBusy);
}

// Regression (trust issue, item 1): a member simply missing from a complete-looking list was
// disabled at once. Now the poller asks OfficeRnD about them by id first.
TEST(Poller, AMemberMissingFromTheListIsConfirmedByIdBeforeLosingAccess) {
    PollerHarness h;
    Poller poller(h.source(), *h.worker, sched::Policy{15min, 0.1, 30s}, h.metrics);
    poller.start();
    ASSERT_TRUE(PollerHarness::run_now(poller));  // three members, all active

    auto without = [](int drop) {
        auto s = make_snapshot(3);
        s.members.erase(s.members.begin() + drop);
        s.memberships.erase(s.memberships.begin() + drop);
        return s;
    };
    {
        std::lock_guard lock(h.mu);
        h.next = without(0);  // m100 is missing, with its membership
        h.answer = {reconcile::Confirmation::Presence::kUnknown, {}, "timed out"};
    }
    auto kept = PollerHarness::run_now(poller);
    ASSERT_TRUE(kept) << kept.error().message;
    ASSERT_TRUE(kept->vanished);
    EXPECT_EQ(kept->vanished->kept, 2U);  // the member and the membership
    EXPECT_EQ(h.confirmed, (std::vector<std::string>{"m100", "msm100"}));
    EXPECT_TRUE(kept->account_changes.empty()) << "nobody loses access on an unconfirmed gap";
    EXPECT_NE(reconcile::describe(*kept).find("vanished from the lists: 2"), std::string::npos);
    EXPECT_EQ(h.metrics.value("radsync_officernd_vanished_total", {{"outcome", "kept"}}), 2);

    {
        std::lock_guard lock(h.mu);
        h.answer = {reconcile::Confirmation::Presence::kGone, {}, {}};
        h.confirmed.clear();
    }
    auto gone = PollerHarness::run_now(poller);
    ASSERT_TRUE(gone) << gone.error().message;
    EXPECT_EQ(gone->vanished->gone, 2U);
    ASSERT_EQ(gone->account_changes.size(), 1U);
    EXPECT_EQ(gone->account_changes[0].record.state, store::AccountState::kRevoked);
    EXPECT_EQ(gone->account_changes[0].record.member_id, "m100");
    // Once revoked, the member no longer counts: nothing more is asked.
    h.confirmed.clear();
    ASSERT_TRUE(PollerHarness::run_now(poller));
    EXPECT_TRUE(h.confirmed.empty());
    poller.stop();
}

TEST(Poller, MoreMissingThanTheBoundHoldsThemAllAndGuardsTheRun) {
    PollerHarness h;
    auto source = h.source();
    source.max_confirm = 1;
    Poller poller(std::move(source), *h.worker, sched::Policy{15min, 0.1, 30s}, h.metrics);
    poller.start();
    ASSERT_TRUE(PollerHarness::run_now(poller));
    {
        std::lock_guard lock(h.mu);
        h.next = make_snapshot(1);  // two of three members (and memberships) missing
    }
    auto held = PollerHarness::run_now(poller);
    ASSERT_TRUE(held) << held.error().message;
    ASSERT_TRUE(held->guarded);
    EXPECT_NE(held->guarded->reason.find("4 members, companies or memberships vanished"),
              std::string::npos)
        << held->guarded->reason;
    EXPECT_TRUE(h.confirmed.empty());
    EXPECT_TRUE(held->account_changes.empty());
    EXPECT_EQ(h.metrics.value("radsync_deletion_guard_tripped", {}), 1);
    poller.stop();
}

}  // namespace
}  // namespace radsync::service
