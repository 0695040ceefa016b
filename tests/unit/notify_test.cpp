#include <gtest/gtest.h>

#include <fstream>

#include "radsync/config/loader.hpp"
#include "radsync/notify/message.hpp"
#include "radsync/notify/pacing.hpp"
#include "radsync/notify/plan.hpp"
#include "radsync/notify/template.hpp"
#include "radsync/snapshot/merge.hpp"
#include "support/temp_dir.hpp"

namespace radsync::notify {
namespace {

using config::MessageKind;
using store::AccountKind;
using store::AccountRecord;
using store::AccountState;

core::Instant at(const char* iso) {
    return core::parse_instant(iso).value();
}

// ---------------------------------------------------------------------------------------------
// Templates

TEST(MessageTemplate, RendersPlaceholdersAndLiteralBraces) {
    const MessageTemplate t("Hi {name}, {{literal}} user {username}");
    EXPECT_EQ(t.render({{"name", "Ada"}, {"username", "ada@x"}}, false),
              "Hi Ada, {literal} user ada@x");
    EXPECT_TRUE(t.uses("username"));
    EXPECT_FALSE(t.uses("password"));
}

TEST(MessageTemplate, HtmlRenderingEscapesValuesNotTheTemplate) {
    const MessageTemplate t("<p>{name}</p>");
    EXPECT_EQ(t.render({{"name", "<script>&\"'"}}, true), "<p>&lt;script&gt;&amp;&quot;&#39;</p>");
    EXPECT_EQ(t.render({{"name", "<b>"}}, false), "<p><b></p>");
}

TEST(MessageTemplate, CheckFindsTheFirstProblemAndItsOffset) {
    EXPECT_FALSE(MessageTemplate::check("Hello {name}, {password} {{x}}"));
    auto p = MessageTemplate::check("Hello {nmae}");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->offset, 6u);
    EXPECT_EQ(p->placeholder, "{nmae}");
    EXPECT_NE(p->message.find("unknown placeholder {nmae}"), std::string::npos);
    p = MessageTemplate::check("a {name");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->offset, 2u);
    p = MessageTemplate::check("a } b");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->offset, 2u);
    p = MessageTemplate::check("{password}", {"password"}, "not here");
    ASSERT_TRUE(p);
    EXPECT_NE(p->message.find("not available here: not here"), std::string::npos);
}

TEST(MessageTemplate, PositionsCountLinesAndCharacters) {
    const auto p = position_of("ab\ncdé{x}", 7);
    EXPECT_EQ(p.line, 2);
    EXPECT_EQ(p.column, 4);
}

// ---------------------------------------------------------------------------------------------
// The notify section of the configuration

class NotifyConfig : public ::testing::Test {
protected:
    config::LoadResult load(const std::string& notify) {
        const std::string main = "mapping_files: [mapping.yaml]\n" + notify;
        return config::load_from_strings((dir_.path() / "radsync.yaml").string(), main,
                                         {{"mapping.yaml", "groups: []\n"}});
    }
    test::TempDir dir_;
};

TEST_F(NotifyConfig, DefaultsGiveEveryKindATemplate) {
    const auto r = load(
        "notify:\n  from: 'WiFi <wifi@example.com>'\n  smtp:\n    host: "
        "mail.example.com\n");
    ASSERT_TRUE(r.config) << (r.problems.empty() ? "" : r.problems.front().to_string());
    const auto& n = *r.config->notify;
    EXPECT_EQ(n.from_address, "wifi@example.com");
    EXPECT_EQ(n.smtp.port, 587u);
    EXPECT_EQ(n.smtp.security, config::Smtp::Security::kStartTls);
    for (const auto kind : config::kMessageKinds) {
        EXPECT_FALSE(n.templates_for(kind).subject.empty()) << config::to_string(kind);
        EXPECT_FALSE(n.templates_for(kind).text.empty());
    }
    EXPECT_TRUE(MessageTemplate(n.templates_for(MessageKind::kWelcome).text).uses("password"));
    EXPECT_FALSE(MessageTemplate(n.templates_for(MessageKind::kReturning).text).uses("password"));
}

TEST_F(NotifyConfig, AnUnknownPlaceholderIsReportedAtItsOwnLineAndColumn) {
    const auto r = load(
        "notify:\n"
        "  from: wifi@example.com\n"
        "  smtp: {host: mail.example.com}\n"
        "  templates:\n"
        "    welcome:\n"
        "      subject: Welcome {name}\n"
        "      text: |\n"
        "        Hello {name},\n"
        "        your password: {pasword}\n");
    ASSERT_FALSE(r.config);
    ASSERT_EQ(r.problems.size(), 1u);
    const std::string p = r.problems.front().to_string();
    // Line 10 of the file (after the mapping_files line), column 24 where "{pasword}" starts.
    EXPECT_NE(p.find("radsync.yaml:10:24: notify.templates.welcome.text: unknown placeholder "
                     "{pasword}"),
              std::string::npos)
        << p;
}

TEST_F(NotifyConfig, APasswordInTheReturningTemplateIsRefused) {
    const auto r = load(
        "notify:\n  from: wifi@example.com\n  smtp: {host: mail.example.com}\n"
        "  templates:\n    returning: {subject: 'Back: {password}'}\n");
    ASSERT_FALSE(r.config);
    EXPECT_NE(r.problems.front().to_string().find("returning member keeps their password"),
              std::string::npos)
        << r.problems.front().to_string();
}

TEST_F(NotifyConfig, TemplateFilesAreCheckedWithTheirOwnPositions) {
    const auto file = dir_.write("welcome.txt", "Hi {name}\n\nuser {username} {ssid} {bogus}\n");
    const auto r = load(
        "notify:\n  from: wifi@example.com\n  smtp: {host: mail.example.com}\n"
        "  templates:\n    welcome: {text_file: " +
        file + "}\n");
    ASSERT_FALSE(r.config);
    EXPECT_NE(r.problems.front().to_string().find(file + ":3:24:"), std::string::npos)
        << r.problems.front().to_string();
    const auto good = dir_.write("ok.txt", "Hi {name}, {password}\n");
    const auto ok = load(
        "notify:\n  from: wifi@example.com\n  smtp: {host: mail.example.com}\n"
        "  templates:\n    welcome: {text_file: " +
        good + "}\n");
    ASSERT_TRUE(ok.config);
    EXPECT_EQ(ok.config->notify->templates_for(MessageKind::kWelcome).text,
              "Hi {name}, {password}\n");
}

TEST_F(NotifyConfig, CleartextSmtpOnlyToLoopbackAndAuthNeedsAPasswordFile) {
    auto r = load(
        "notify:\n  from: wifi@example.com\n  smtp: {host: mail.example.com, security: "
        "none}\n");
    ASSERT_FALSE(r.config);
    EXPECT_NE(r.problems.front().message.find("only allowed for a relay on a loopback address"),
              std::string::npos);
    r = load(
        "notify:\n  from: wifi@example.com\n  smtp: {host: 127.0.0.1, port: 2525, security: "
        "none}\n");
    ASSERT_TRUE(r.config);
    EXPECT_EQ(r.config->notify->smtp.port, 2525u);
    r = load("notify:\n  from: wifi@example.com\n  smtp: {host: mail.example.com, username: u}\n");
    ASSERT_FALSE(r.config);
    EXPECT_NE(r.problems.front().to_string().find("password_file: required with username"),
              std::string::npos);
    r = load("notify:\n  from: 'not an address'\n  smtp: {host: mail.example.com}\n");
    ASSERT_FALSE(r.config);
}

// ---------------------------------------------------------------------------------------------
// Messages

config::Notify notify_config() {
    config::Notify n;
    n.from = "Cowork WiFi <wifi@cowork.test>";
    n.from_address = "wifi@cowork.test";
    n.organisation = "Cowork";
    n.ssids = {"Cowork"};
    for (const auto kind : config::kMessageKinds) {
        n.templates[static_cast<std::size_t>(kind)] = config::MessageTemplates{
            "{organisation}: {username}", "Hi {name}\npw {password}\nuntil {valid_until}\n",
            "<p>{name}</p>"};
    }
    return n;
}

TEST(Message, PayloadRoundTripsThroughJson) {
    Payload p;
    p.kind = MessageKind::kGuest;
    p.name = "Ada";
    p.username = "guest-abc";
    p.password = "code";
    p.locations = {"Downtown"};
    p.timezone = "Europe/Berlin";
    p.valid_from = at("2026-12-01T08:45:00Z");
    p.valid_until = at("2026-12-01T10:15:00Z");
    p.ssids = {"A", "B"};
    p.host = "Bob";
    p.booking = "Room 1";
    auto back = payload_from_json(to_json(p));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->kind, MessageKind::kGuest);
    EXPECT_EQ(back->password, p.password);
    EXPECT_EQ(back->valid_until, p.valid_until);
    EXPECT_EQ(back->ssids, p.ssids);
    EXPECT_FALSE(payload_from_json("[]"));
    EXPECT_FALSE(payload_from_json(R"({"kind":"nope","username":"x"})"));
}

TEST(Message, TimesAreShownInTheLocationsZone) {
    EXPECT_EQ(format_local(at("2026-12-01T08:45:00Z"), "Europe/Berlin"),
              "2026-12-01 09:45 (Europe/Berlin)");
    EXPECT_EQ(format_local(at("2026-07-01T08:45:00Z"), "America/New_York"),
              "2026-07-01 04:45 (America/New_York)");
    EXPECT_EQ(format_local(at("2026-07-01T08:45:00Z"), "No/Such_Zone"), "2026-07-01 08:45 (UTC)");
}

TEST(Message, HeadersCannotBeInjectedAndAddressesAreChecked) {
    EXPECT_EQ(bare_address("Ada <ada@x.test>"), "ada@x.test");
    EXPECT_EQ(bare_address("ada@x.test"), "ada@x.test");
    EXPECT_EQ(bare_address("ada@x.test\r\nBcc: evil@y.test"), "");
    EXPECT_EQ(bare_address("no-at-sign"), "");
    EXPECT_EQ(bare_address(std::string(250, 'a') + "@x.test"), "");
    const auto n = notify_config();
    Payload p;
    p.name = "Ada\r\nBcc: evil@y.test";
    p.username = "ada";
    p.password = "pw";
    Rendered r = render(n, p);
    r.subject = "Line\r\nBcc: evil@y.test";
    const std::string mime = mime_message(n, "ada@x.test", "<radsync.abc@cowork.test>",
                                          at("2026-12-01T08:45:00Z"), r, {});
    EXPECT_EQ(mime.find("\r\nBcc:"), std::string::npos);
    EXPECT_NE(mime.find("Subject: Line  Bcc: evil@y.test\r\n"), std::string::npos);
    EXPECT_NE(mime.find("Date: Tue, 01 Dec 2026 08:45:00 +0000\r\n"), std::string::npos);
    EXPECT_NE(mime.find("Message-ID: <radsync.abc@cowork.test>\r\n"), std::string::npos);
    EXPECT_NE(mime.find("From: Cowork WiFi <wifi@cowork.test>\r\n"), std::string::npos);
    EXPECT_NE(mime.find("multipart/alternative"), std::string::npos);
}

TEST(Message, RenderFillsEveryPlaceholderAndEscapesHtml) {
    auto n = notify_config();
    Payload p;
    p.name = "<Ada>";
    p.username = "ada";
    p.password = "s3cret";
    p.valid_until = at("2026-12-01T23:00:00Z");
    p.timezone = "Europe/Berlin";
    const Rendered r = render(n, p);
    EXPECT_EQ(r.subject, "Cowork: ada");
    EXPECT_EQ(r.text, "Hi <Ada>\npw s3cret\nuntil 2026-12-02 00:00 (Europe/Berlin)\n");
    EXPECT_EQ(r.html, "<p>&lt;Ada&gt;</p>");
    EXPECT_EQ(make_message_id(n, "R4nd0m"), "<radsync.R4nd0m@cowork.test>");
}

// ---------------------------------------------------------------------------------------------
// Pacing and back-off

TEST(Pacing, SlotsAreEvenlySpacedAtTheRate) {
    SendPacer pacer(120);  // one every 500 ms
    const SendPacer::Clock::time_point t0{};
    EXPECT_EQ(pacer.reserve(t0), t0);
    EXPECT_EQ(pacer.reserve(t0), t0 + std::chrono::milliseconds(500));
    EXPECT_EQ(pacer.reserve(t0 + std::chrono::milliseconds(100)),
              t0 + std::chrono::milliseconds(1000));
    // After a quiet spell the next message goes at once, and no burst builds up.
    const auto later = t0 + std::chrono::seconds(60);
    EXPECT_EQ(pacer.reserve(later), later);
    EXPECT_EQ(pacer.reserve(later), later + std::chrono::milliseconds(500));
    // Any 60 s window holds at most `rate` slots.
    SendPacer busy(60);
    int in_first_minute = 0;
    for (int i = 0; i < 200; ++i) {
        in_first_minute += busy.reserve(t0) < t0 + std::chrono::seconds(60) ? 1 : 0;
    }
    EXPECT_EQ(in_first_minute, 60);
}

TEST(Pacing, RetryDelayDoublesUpToTheCap) {
    using std::chrono::seconds;
    EXPECT_EQ(retry_delay(1, seconds(30), seconds(3600)), seconds(30));
    EXPECT_EQ(retry_delay(2, seconds(30), seconds(3600)), seconds(60));
    EXPECT_EQ(retry_delay(5, seconds(30), seconds(3600)), seconds(480));
    EXPECT_EQ(retry_delay(50, seconds(30), seconds(3600)), seconds(3600));
}

// ---------------------------------------------------------------------------------------------
// Who gets which message

struct PlanWorld {
    config::Config cfg;
    snapshot::Snapshot snap;
    std::map<std::string, AccountRecord> before;
    int drawn = 0;
    mapping::PasswordGenerator random = [this](int) { return "id" + std::to_string(++drawn); };

    PlanWorld() {
        cfg.notify = notify_config();
        config::LocationRule downtown;
        downtown.key = "downtown";
        downtown.match.name = "Downtown";
        downtown.ssids = {"Cowork-Downtown"};
        downtown.timezone = "Europe/Berlin";
        cfg.mapping.locations = {downtown};
        snapshot::Location l;
        l.id = "loc1";
        l.name = "Downtown";
        snap.locations = {l};
        snapshot::Member booker;
        booker.id = "m-booker";
        booker.name = "Bob Booker";
        booker.email = "bob@cowork.test";
        snap.members = {booker};
        snapshot::Booking b;
        b.id = "b1";
        b.member = "m-booker";
        b.resource = "r1";
        snap.bookings = {b};
        snapshot::Resource r;
        r.id = "r1";
        r.name = "Room 1";
        snap.resources = {r};
    }

    static mapping::Decision granted(const std::string& id, const std::string& email,
                                     AccountKind kind, const std::string& password) {
        mapping::Decision d;
        d.member_id = id;
        d.member_name = "Person " + id;
        d.member_email = email;
        d.outcome = mapping::Decision::Outcome::kGranted;
        AccountRecord a;
        a.member_id = id;
        a.username = "user-" + id;
        a.state = AccountState::kActive;
        a.kind = kind;
        a.locations = "downtown";
        d.account = a;
        d.new_password = password;
        return d;
    }

    OutboxPlan plan(const std::vector<mapping::Decision>& ds, std::set<std::string> resets = {}) {
        return plan_messages(ds, before, snap, cfg, resets, random);
    }
};

TEST(Plan, NewAccountsGetTheirKindsMessageWithTheirOwnCredentials) {
    PlanWorld w;
    const auto plan = w.plan({PlanWorld::granted("m1", "ada@x.test", AccountKind::kMember, "pw1"),
                              PlanWorld::granted("m2", "eve@x.test", AccountKind::kPass, "pw2")});
    ASSERT_EQ(plan.messages.size(), 2u);
    const auto& welcome = plan.messages[0];
    EXPECT_EQ(welcome.kind, "welcome");
    EXPECT_EQ(welcome.recipient, "ada@x.test");
    EXPECT_EQ(welcome.recipient_role, "member");
    EXPECT_TRUE(welcome.carries_password);
    EXPECT_EQ(welcome.message_id, "<radsync.id1@cowork.test>");
    const auto payload = payload_from_json(welcome.payload).value();
    EXPECT_EQ(payload.password, "pw1");
    EXPECT_EQ(payload.username, "user-m1");
    EXPECT_EQ(payload.locations, std::vector<std::string>{"Downtown"});
    EXPECT_EQ(payload.ssids, std::vector<std::string>{"Cowork-Downtown"});
    EXPECT_EQ(payload.timezone, "Europe/Berlin");
    EXPECT_EQ(plan.messages[1].kind, "pass");
    EXPECT_EQ(payload_from_json(plan.messages[1].payload)->password, "pw2");
    // The other member's password is in no message but theirs.
    EXPECT_EQ(welcome.payload.find("pw2"), std::string::npos);
}

TEST(Plan, ResetReturningAndNothingElse) {
    PlanWorld w;
    AccountRecord revoked;
    revoked.member_id = "m1";
    revoked.state = AccountState::kRevoked;
    AccountRecord active = revoked;
    active.member_id = "m2";
    active.state = AccountState::kActive;
    w.before = {{"m1", revoked}, {"m2", active}, {"m3", active}};
    auto back = PlanWorld::granted("m1", "ada@x.test", AccountKind::kMember, "");
    auto unchanged = PlanWorld::granted("m2", "bob@x.test", AccountKind::kMember, "");
    auto reset = PlanWorld::granted("m3", "eve@x.test", AccountKind::kMember, "new");
    const auto plan = w.plan({back, unchanged, reset}, {"m3"});
    ASSERT_EQ(plan.messages.size(), 2u);
    EXPECT_EQ(plan.messages[0].kind, "returning");
    EXPECT_FALSE(plan.messages[0].carries_password);
    EXPECT_FALSE(payload_from_json(plan.messages[0].payload)->password);
    EXPECT_EQ(plan.messages[1].kind, "reset");
    EXPECT_TRUE(plan.messages[1].carries_password);
}

TEST(Plan, LosingAccessCancelsAndNoAddressIsReported) {
    PlanWorld w;
    AccountRecord active;
    active.member_id = "m1";
    active.state = AccountState::kActive;
    w.before = {{"m1", active}};
    mapping::Decision gone;
    gone.member_id = "m1";
    gone.outcome = mapping::Decision::Outcome::kRevoked;
    auto noaddr = PlanWorld::granted("m2", "", AccountKind::kMember, "pw");
    auto bad = PlanWorld::granted("m3", "x@y\r\nBcc: z@w", AccountKind::kMember, "pw");
    const auto plan = w.plan({gone, noaddr, bad});
    EXPECT_TRUE(plan.messages.empty());
    EXPECT_EQ(plan.cancel.count("m1"), 1u);
    ASSERT_EQ(plan.undeliverable.size(), 2u);
    EXPECT_NE(plan.undeliverable[0].find("no e-mail address"), std::string::npos);
    EXPECT_NE(plan.undeliverable[1].find("unusable"), std::string::npos);
}

TEST(Plan, GuestCodesGoWhereTheOperatorSays) {
    PlanWorld w;
    const std::string key = snapshot::guest_key("b1", "v1");
    const auto guest = PlanWorld::granted(key, "vera@visitor.test", AccountKind::kGuest, "code");
    auto plan = w.plan({guest});
    ASSERT_EQ(plan.messages.size(), 1u);
    EXPECT_EQ(plan.messages[0].recipient, "vera@visitor.test");
    EXPECT_EQ(plan.messages[0].kind, "guest");
    const auto payload = payload_from_json(plan.messages[0].payload).value();
    EXPECT_EQ(payload.host, "Bob Booker");
    EXPECT_EQ(payload.booking, "Room 1");

    w.cfg.notify->guest_codes_to = config::GuestRecipients::kBoth;
    plan = w.plan({guest});
    ASSERT_EQ(plan.messages.size(), 2u);
    EXPECT_EQ(plan.messages[1].recipient, "bob@cowork.test");
    EXPECT_EQ(plan.messages[1].recipient_role, "booker");
    EXPECT_NE(plan.messages[0].message_id, plan.messages[1].message_id);

    w.cfg.notify->guest_codes_to = config::GuestRecipients::kBooker;
    plan = w.plan({guest});
    ASSERT_EQ(plan.messages.size(), 1u);
    EXPECT_EQ(plan.messages[0].recipient_role, "booker");
}

TEST(Plan, NothingWithoutANotifySection) {
    PlanWorld w;
    w.cfg.notify.reset();
    EXPECT_TRUE(w.plan({PlanWorld::granted("m1", "a@x.test", AccountKind::kMember, "pw")})
                    .messages.empty());
}

}  // namespace
}  // namespace radsync::notify
