// The OfficeRnD client against the simulator (scripts/officernd_sim.py, contract in
// /tmp/officernd-sim-spec.md), started per test over TLS with the test certificate. Waits go
// through a recording Sleeper and time through a ManualClock, so no test sleeps out a back-off;
// the only real waiting is the simulator's start-up and the deliberate "slow" fault.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "radsync/core/clock.hpp"
#include "radsync/officernd/client.hpp"
#include "radsync/officernd/token_limiter.hpp"
#include "support/helper_process.hpp"
#include "support/https_client.hpp"
#include "support/temp_dir.hpp"

namespace radsync::officernd {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kSlug = "demo-cowork";
constexpr const char* kClientId = "sim-client";
constexpr const char* kClientSecret = "sim-secret";
constexpr std::size_t kMembers = 120;  // 50 + 50 + 20: three pages

// Sun 2026-03-01 08:00:00 UTC; the bookings window is [02-28 08:00, 03-31 08:00).
const core::Instant kNow =
    core::Instant(std::chrono::sys_days{std::chrono::year{2026} / 3 / 1}) + 8h;

std::string source_path(const std::string& relative) {
    return std::string(RADSYNC_SOURCE_DIR) + "/" + relative;
}

// 24-hex ids, ordered by index within a kind.
std::string oid(unsigned kind, std::size_t i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02x%022zx", kind, i);
    return buf;
}

json make_fixture() {
    json f = json::object();
    const std::string stamp = "2026-02-01T10:00:00.000Z";
    f["locations"] = json::array();
    for (std::size_t i = 0; i < 2; ++i) {
        f["locations"].push_back({{"_id", oid(0x10, i)},
                                  {"name", "Location " + std::to_string(i)},
                                  {"timezone", "Europe/London"},
                                  {"modifiedAt", stamp}});
    }
    f["plans"] = json::array();
    for (std::size_t i = 0; i < 3; ++i) {
        f["plans"].push_back({{"_id", oid(0x20, i)},
                              {"name", "Plan " + std::to_string(i)},
                              {"code", "P" + std::to_string(i)}});
    }
    f["companies"] = json::array();
    for (std::size_t i = 0; i < 5; ++i) {
        f["companies"].push_back({{"_id", oid(0x30, i)},
                                  {"name", "Company " + std::to_string(i)},
                                  {"status", "active"},
                                  {"location", oid(0x10, 0)}});
    }
    f["members"] = json::array();
    for (std::size_t i = 0; i < kMembers; ++i) {
        json m = {{"_id", oid(0x40, i)},
                  {"name", "Member " + std::to_string(i)},
                  {"email", "m" + std::to_string(i) + "@example.com"},
                  {"status", i % 10 == 0 ? "former" : "active"},
                  {"location", oid(0x10, i % 2)},
                  {"createdAt", stamp},
                  {"modifiedAt", stamp}};
        if (i % 3 == 0) {
            m["company"] = oid(0x30, i % 5);
        }
        f["members"].push_back(m);
    }
    f["memberships"] = json::array();
    for (std::size_t i = 0; i < 10; ++i) {
        f["memberships"].push_back({{"_id", oid(0x50, i)},
                                    {"name", "Desk"},
                                    {"member", oid(0x40, i)},
                                    {"plan", oid(0x20, i % 3)},
                                    {"location", oid(0x10, 0)},
                                    {"isPersonal", true},
                                    {"status", "approved"},
                                    {"calculatedStatus", "active"},
                                    {"startDate", "2026-01-01T00:00:00.000Z"}});
    }
    f["passes"] = json::array();
    for (std::size_t i = 0; i < 3; ++i) {
        f["passes"].push_back({{"_id", oid(0x60, i)},
                               {"member", oid(0x40, 100 + i)},
                               {"status", "valid"},
                               {"validFrom", "2026-03-01T00:00:00.000Z"},
                               {"validTo", "2026-03-02T00:00:00.000Z"}});
    }
    f["bookings"] = json::array();
    const char* starts[] = {"2026-02-27T09:00:00.000Z",   // before the window
                            "2026-02-28T08:00:00.000Z",   // its first instant: in
                            "2026-03-02T09:00:00.000Z",   // in
                            "2026-04-15T09:00:00.000Z"};  // after
    for (std::size_t i = 0; i < 4; ++i) {
        f["bookings"].push_back({{"_id", oid(0x70, i)},
                                 {"member", oid(0x40, i)},
                                 {"location", oid(0x10, 0)},
                                 {"start", starts[i]},
                                 {"end", "2026-04-30T10:00:00.000Z"}});
    }
    return f;
}

class OfficerndClientTest : public ::testing::Test {
protected:
    void TearDown() override { stop_sim(); }

    // Starts the simulator; `listen` lets a test bind another loopback address.
    void start_sim(const std::vector<std::string>& extra = {},
                   const std::string& listen = "127.0.0.1:0") {
        const std::string fixture = dir_.write("fixture.json", make_fixture().dump());
        port_file_ = (dir_.path() / "port").string();
        log_file_ = (dir_.path() / "sim.log").string();
        std::vector<std::string> args = {
            "python3",         source_path("scripts/officernd_sim.py"),
            "--fixture",       fixture,
            "--listen",        listen,
            "--port-file",     port_file_,
            "--tls-cert",      source_path("tests/fixtures/tls/test-cert.pem"),
            "--tls-key",       source_path("tests/fixtures/tls/test-key.pem"),
            "--org",           kSlug,
            "--client-id",     kClientId,
            "--client-secret", kClientSecret};
        args.insert(args.end(), extra.begin(), extra.end());
        std::string error;
        const auto bound = sim_.start(args, log_file_, port_file_, false, error);
        ASSERT_TRUE(bound) << "simulator: " << error;
        port_ = static_cast<std::uint16_t>(*bound);
    }

    void stop_sim() { sim_.stop(); }

    std::string sim_log() const { return sim_.log(); }

    std::string origin(const std::string& host = "127.0.0.1") const {
        return "https://" + host + ":" + std::to_string(port_);
    }

    ClientOptions options(const std::string& host = "127.0.0.1") const {
        ClientOptions o;
        o.base_url = origin(host) + "/api/v2/organizations";
        o.org_slug = kSlug;
        o.token_url = origin(host) + "/oauth/token";
        o.client_id = kClientId;
        o.client_secret = kClientSecret;
        o.ca_file = source_path("tests/fixtures/tls/test-cert.pem");
        o.request_timeout = 10s;
        return o;
    }

    std::unique_ptr<Client> client(const ClientOptions& o) {
        return std::make_unique<Client>(
            o, clock_, [this](milliseconds d) { waits_.push_back(d); }, [] { return 0.5; });
    }

    // The simulator's admin interface (no auth; TLS without verification).
    json admin(const std::string& method, const std::string& target, const json& body = {}) {
        test::HttpClient http({.host = "127.0.0.1", .port = port_, .tls = true, .timeout = 5s});
        auto res = http.request(method, target, {{"Content-Type", "application/json"}},
                                body.is_null() ? std::string() : body.dump());
        EXPECT_LT(res.status, 300U) << method << " " << target << ": " << res.body;
        return json::parse(res.body, nullptr, /*allow_exceptions=*/false);
    }

    void fault(const std::string& match, const std::string& kind, int count,
               const json& more = json::object()) {
        json f = {{"match", match}, {"kind", kind}, {"count", count}};
        f.update(more);
        admin("POST", "/_sim/faults", f);
    }

    std::size_t sim_token_requests() {
        return admin("GET", "/_sim/stats").value("token_requests", std::size_t{0});
    }

    test::TempDir dir_;
    std::string port_file_;
    std::string log_file_;
    test::HelperProcess sim_;
    std::uint16_t port_ = 0;
    core::ManualClock clock_{kNow};
    std::vector<milliseconds> waits_;
};

// --- the normal path -------------------------------------------------------------------------

TEST_F(OfficerndClientTest, FetchesEveryPageOfEveryList) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_TRUE(snap) << snap.error().message << "\n" << sim_log();

    EXPECT_EQ(snap->members.size(), kMembers);
    EXPECT_EQ(snap->companies.size(), 5U);
    EXPECT_EQ(snap->memberships.size(), 10U);
    EXPECT_EQ(snap->plans.size(), 3U);
    EXPECT_EQ(snap->locations.size(), 2U);
    EXPECT_EQ(snap->passes.size(), 3U);
    ASSERT_EQ(snap->bookings.size(), 2U);  // only those starting within the window
    EXPECT_EQ(snap->bookings[0].id, oid(0x70, 1));
    EXPECT_EQ(snap->bookings[1].id, oid(0x70, 2));
    for (std::size_t i = 0; i < kMembers; ++i) {
        ASSERT_EQ(snap->members[i].id, oid(0x40, i)) << "normalised: sorted by id";
    }
    EXPECT_EQ(snap->members[3].company, oid(0x30, 3));
    EXPECT_EQ(snap->members[10].status, "former");

    EXPECT_EQ(report.pages, 3U + 6U);  // members 50+50+20, then one page per other list
    EXPECT_EQ(report.requests, 9U);
    EXPECT_EQ(report.retries, 0U);
    EXPECT_EQ(report.token_requests, 1U);
    EXPECT_TRUE(waits_.empty());

    // Every list request: $limit=50, never $cursorPrev, never a v1 parameter; the members
    // pages after the first carry $cursorNext.
    const json requests = admin("GET", "/_sim/requests");
    ASSERT_TRUE(requests.is_array());
    std::size_t member_pages = 0;
    std::size_t with_cursor = 0;
    for (const auto& r : requests) {
        const std::string path = r.value("path", "");
        if (path.find("/api/v2/organizations/") == std::string::npos) {
            continue;
        }
        const std::string query =
            r["query"].is_string() ? r["query"].get<std::string>() : r["query"].dump();
        EXPECT_THAT(query, HasSubstr("limit")) << path;
        EXPECT_THAT(query, HasSubstr("50")) << path;
        EXPECT_THAT(query, ::testing::Not(HasSubstr("cursorPrev"))) << path;
        EXPECT_THAT(query, ::testing::Not(HasSubstr("populate"))) << path;
        EXPECT_TRUE(r.value("authorized", false)) << path;
        if (path.ends_with("/members")) {
            ++member_pages;
            with_cursor += query.find("cursorNext") != std::string::npos ? 1U : 0U;
        }
    }
    EXPECT_EQ(member_pages, 3U);
    EXPECT_EQ(with_cursor, 2U);

    // A second fetch reuses the cached token.
    FetchReport again;
    ASSERT_TRUE(c->fetch_snapshot(again));
    EXPECT_EQ(again.token_requests, 0U);
    EXPECT_EQ(sim_token_requests(), 1U);
}

TEST_F(OfficerndClientTest, RefreshesTheTokenBeforeItExpires) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    ASSERT_TRUE(c->check_organization());
    clock_.advance(3500s);  // 3599 s token: refreshed 60 s before expiry, i.e. from +3539 s
    ASSERT_TRUE(c->check_organization());
    EXPECT_EQ(sim_token_requests(), 1U);
    clock_.advance(40s);
    ASSERT_TRUE(c->check_organization());
    EXPECT_EQ(sim_token_requests(), 2U);
}

TEST_F(OfficerndClientTest, ResolvesLocalhostAndVerifiesItsName) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options("localhost"));
    auto st = c->check_organization();
    EXPECT_TRUE(st) << st.error().message;
}

TEST_F(OfficerndClientTest, FetchesOneObject) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    auto m = c->fetch_object("members", oid(0x40, 7));
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(json::parse(*m).value("_id", ""), oid(0x40, 7));

    auto missing = c->fetch_object("members", oid(0x40, 999));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, Errc::kNotFound);

    auto bad_kind = c->fetch_object("teams", "x");
    ASSERT_FALSE(bad_kind);
    EXPECT_EQ(bad_kind.error().code, Errc::kConfigInvalid);
}

TEST_F(OfficerndClientTest, ReconnectsQuietlyWhenTheServerDroppedAKeptAliveConnection) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    ASSERT_TRUE(c->check_organization());  // leaves a kept-alive connection in the pool
    const std::uint16_t port = port_;
    stop_sim();  // closes that connection; the new simulator has never seen our token either
    ASSERT_NO_FATAL_FAILURE(start_sim({}, "127.0.0.1:" + std::to_string(port)));
    ASSERT_EQ(port_, port);
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_EQ(report.retries, 0U);         // the dead connection did not count as a failure
    EXPECT_EQ(report.token_requests, 1U);  // the unknown token: one refresh
    EXPECT_TRUE(waits_.empty());
}

// --- configuration and credentials -----------------------------------------------------------

TEST_F(OfficerndClientTest, WrongSlugIsAConfigurationErrorInPlainWords) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto o = options();
    o.org_slug = "no-such-org";
    auto c = client(o);
    auto st = c->check_organization();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::kConfigInvalid);
    EXPECT_THAT(st.error().message,
                HasSubstr("OfficeRnD organization 'no-such-org' not found (check "
                          "officernd.org_slug)"));

    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_FALSE(snap);
    EXPECT_EQ(snap.error().code, Errc::kConfigInvalid);
    EXPECT_EQ(report.retries, 0U);  // a wrong slug is not retried
    EXPECT_TRUE(waits_.empty());
}

TEST_F(OfficerndClientTest, WrongClientSecretIsUnauthorized) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto o = options();
    o.client_secret = "not-the-secret";
    auto c = client(o);
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_FALSE(snap);
    EXPECT_EQ(snap.error().code, Errc::kApiUnauthorized);
    EXPECT_THAT(snap.error().message, HasSubstr("client_id"));
    RecordProperty("message", snap.error().message);
    EXPECT_THAT(snap.error().message, ::testing::Not(HasSubstr("not-the-secret")));
    EXPECT_EQ(report.token_requests, 1U);
    EXPECT_EQ(report.requests, 0U);
}

TEST_F(OfficerndClientTest, RepeatedTokenFailuresNeverExceedFivePerMinute) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto o = options();
    o.client_secret = "not-the-secret";
    auto c = client(o);
    // The ManualClock stands still and the Sleeper does not advance it: from the client's
    // point of view all of this happens within one second.
    for (int i = 0; i < 8; ++i) {
        FetchReport report;
        auto snap = c->fetch_snapshot(report);
        ASSERT_FALSE(snap);
        EXPECT_EQ(snap.error().code, i < 5 ? Errc::kApiUnauthorized : Errc::kApiRateLimited)
            << "call " << i << ": " << snap.error().message;
    }
    EXPECT_EQ(sim_token_requests(), 5U);
    // Calls 6 to 8 each waited for the oldest request to leave the window (twice, then gave up
    // because the clock never moved).
    ASSERT_EQ(waits_.size(), 6U);
    for (auto w : waits_) {
        EXPECT_EQ(w, 61000ms);
    }
}

TEST_F(OfficerndClientTest, UnauthorizedTriggersExactlyOneRefreshThenFails) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    fault("/members", "401", 2);
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_FALSE(snap);
    EXPECT_EQ(snap.error().code, Errc::kApiUnauthorized);
    EXPECT_THAT(snap.error().message,
                HasSubstr("OfficeRnD refused the token (401) — the application may lack a scope"));
    EXPECT_EQ(report.token_requests, 2U);  // the first token and exactly one refresh
    EXPECT_EQ(report.requests, 2U);
    EXPECT_EQ(sim_token_requests(), 2U);
    EXPECT_TRUE(waits_.empty());
}

TEST_F(OfficerndClientTest, OneUnauthorizedIsCuredByARefresh) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    fault("/members", "401", 1);
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_EQ(snap->members.size(), kMembers);
    EXPECT_EQ(report.token_requests, 2U);
}

TEST_F(OfficerndClientTest, PersistentUnauthorizedRefreshesOncePerBurstNotPerCall) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    fault("/api/v2/", "401", 1000);
    for (int i = 0; i < 10; ++i) {
        FetchReport report;
        auto snap = c->fetch_snapshot(report);
        ASSERT_FALSE(snap);
        EXPECT_EQ(snap.error().code, Errc::kApiUnauthorized);
    }
    // One token, one refresh after the first 401; the refreshed token was never accepted, so
    // later 401s are final without minting more.
    EXPECT_EQ(sim_token_requests(), 2U);
    EXPECT_LE(sim_token_requests(), TokenRateLimiter::kMaxRequests);
}

// --- faults ----------------------------------------------------------------------------------

TEST_F(OfficerndClientTest, TooManyRequestsHonoursRetryAfter) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    fault("/members", "429_retry_after", 1, {{"retry_after", 7}});
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_THAT(waits_, ElementsAre(7000ms));
    EXPECT_EQ(report.retries, 1U);
    EXPECT_EQ(snap->members.size(), kMembers);
}

TEST_F(OfficerndClientTest, TooManyRequestsWithoutRetryAfterBacksOffExponentially) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    fault("/companies", "429", 3);
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_TRUE(snap) << snap.error().message;
    // base 1 s, jitter 0.5: 3/4 of 1 s, 2 s, 4 s.
    EXPECT_THAT(waits_, ElementsAre(750ms, 1500ms, 3000ms));
    EXPECT_EQ(report.retries, 3U);
}

TEST_F(OfficerndClientTest, RetryAfterBeyondTheBoundFailsAsRateLimited) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    fault("/members", "429_retry_after", 1, {{"retry_after", 3600}});
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_FALSE(snap);
    EXPECT_EQ(snap.error().code, Errc::kApiRateLimited);
    EXPECT_TRUE(waits_.empty());
}

TEST_F(OfficerndClientTest, ServerErrorsAreRetriedThenSucceed) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    fault("/memberships", "500", 1);
    fault("/plans", "503", 1);
    fault("/passes", "504", 1);
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_THAT(waits_, ElementsAre(750ms, 750ms, 750ms));  // each a first retry
    EXPECT_EQ(report.retries, 3U);
    EXPECT_EQ(report.requests, 9U + 3U);
}

TEST_F(OfficerndClientTest, ServerErrorsGiveUpAfterMaxAttempts) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto o = options();
    o.max_attempts = 3;
    auto c = client(o);
    fault("/members", "503", 10);
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_FALSE(snap);
    EXPECT_EQ(snap.error().code, Errc::kApiUnavailable);
    EXPECT_THAT(snap.error().message, HasSubstr("503"));
    EXPECT_THAT(snap.error().message, HasSubstr("3 attempts"));
    EXPECT_THAT(waits_, ElementsAre(750ms, 1500ms));
    EXPECT_EQ(report.requests, 3U);
}

TEST_F(OfficerndClientTest, SlowResponseTimesOutAndIsRetried) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto o = options();
    o.request_timeout = 1s;
    auto c = client(o);
    fault("/locations", "slow", 1, {{"delay_ms", 2500}});
    FetchReport report;
    const auto started = std::chrono::steady_clock::now();
    auto snap = c->fetch_snapshot(report);
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_EQ(report.retries, 1U);
    EXPECT_THAT(waits_, ElementsAre(750ms));
    EXPECT_GE(took, 1s);
    EXPECT_LT(took, 2500ms);  // did not sit out the slow answer
}

TEST_F(OfficerndClientTest, AlwaysSlowFailsWithATimeout) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto o = options();
    o.request_timeout = 1s;
    o.max_attempts = 2;
    auto c = client(o);
    fault("/members", "slow", 5, {{"delay_ms", 2500}});
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_FALSE(snap);
    EXPECT_EQ(snap.error().code, Errc::kApiUnavailable);
    EXPECT_THAT(snap.error().message, HasSubstr("timed out"));
    RecordProperty("message", snap.error().message);
    EXPECT_EQ(report.requests, 2U);
}

TEST_F(OfficerndClientTest, MalformedPageFailsTheWholeFetch) {
    for (const char* kind : {"malformed", "bad_json_page"}) {
        SCOPED_TRACE(kind);
        ASSERT_NO_FATAL_FAILURE(start_sim());
        waits_.clear();
        auto c = client(options());
        fault("/bookings", kind, 1);  // the last list: everything before it arrived fine
        FetchReport report;
        auto snap = c->fetch_snapshot(report);
        ASSERT_FALSE(snap);
        EXPECT_EQ(snap.error().code, Errc::kMalformedPayload) << snap.error().message;
        EXPECT_THAT(snap.error().message, HasSubstr("bookings"));
        EXPECT_EQ(report.retries, 0U);  // not retried
        EXPECT_TRUE(waits_.empty());
        stop_sim();
    }
}

TEST_F(OfficerndClientTest, TruncatedResponseIsRetried) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto c = client(options());
    fault("/members", "truncate", 1);
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_EQ(snap->members.size(), kMembers);
    EXPECT_EQ(report.retries, 1U);
}

// --- TLS -------------------------------------------------------------------------------------

TEST_F(OfficerndClientTest, UntrustedCertificateFailsVerification) {
    ASSERT_NO_FATAL_FAILURE(start_sim());
    auto o = options();
    o.ca_file.clear();  // the system CAs do not know the self-signed test certificate
    auto c = client(o);
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_FALSE(snap);
    EXPECT_EQ(snap.error().code, Errc::kApiUnavailable);
    EXPECT_THAT(snap.error().message, HasSubstr("certificate verify failed"));
    RecordProperty("message", snap.error().message);
    EXPECT_EQ(report.retries, 0U);  // a trust failure does not fix itself
    EXPECT_TRUE(waits_.empty());
}

TEST_F(OfficerndClientTest, CertificateForAnotherAddressFailsVerification) {
    // The test certificate names localhost and 127.0.0.1; 127.0.0.2 is loopback too.
    ASSERT_NO_FATAL_FAILURE(start_sim({}, "127.0.0.2:0"));
    auto c = client(options("127.0.0.2"));
    FetchReport report;
    auto snap = c->fetch_snapshot(report);
    ASSERT_FALSE(snap);
    EXPECT_EQ(snap.error().code, Errc::kApiUnavailable);
    EXPECT_THAT(snap.error().message, HasSubstr("certificate verify failed"));
    EXPECT_THAT(snap.error().message, HasSubstr("mismatch"));
    RecordProperty("message", snap.error().message);
}

TEST_F(OfficerndClientTest, PlainHttpToAPublicHostIsRefused) {
    auto o = options();
    o.base_url = "http://app.officernd.com/api/v2/organizations";
    auto c = client(o);
    auto st = c->check_organization();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::kConfigInvalid);
}

}  // namespace
}  // namespace radsync::officernd
