// The e-mail outbox: queued with the accounts in one transaction, claimed, settled, recovered
// after a crash, cancelled when access ends; and the mailer that drains it, against a fake
// relay.

#include <gtest/gtest.h>

#include <future>
#include <mutex>

#include "radsync/mapping/credentials.hpp"
#include "radsync/notify/message.hpp"
#include "radsync/service/mailer.hpp"
#include "radsync/service/store_worker.hpp"
#include "support/hot_desk_config.hpp"
#include "support/sql_probe.hpp"
#include "support/temp_dir.hpp"

namespace radsync::service {
namespace {

using namespace std::chrono_literals;
using store::OutboxStatus;

// Hot Desk members; `emails` overrides the default <id>@cowork.test.
snapshot::Snapshot members(const std::vector<std::string>& ids,
                           const std::map<std::string, std::string>& emails = {}) {
    std::string list;
    std::string memberships;
    for (const auto& id : ids) {
        const auto e = emails.find(id);
        const std::string email = e == emails.end() ? id + "@cowork.test" : e->second;
        list += std::string(list.empty() ? "" : ",") + R"({"_id":")" + id + R"(","name":"Member )" +
                id + R"(","email":")" + email + R"(","status":"active"})";
        memberships += std::string(memberships.empty() ? "" : ",") + R"({"_id":"ms-)" + id +
                       R"(","member":")" + id + R"(","plan":"p1","startDate":"2026-01-01"})";
    }
    return snapshot::parse_snapshot(R"({"plans":[{"_id":"p1","name":"Hot Desk"}],"members":[)" +
                                    list + R"(],"memberships":[)" + memberships + "]}")
        .value();
}

std::shared_ptr<const config::Config> mail_config(int max_attempts = 3) {
    auto cfg = std::make_shared<config::Config>(*test::hot_desk_config());
    config::Notify n;
    n.from = "WiFi <wifi@cowork.test>";
    n.from_address = "wifi@cowork.test";
    n.ssids = {"Cowork"};
    n.max_attempts = max_attempts;
    n.retry_min = 0s;  // retried at once: the tests wait on outcomes, never on the clock
    n.retry_max = 0s;
    n.smtp.host = "127.0.0.1";
    n.smtp.rate_per_minute = 100'000;
    n.smtp.max_connections = 1;
    for (const auto kind : config::kMessageKinds) {
        n.templates[static_cast<std::size_t>(kind)] = {"WiFi for {name}",
                                                       "user {username} password {password}", ""};
    }
    cfg->notify = n;
    return cfg;
}

// A relay that records what it is handed and answers as told.
struct FakeRelay {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<notify::Envelope> accepted;
    std::vector<notify::SendResult::Status> script;  // answers to give first, in order
    int attempts = 0;

    Mailer::TransportFactory factory() {
        return [this](const config::Smtp&, const std::string&) -> Mailer::Send {
            return [this](const notify::Envelope& e) {
                std::lock_guard lock(mu);
                notify::SendResult r;
                r.status = notify::SendResult::Status::kAccepted;
                if (static_cast<std::size_t>(attempts) < script.size()) {
                    r.status = script[static_cast<std::size_t>(attempts)];
                    r.error = "scripted failure";
                }
                ++attempts;
                if (r.status == notify::SendResult::Status::kAccepted) {
                    accepted.push_back(e);
                }
                cv.notify_all();
                return r;
            };
        };
    }
    bool wait_accepted(std::size_t n) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, 10s, [&] { return accepted.size() >= n; });
    }
};

struct Harness {
    test::TempDir dir;
    store::StorePaths paths{(dir.path() / "radius.db").string(),
                            (dir.path() / "state.db").string()};
    core::SystemClock clock;
    metrics::Registry metrics;
    std::shared_ptr<const config::Config> cfg;
    std::unique_ptr<StoreWorker> worker;
    std::unique_ptr<Mailer> mailer;
    FakeRelay relay;

    explicit Harness(std::shared_ptr<const config::Config> c = mail_config()) : cfg(std::move(c)) {}
    ~Harness() { stop(); }

    void start(bool with_mailer = true, Mailer::Options options = {}) {
        worker = std::make_unique<StoreWorker>(store::open_sqlite_stores(paths).value(), cfg, clock,
                                               mapping::generate_password, metrics,
                                               StoreWorker::Options{});
        if (with_mailer) {
            if (!options.transport) {
                options.transport = relay.factory();
            }
            mailer = std::make_unique<Mailer>(*worker, cfg, clock, metrics, std::move(options));
            worker->on_messages_queued([this] { mailer->wake(); });
        }
        ASSERT_TRUE(worker->start());
        if (mailer) {
            ASSERT_TRUE(mailer->start());
        }
    }
    void stop() {
        if (mailer) {
            mailer->stop();
            mailer.reset();
        }
        if (worker) {
            worker->stop();
            worker.reset();
        }
    }
    void full(const snapshot::Snapshot& snap) {
        std::promise<Result<reconcile::RunReport>> done;
        auto f = done.get_future();
        reconcile::RunOptions o;
        o.mode = "test";
        worker->submit_full(snap, o, std::nullopt, [&done](Result<reconcile::RunReport> r) {
            done.set_value(std::move(r));
        });
        ASSERT_TRUE(f.get());
    }
    std::vector<store::OutboxMessage> list() {
        return store::open_sqlite_stores_read_only(paths)
            .value()
            .state->outbox_list(std::nullopt, std::nullopt, 100)
            .value();
    }
    std::string sql(const std::string& q) { return test::sql(paths.state, q); }
};

std::string header(const std::string& data, const std::string& name) {
    const auto at = data.find("\r\n" + name + ": ");
    if (at == std::string::npos) {
        return "";
    }
    const auto start = at + name.size() + 4;
    return data.substr(start, data.find("\r\n", start) - start);
}

TEST(Outbox, ANewMemberGetsOneMessageQueuedWithTheAccount) {
    Harness h;
    h.start(false);
    h.full(members({"m1", "m2"}));
    const auto messages = h.list();
    ASSERT_EQ(messages.size(), 2u);
    for (const auto& m : messages) {
        EXPECT_EQ(m.kind, "welcome");
        EXPECT_EQ(m.status, OutboxStatus::kPending);
        EXPECT_TRUE(m.carries_password);
        EXPECT_EQ(m.recipient, m.subject + "@cowork.test");
    }
    // The payload (with the password) is sealed at rest, never in clear.
    EXPECT_EQ(h.sql("SELECT count(*) FROM radsync_outbox WHERE payload LIKE 'radsync-sealed:v1:%'"),
              "2\n");
    EXPECT_EQ(h.sql("SELECT count(*) FROM radsync_outbox WHERE payload LIKE '%password%'"), "0\n");
    // A second identical run queues nothing more.
    h.full(members({"m1", "m2"}));
    EXPECT_EQ(h.list().size(), 2u);
}

TEST(Outbox, SentMessagesLoseTheirPasswordAndAreNeverSentTwice) {
    Harness h;
    h.start();
    h.full(members({"m1"}));
    ASSERT_TRUE(h.relay.wait_accepted(1));
    h.stop();  // waits for the settle
    const auto messages = h.list();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].status, OutboxStatus::kSent);
    EXPECT_TRUE(messages[0].sent_at);
    EXPECT_EQ(h.sql("SELECT count(*) FROM radsync_outbox WHERE payload IS NOT NULL"), "0\n");
    const auto& e = h.relay.accepted[0];
    EXPECT_EQ(e.to, std::vector<std::string>{"m1@cowork.test"});
    EXPECT_EQ(e.from, "wifi@cowork.test");
    EXPECT_EQ(header(e.data, "Message-ID"), messages[0].message_id);
    // Restarting sends nothing again.
    h.start();
    h.full(members({"m1"}));
    h.stop();
    EXPECT_EQ(h.relay.accepted.size(), 1u);
}

TEST(Outbox, ACrashAfterThe250SendsItOnceMoreWithTheSameMessageId) {
    Harness h;
    // Between the relay's 250 and its record: the process dies (the settle never happens).
    std::promise<void> accepted;
    std::promise<void> worker_gone;
    auto gone = worker_gone.get_future().share();
    Mailer::Options options;
    options.transport = h.relay.factory();
    bool crashed = false;
    options.accepted = [&, gone](const store::OutboxMessage&) {
        if (!crashed) {
            crashed = true;
            accepted.set_value();
            gone.wait();  // the store is gone before the 250 can be recorded: a kill -9
        }
    };
    h.start(true, std::move(options));
    h.full(members({"m1"}));
    accepted.get_future().wait();
    h.worker->stop();
    worker_gone.set_value();
    h.mailer->stop();  // its settle failed: the message stays `sending`
    h.mailer.reset();
    h.worker.reset();
    ASSERT_EQ(h.list().at(0).status, OutboxStatus::kSending);
    const std::string first_id = header(h.relay.accepted.at(0).data, "Message-ID");

    h.start();
    ASSERT_TRUE(h.relay.wait_accepted(2));
    h.stop();
    ASSERT_EQ(h.relay.accepted.size(), 2u);
    EXPECT_EQ(header(h.relay.accepted[1].data, "Message-ID"), first_id);
    EXPECT_EQ(h.list().at(0).status, OutboxStatus::kSent);
}

TEST(Outbox, TransientFailuresAreRetriedThenParkedAndRequeued) {
    Harness h(mail_config(2));
    using S = notify::SendResult::Status;
    h.relay.script = {S::kTransient, S::kTransient};
    h.start();
    h.full(members({"m1"}));
    for (int i = 0; i < 500 && h.list().at(0).status != OutboxStatus::kParked; ++i) {
        std::this_thread::sleep_for(10ms);  // polls a subprocess-free outcome, bounded
    }
    auto m = h.list().at(0);
    EXPECT_EQ(m.status, OutboxStatus::kParked);
    EXPECT_EQ(m.attempts, 2);
    EXPECT_NE(m.last_error.find("gave up after 2 attempts: scripted failure"), std::string::npos);
    EXPECT_EQ(h.relay.accepted.size(), 0u);

    std::promise<Result<std::size_t>> requeued;
    h.worker->outbox_requeue(std::nullopt,
                             [&](Result<std::size_t> n) { requeued.set_value(std::move(n)); });
    EXPECT_EQ(requeued.get_future().get().value(), 1u);
    ASSERT_TRUE(h.relay.wait_accepted(1));
    h.stop();
    EXPECT_EQ(h.list().at(0).status, OutboxStatus::kSent);
}

TEST(Outbox, APermanentRefusalIsParkedAtOnce) {
    Harness h;
    h.relay.script = {notify::SendResult::Status::kPermanent};
    h.start();
    h.full(members({"m1"}));
    for (int i = 0; i < 500 && h.list().at(0).status != OutboxStatus::kParked; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(h.list().at(0).status, OutboxStatus::kParked);
    EXPECT_EQ(h.list().at(0).attempts, 1);
}

TEST(Outbox, AMemberRevokedBeforeSendingGetsNoCredentials) {
    Harness h;
    h.start(false);
    h.full(members({"m1", "m2"}));
    h.full(members({"m2"}));  // m1 leaves before any mailer ran
    h.stop();
    h.start();
    ASSERT_TRUE(h.relay.wait_accepted(1));
    h.stop();
    ASSERT_EQ(h.relay.accepted.size(), 1u);
    EXPECT_EQ(h.relay.accepted[0].to.at(0), "m2@cowork.test");
    for (const auto& m : h.list()) {
        if (m.subject == "m1") {
            EXPECT_EQ(m.status, OutboxStatus::kCancelled);
            EXPECT_NE(m.last_error.find("lost access"), std::string::npos);
        }
    }
    EXPECT_EQ(h.sql("SELECT count(*) FROM radsync_outbox WHERE payload IS NOT NULL"), "0\n");
}

TEST(Outbox, AResetEmailsTheNewPasswordAndCancelsTheOldOne) {
    Harness h;
    h.start(false);
    h.full(members({"m1"}));
    std::promise<Result<reconcile::ResetOutcome>> done;
    h.worker->reset_password(
        "m1", false, [&](Result<reconcile::ResetOutcome> r) { done.set_value(std::move(r)); });
    auto outcome = done.get_future().get();
    ASSERT_TRUE(outcome) << outcome.error().message;
    EXPECT_TRUE(outcome->decision.new_password.empty());  // it travels by e-mail only
    EXPECT_EQ(outcome->emailed_to, std::vector<std::string>{"m1@cowork.test"});
    auto messages = h.list();
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0].kind, "reset");
    EXPECT_EQ(messages[0].status, OutboxStatus::kPending);
    EXPECT_EQ(messages[1].kind, "welcome");
    EXPECT_EQ(messages[1].status, OutboxStatus::kCancelled);

    // --print: shown once, nothing mailed, the pending reset e-mail is cancelled.
    std::promise<Result<reconcile::ResetOutcome>> printed;
    h.worker->reset_password(
        "m1", true, [&](Result<reconcile::ResetOutcome> r) { printed.set_value(std::move(r)); });
    auto shown = printed.get_future().get();
    ASSERT_TRUE(shown);
    EXPECT_FALSE(shown->decision.new_password.empty());
    EXPECT_TRUE(shown->emailed_to.empty());
    messages = h.list();
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0].status, OutboxStatus::kCancelled);
}

TEST(Outbox, ASecondPasswordSupersedesAnUnsentFirst) {
    Harness h;
    h.start(false);
    h.full(members({"m1"}));
    for (int i = 0; i < 2; ++i) {
        std::promise<Result<reconcile::ResetOutcome>> done;
        h.worker->reset_password(
            "m1", false, [&](Result<reconcile::ResetOutcome> r) { done.set_value(std::move(r)); });
        ASSERT_TRUE(done.get_future().get());
    }
    EXPECT_EQ(h.sql("SELECT group_concat(kind || ':' || status, ',') FROM "
                    "(SELECT * FROM radsync_outbox ORDER BY id)"),
              "welcome:cancelled,reset:cancelled,reset:pending\n");
}

TEST(Outbox, CredentialsGoToTheAddressTheMemberHasWhenTheyAreSent) {
    Harness h;
    h.start(false);
    h.full(members({"m1", "m2"}));
    // Corrected in OfficeRnD before the mailer ran: m1's typo is fixed, m2's address removed.
    h.full(members({"m1", "m2"}, {{"m1", "ada.fixed@cowork.test"}, {"m2", ""}}));
    h.stop();
    h.start();
    ASSERT_TRUE(h.relay.wait_accepted(1));
    h.stop();
    ASSERT_EQ(h.relay.accepted.size(), 1u);
    EXPECT_EQ(h.relay.accepted[0].to, std::vector<std::string>{"ada.fixed@cowork.test"});
    EXPECT_EQ(header(h.relay.accepted[0].data, "To"), "ada.fixed@cowork.test");
    // The username is made from the e-mail: the message names the account as it is now.
    EXPECT_NE(h.relay.accepted[0].data.find("dXNlciBhZGEuZml4ZWRAY293b3JrLnRlc3Qg"),
              std::string::npos)
        << "base64 of 'user ada.fixed@cowork.test '";
    for (const auto& m : h.list()) {
        if (m.subject == "m2") {
            // Its username was its e-mail, so the account lost access with the address and the
            // run cancelled the message (with member-id usernames the claim would have).
            EXPECT_EQ(m.status, OutboxStatus::kCancelled);
            EXPECT_NE(m.last_error.find("cancelled: "), std::string::npos);
        }
    }
}

TEST(Outbox, AnUnreadablePayloadIsParkedAndHoldsNothingBack) {
    Harness h;
    h.start(false);
    h.full(members({"m1", "m2"}));
    h.stop();
    // Sealed under another key (a restored database with the wrong key file, say).
    (void)h.sql(
        "UPDATE radsync_outbox SET payload = 'radsync-sealed:v1:"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE subject = 'm1'");
    h.start();
    ASSERT_TRUE(h.relay.wait_accepted(1));
    h.stop();
    ASSERT_EQ(h.relay.accepted.size(), 1u);
    EXPECT_EQ(h.relay.accepted[0].to.at(0), "m2@cowork.test");
    for (const auto& m : h.list()) {
        if (m.subject == "m1") {
            EXPECT_EQ(m.status, OutboxStatus::kParked);
            EXPECT_NE(m.last_error.find("payload cannot be opened"), std::string::npos);
        }
    }
}

}  // namespace
}  // namespace radsync::service
