// SmtpSession (libcurl) against tests/support/smtp_sink.py, a real aiosmtpd relay on loopback
// that each test starts with the options it needs (STARTTLS, SMTPS, AUTH, refusals, delays).
// The sink records every accepted message, and the connection it came over, before its 250,
// so the tests read the outcome from its directory. The only real waiting is the sink's
// start-up and the deliberate slow relay of the timeout test.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "radsync/notify/smtp.hpp"
#include "support/helper_process.hpp"
#include "support/temp_dir.hpp"

namespace radsync::notify {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using Security = SmtpSettings::Security;
using Status = SendResult::Status;

constexpr const char* kUser = "radsync";
constexpr const char* kPassword = "s3cret-Pa55";

std::string source_path(const std::string& relative) {
    return std::string(RADSYNC_SOURCE_DIR) + "/" + relative;
}

std::string cert_file() {
    return source_path("tests/fixtures/tls/test-cert.pem");
}
std::string key_file() {
    return source_path("tests/fixtures/tls/test-key.pem");
}

Envelope message(const std::string& id, std::vector<std::string> to = {"member@example.test"}) {
    Envelope e;
    e.from = "wifi@cowork.test";
    e.to = std::move(to);
    e.data =
        "From: WiFi <wifi@cowork.test>\r\n"
        "To: member@example.test\r\n"
        "Subject: Your WiFi access\r\n"
        "Message-ID: <" +
        id +
        "@cowork.test>\r\n"
        "\r\n"
        "Hello,\r\n"
        ".a line that starts with a dot, which SMTP must escape\r\n"
        "bye\r\n";
    return e;
}

std::string status_name(Status s) {
    switch (s) {
        case Status::kAccepted:
            return "accepted";
        case Status::kTransient:
            return "transient";
        case Status::kPermanent:
            return "permanent";
    }
    return "?";
}

class SmtpSessionTest : public ::testing::Test {
protected:
    void TearDown() override { stop_sink(); }

    // Starts the sink on `port`, or on one the kernel picks (0); the port actually bound
    // arrives through the ready file.
    void start_sink(const std::vector<std::string>& extra = {}, unsigned port = 0) {
        const std::string ready = (dir_.path() / "ready").string();
        std::vector<std::string> args = {"python3", source_path("tests/support/smtp_sink.py")};
        args.insert(args.end(), {"--port", std::to_string(port)});
        args.insert(args.end(), {"--dir", (dir_.path() / "mail").string()});
        args.insert(args.end(), {"--ready-file", ready});
        args.insert(args.end(), extra.begin(), extra.end());
        std::string error;
        const auto bound =
            sink_.start(args, (dir_.path() / "sink.log").string(), ready, true, error);
        ASSERT_TRUE(bound) << "SMTP sink: " << error;
        port_ = *bound;
    }

    void stop_sink() { sink_.stop(); }

    SmtpSettings settings(Security security) const {
        SmtpSettings s;
        s.host = "127.0.0.1";
        s.port = port_;
        s.security = security;
        s.connect_timeout = 5s;
        s.timeout = 10s;
        return s;
    }

    std::vector<json> accepted() const {
        std::vector<json> out;
        std::ifstream in(dir_.path() / "mail" / "log.jsonl");
        for (std::string line; std::getline(in, line);) {
            out.push_back(json::parse(line));
        }
        return out;
    }

    std::string eml(int seq) const {
        char name[16];
        std::snprintf(name, sizeof name, "%06d.eml", seq);
        std::ifstream in(dir_.path() / "mail" / name, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    std::string sink_log() const { return sink_.log(); }

    test::TempDir dir_;
    test::HelperProcess sink_;
    unsigned port_ = 0;
};

// What a failing expectation prints about a result.
std::string show(const SendResult& r) {
    return status_name(r.status) + " " + std::to_string(r.smtp_code) + " " + r.error;
}

// --- accepted --------------------------------------------------------------------------------

TEST_F(SmtpSessionTest, PlainMessageIsAcceptedAndStoredByteForByte) {
    ASSERT_NO_FATAL_FAILURE(start_sink());
    SmtpSession session(settings(Security::kNone));
    const Envelope m = message("plain-1", {"member@example.test", "copy@example.test"});

    const SendResult r = session.send(m);

    ASSERT_EQ(r.status, Status::kAccepted) << show(r) << "\n" << sink_log();
    EXPECT_EQ(r.smtp_code, 250);
    EXPECT_TRUE(r.error.empty());
    const auto log = accepted();
    ASSERT_EQ(log.size(), 1U);
    EXPECT_EQ(log[0]["mail_from"], "wifi@cowork.test");
    EXPECT_EQ(log[0]["rcpt_tos"], json({"member@example.test", "copy@example.test"}));
    EXPECT_EQ(log[0]["message_id"], "<plain-1@cowork.test>");
    EXPECT_EQ(log[0]["tls"], false);
    EXPECT_EQ(eml(1), m.data) << "dot-stuffing undone, nothing added or lost";
}

TEST_F(SmtpSessionTest, StartTlsWithTheRelaysCaIsAccepted) {
    ASSERT_NO_FATAL_FAILURE(start_sink({"--starttls", cert_file(), key_file()}));
    auto s = settings(Security::kStartTls);
    s.ca_file = cert_file();
    SmtpSession session(s);

    const SendResult r = session.send(message("starttls-1"));

    ASSERT_EQ(r.status, Status::kAccepted) << show(r) << "\n" << sink_log();
    const auto log = accepted();
    ASSERT_EQ(log.size(), 1U);
    EXPECT_EQ(log[0]["tls"], true);
}

TEST_F(SmtpSessionTest, SmtpsWithTheRelaysCaIsAccepted) {
    ASSERT_NO_FATAL_FAILURE(start_sink({"--smtps", cert_file(), key_file()}));
    auto s = settings(Security::kSmtps);
    s.ca_file = cert_file();
    SmtpSession session(s);

    const SendResult r = session.send(message("smtps-1"));

    ASSERT_EQ(r.status, Status::kAccepted) << show(r) << "\n" << sink_log();
    ASSERT_EQ(accepted().size(), 1U);
}

TEST_F(SmtpSessionTest, TwoMessagesShareOneConnection) {
    ASSERT_NO_FATAL_FAILURE(start_sink());
    SmtpSession session(settings(Security::kNone));

    const SendResult first = session.send(message("reuse-1"));
    const SendResult second = session.send(message("reuse-2"));

    ASSERT_EQ(first.status, Status::kAccepted) << show(first);
    ASSERT_EQ(second.status, Status::kAccepted) << show(second);
    const auto log = accepted();
    ASSERT_EQ(log.size(), 2U);
    EXPECT_EQ(log[0]["connection"], log[1]["connection"]);
    EXPECT_EQ(log[1]["message_id"], "<reuse-2@cowork.test>");
}

// --- TLS verification ------------------------------------------------------------------------

TEST_F(SmtpSessionTest, StartTlsWithoutTheCaIsPermanentAndSaysCertificate) {
    ASSERT_NO_FATAL_FAILURE(start_sink({"--starttls", cert_file(), key_file()}));
    SmtpSession session(settings(Security::kStartTls));  // system CAs only: self-signed fails

    const SendResult r = session.send(message("untrusted-1"));

    EXPECT_EQ(r.status, Status::kPermanent) << show(r);
    EXPECT_THAT(r.error, HasSubstr("certificate"));
    EXPECT_TRUE(accepted().empty());
}

TEST_F(SmtpSessionTest, CertificateForAnotherNameIsPermanent) {
    // 127.0.0.2 is loopback as well (all of 127/8 is), but not in the certificate's SAN.
    ASSERT_NO_FATAL_FAILURE(
        start_sink({"--host", "127.0.0.2", "--smtps", cert_file(), key_file()}));
    auto s = settings(Security::kSmtps);
    s.host = "127.0.0.2";
    s.ca_file = cert_file();
    SmtpSession session(s);

    const SendResult r = session.send(message("mismatch-1"));

    EXPECT_EQ(r.status, Status::kPermanent) << show(r);
    EXPECT_THAT(r.error, HasSubstr("certificate"));
    EXPECT_TRUE(accepted().empty());
}

TEST_F(SmtpSessionTest, AnUnreadableCaFileIsPermanent) {
    ASSERT_NO_FATAL_FAILURE(start_sink({"--starttls", cert_file(), key_file()}));
    auto s = settings(Security::kStartTls);
    s.ca_file = (dir_.path() / "no-such-ca.pem").string();
    SmtpSession session(s);

    const SendResult r = session.send(message("no-ca-1"));

    EXPECT_EQ(r.status, Status::kPermanent) << show(r);
    EXPECT_THAT(r.error, HasSubstr("ca_file"));
}

TEST_F(SmtpSessionTest, StartTlsRequiredButNotOfferedIsTransient) {
    ASSERT_NO_FATAL_FAILURE(start_sink());  // no STARTTLS on offer
    SmtpSession session(settings(Security::kStartTls));

    const SendResult r = session.send(message("no-starttls-1"));

    EXPECT_EQ(r.status, Status::kTransient) << show(r);
    EXPECT_TRUE(accepted().empty()) << "nothing may go out in cleartext";
}

// --- AUTH ------------------------------------------------------------------------------------

TEST_F(SmtpSessionTest, AuthWithTheRightPasswordIsAccepted) {
    ASSERT_NO_FATAL_FAILURE(start_sink(
        {"--starttls", cert_file(), key_file(), "--auth", std::string(kUser) + ":" + kPassword}));
    auto s = settings(Security::kStartTls);
    s.ca_file = cert_file();
    s.username = kUser;
    s.password = kPassword;
    SmtpSession session(s);

    const SendResult first = session.send(message("auth-1"));
    const SendResult second = session.send(message("auth-2"));

    ASSERT_EQ(first.status, Status::kAccepted) << show(first) << "\n" << sink_log();
    ASSERT_EQ(second.status, Status::kAccepted) << show(second);
    const auto log = accepted();
    ASSERT_EQ(log.size(), 2U);
    EXPECT_EQ(log[0]["auth_user"], kUser);
    EXPECT_EQ(log[0]["connection"], log[1]["connection"]) << "an authenticated session is reused";
}

TEST_F(SmtpSessionTest, AuthWithAWrongPasswordIsPermanent535) {
    ASSERT_NO_FATAL_FAILURE(start_sink(
        {"--starttls", cert_file(), key_file(), "--auth", std::string(kUser) + ":" + kPassword}));
    auto s = settings(Security::kStartTls);
    s.ca_file = cert_file();
    s.username = kUser;
    s.password = "wrong-Pa55word";
    SmtpSession session(s);

    const SendResult r = session.send(message("auth-bad-1"));

    EXPECT_EQ(r.status, Status::kPermanent) << show(r);
    EXPECT_EQ(r.smtp_code, 535);
    EXPECT_THAT(r.error, HasSubstr("535"));
    EXPECT_THAT(r.error, Not(HasSubstr("wrong-Pa55word")));
    EXPECT_TRUE(accepted().empty());
}

TEST_F(SmtpSessionTest, RelayRequiringAuthWithoutCredentialsIsPermanent) {
    ASSERT_NO_FATAL_FAILURE(start_sink({"--auth", std::string(kUser) + ":" + kPassword}));
    SmtpSession session(settings(Security::kNone));

    const SendResult r = session.send(message("no-auth-1"));

    EXPECT_EQ(r.status, Status::kPermanent) << show(r);
    EXPECT_EQ(r.smtp_code, 530);
}

// --- refusals --------------------------------------------------------------------------------

TEST_F(SmtpSessionTest, A451IsTransientAndTheNextSendStartsAFreshSession) {
    ASSERT_NO_FATAL_FAILURE(start_sink({"--fail-first", "1", "--fail-code", "451"}));
    SmtpSession session(settings(Security::kNone));

    const SendResult first = session.send(message("later-1"));
    EXPECT_EQ(first.status, Status::kTransient) << show(first);
    EXPECT_EQ(first.smtp_code, 451);
    EXPECT_THAT(first.error, HasSubstr("try again later"));

    const SendResult second = session.send(message("later-1"));
    ASSERT_EQ(second.status, Status::kAccepted) << show(second);
    const auto log = accepted();
    ASSERT_EQ(log.size(), 1U);
    EXPECT_EQ(log[0]["connection"], 2) << "the failed connection is not reused";
}

TEST_F(SmtpSessionTest, A554AtTheEndOfDataIsPermanent) {
    ASSERT_NO_FATAL_FAILURE(start_sink({"--fail-first", "1", "--fail-code", "554"}));
    SmtpSession session(settings(Security::kNone));

    const SendResult r = session.send(message("refused-1"));

    EXPECT_EQ(r.status, Status::kPermanent) << show(r);
    EXPECT_EQ(r.smtp_code, 554);
}

TEST_F(SmtpSessionTest, ARefusedRecipientFailsTheWholeMessagePermanently) {
    ASSERT_NO_FATAL_FAILURE(start_sink({"--reject-rcpt", "gone@example.test"}));
    SmtpSession session(settings(Security::kNone));

    const SendResult r =
        session.send(message("rcpt-1", {"member@example.test", "gone@example.test"}));

    EXPECT_EQ(r.status, Status::kPermanent) << show(r);
    EXPECT_EQ(r.smtp_code, 550);
    EXPECT_THAT(r.error, HasSubstr("recipient rejected")) << "the relay's own words";
    EXPECT_TRUE(accepted().empty()) << "not delivered to the other recipient either";

    // The session recovers for the next message.
    const SendResult next = session.send(message("rcpt-2"));
    EXPECT_EQ(next.status, Status::kAccepted) << show(next);
}

// --- the relay unreachable or slow -----------------------------------------------------------

TEST_F(SmtpSessionTest, RelayGoneIsTransient) {
    ASSERT_NO_FATAL_FAILURE(start_sink());
    SmtpSession session(settings(Security::kNone));
    ASSERT_EQ(session.send(message("gone-1")).status, Status::kAccepted);

    stop_sink();
    const SendResult r = session.send(message("gone-2"));

    EXPECT_EQ(r.status, Status::kTransient) << show(r);
    EXPECT_EQ(r.smtp_code, 0);

    // Back again on the same port: the session reconnects by itself.
    ASSERT_NO_FATAL_FAILURE(start_sink({}, port_));
    const SendResult again = session.send(message("gone-3"));
    EXPECT_EQ(again.status, Status::kAccepted) << show(again);
    const auto log = accepted();
    ASSERT_EQ(log.size(), 2U);
    EXPECT_NE(log[0]["connection"], log[1]["connection"]);
}

TEST_F(SmtpSessionTest, NothingListeningIsTransient) {
    ASSERT_NO_FATAL_FAILURE(start_sink());
    stop_sink();  // a port that was just free, now closed
    SmtpSession session(settings(Security::kNone));

    const SendResult r = session.send(message("closed-1"));

    EXPECT_EQ(r.status, Status::kTransient) << show(r);
    EXPECT_EQ(r.smtp_code, 0);
}

TEST_F(SmtpSessionTest, ASlowRelayTimesOutTransiently) {
    ASSERT_NO_FATAL_FAILURE(start_sink({"--delay-data", "5"}));
    auto s = settings(Security::kNone);
    s.timeout = 1s;
    SmtpSession session(s);

    const auto started = std::chrono::steady_clock::now();
    const SendResult r = session.send(message("slow-1"));

    EXPECT_EQ(r.status, Status::kTransient) << show(r);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 4s) << show(r);
}

// --- refused before any network --------------------------------------------------------------

TEST_F(SmtpSessionTest, OversizeMessageIsPermanentWithoutConnecting) {
    ASSERT_NO_FATAL_FAILURE(start_sink());
    SmtpSession session(settings(Security::kNone));
    Envelope m = message("big-1");
    m.data.append(10 * 1024 * 1024, 'x');

    const SendResult r = session.send(m);

    EXPECT_EQ(r.status, Status::kPermanent) << show(r);
    EXPECT_EQ(r.smtp_code, 0);
    EXPECT_THAT(r.error, HasSubstr("limit"));
    // A following message is the sink's first connection: the big one never opened one.
    ASSERT_EQ(session.send(message("small-1")).status, Status::kAccepted);
    EXPECT_EQ(accepted().at(0)["connection"], 1);
}

TEST_F(SmtpSessionTest, MalformedInputIsPermanentWithoutConnecting) {
    SmtpSettings s;
    s.host = "127.0.0.1";
    s.port = 9;  // nothing is sent, so nothing needs to listen
    s.security = Security::kNone;
    SmtpSession session(s);

    Envelope bare_lf = message("lf-1");
    bare_lf.data += "smuggled\n.\nMAIL FROM:<x@y>\r\n";
    EXPECT_EQ(session.send(bare_lf).status, Status::kPermanent);

    Envelope injected = message("inj-1");
    injected.to = {"a@example.test>\r\nRCPT TO:<b@example.test"};
    EXPECT_EQ(session.send(injected).status, Status::kPermanent);

    Envelope nobody = message("none-1");
    nobody.to.clear();
    EXPECT_EQ(session.send(nobody).status, Status::kPermanent);

    SmtpSettings bad_host = s;
    bad_host.host = "relay.example/evil";
    EXPECT_EQ(SmtpSession(bad_host).send(message("host-1")).status, Status::kPermanent);
}

}  // namespace
}  // namespace radsync::notify
