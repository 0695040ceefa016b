#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "radsync/officernd/policy.hpp"

namespace radsync::officernd {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::seconds;

core::Instant at(std::chrono::sys_days day, seconds s = 0s) {
    return core::Instant(day) + s;
}

const core::Instant kNow = at(std::chrono::sys_days{std::chrono::year{2026} / 3 / 1}, 8h);

// --- back-off --------------------------------------------------------------------------------

TEST(OfficerndBackoff, DoublesFromBaseCapsAtMaxAndJittersWithinTheUpperHalf) {
    struct Row {
        int attempt;
        milliseconds base, max;
        double jitter;
        milliseconds expected;
    };
    const std::vector<Row> rows = {
        {1, 1000ms, 60000ms, 0.0, 500ms},       // [nominal/2, nominal): the low end
        {1, 1000ms, 60000ms, 0.5, 750ms},       //
        {1, 1000ms, 60000ms, 0.999, 999ms},     // never reaches nominal exactly
        {2, 1000ms, 60000ms, 0.0, 1000ms},      // nominal 2 s
        {3, 1000ms, 60000ms, 0.0, 2000ms},      // 4 s
        {6, 1000ms, 60000ms, 0.0, 16000ms},     // 32 s
        {7, 1000ms, 60000ms, 0.0, 30000ms},     // 64 s -> capped at 60 s
        {7, 1000ms, 60000ms, 0.5, 45000ms},     //
        {1000, 1000ms, 60000ms, 0.0, 30000ms},  // no overflow
        {0, 1000ms, 60000ms, 0.0, 500ms},       // attempt < 1 counts as 1
        {-5, 1000ms, 60000ms, 0.0, 500ms},      //
        {1, 5000ms, 2000ms, 0.0, 1000ms},       // base above max: max rules
        {3, 0ms, 60000ms, 0.5, 0ms},            // zero base: no wait
        {2, 1000ms, 60000ms, 7.0, 2000ms},      // jitter clamped to [0, 1]
        {2, 1000ms, 60000ms, -1.0, 1000ms},     //
    };
    for (const auto& r : rows) {
        EXPECT_EQ(delay(r.attempt, r.base, r.max, r.jitter), r.expected)
            << "attempt=" << r.attempt << " base=" << r.base.count() << " max=" << r.max.count()
            << " jitter=" << r.jitter;
    }
}

TEST(OfficerndBackoff, NeverExceedsMax) {
    for (int attempt = 1; attempt < 80; ++attempt) {
        for (double j : {0.0, 0.3, 0.999999}) {
            const auto d = delay(attempt, 1000ms, 60000ms, j);
            EXPECT_LE(d, 60000ms);
            EXPECT_GE(d, 500ms);
        }
    }
}

// --- Retry-After -----------------------------------------------------------------------------

TEST(OfficerndRetryAfter, ParsesDeltaSecondsAndAllThreeHttpDateForms) {
    // kNow is Sun, 01 Mar 2026 08:00:00 GMT.
    struct Row {
        std::string value;
        std::optional<seconds> expected;
    };
    const std::vector<Row> rows = {
        {"0", 0s},
        {"7", 7s},
        {"  120 ", 120s},
        {"3600", 3600s},
        {"99999999999999", 999'999'999s},  // saturates; kMaxRetryAfter refuses it later
        {"Sun, 01 Mar 2026 08:00:30 GMT", 30s},
        {"Sun, 01 Mar 2026 09:00:00 GMT", 3600s},
        {"Mon, 02 Mar 2026 08:00:00 GMT", 86400s},
        {"Sun, 01 Mar 2026 07:59:00 GMT", 0s},    // in the past: retry now
        {"Sunday, 01-Mar-26 08:01:00 GMT", 60s},  // RFC 850
        {"Sun Mar  1 08:00:05 2026", 5s},         // asctime
        {"", std::nullopt},
        {"-5", std::nullopt},
        {"1.5", std::nullopt},
        {"soon", std::nullopt},
        {"Sun, 31 Feb 2026 08:00:00 GMT", std::nullopt},  // no such day
        {"Sun, 01 Foo 2026 08:00:00 GMT", std::nullopt},
        {"Sun, 01 Mar 2026 25:00:00 GMT", std::nullopt},
        {"Sun, 01 Mar 2026 08:00:00 CET", std::nullopt},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(parse_retry_after(r.value, kNow), r.expected) << '"' << r.value << '"';
    }
}

// --- token rate limiter ----------------------------------------------------------------------

TEST(OfficerndTokenLimiter, AllowsFivePerRollingMinuteThenWaitsForTheOldest) {
    TokenRateLimiter l;
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(l.can_request(kNow + seconds(i * 10)));
        EXPECT_EQ(l.wait_needed(kNow + seconds(i * 10)), 0s);
        l.record(kNow + seconds(i * 10));  // at +0, +10, +20, +30, +40
    }
    EXPECT_FALSE(l.can_request(kNow + 40s));
    // The one at +0 holds its slot for 61 s (whole-second instants: one second of margin).
    EXPECT_EQ(l.wait_needed(kNow + 40s), 21s);
    EXPECT_FALSE(l.can_request(kNow + 60s));
    EXPECT_EQ(l.wait_needed(kNow + 60s), 1s);
    EXPECT_TRUE(l.can_request(kNow + 61s));
    l.record(kNow + 61s);
    EXPECT_FALSE(l.can_request(kNow + 61s));
    EXPECT_EQ(l.wait_needed(kNow + 61s), 10s);  // now the one at +10 must leave
}

TEST(OfficerndTokenLimiter, BurstAtOneInstant) {
    TokenRateLimiter l;
    for (int i = 0; i < 5; ++i) {
        l.record(kNow);
    }
    EXPECT_FALSE(l.can_request(kNow));
    EXPECT_EQ(l.wait_needed(kNow), 61s);
    EXPECT_EQ(l.wait_needed(kNow + 30s), 31s);
    EXPECT_TRUE(l.can_request(kNow + 61s));
    EXPECT_EQ(l.wait_needed(kNow + 61s), 0s);
}

TEST(OfficerndTokenLimiter, ForgetsOldRequests) {
    TokenRateLimiter l;
    for (int i = 0; i < 100; ++i) {
        const auto t = kNow + seconds(i * 13);  // under 5 per 61 s
        ASSERT_TRUE(l.can_request(t)) << i;
        l.record(t);
    }
}

// --- classification --------------------------------------------------------------------------

TEST(OfficerndClassify, DataApiStatuses) {
    struct Row {
        unsigned status;
        std::string message;
        bool may_refresh;
        Action action;
        Errc code;
    };
    const std::vector<Row> rows = {
        {200, "", true, Action::kAccept, Errc::kApiUnavailable},
        {204, "", true, Action::kAccept, Errc::kApiUnavailable},
        {400, "$limit must not be greater than 50", true, Action::kFail, Errc::kApiUnavailable},
        {401, "Unauthorized access", true, Action::kRefreshToken, Errc::kApiUnauthorized},
        {401, "Unauthorized access", false, Action::kFail, Errc::kApiUnauthorized},
        {403, "Forbidden", true, Action::kFail, Errc::kApiUnauthorized},
        {404, "Item with Id (x) not found", true, Action::kFail, Errc::kNotFound},
        {409, "", true, Action::kFail, Errc::kApiUnavailable},
        {429, "", true, Action::kRetry, Errc::kApiRateLimited},
        {500, "Internal server error", true, Action::kRetry, Errc::kApiUnavailable},
        {500, "Organization not found", true, Action::kFail, Errc::kConfigInvalid},
        {502, "", true, Action::kRetry, Errc::kApiUnavailable},
        {503, "", true, Action::kRetry, Errc::kApiUnavailable},
        {504, "", true, Action::kRetry, Errc::kApiUnavailable},
        {301, "", true, Action::kFail, Errc::kApiUnavailable},
    };
    for (const auto& r : rows) {
        const auto v = classify_status(Endpoint::kApi, r.status, r.message, r.may_refresh, "acme");
        EXPECT_EQ(v.action, r.action) << r.status << " " << r.message;
        if (r.action != Action::kAccept) {
            EXPECT_EQ(v.code, r.code) << r.status << " " << r.message;
        }
    }
}

TEST(OfficerndClassify, MessagesSayWhatToDo) {
    EXPECT_EQ(classify_status(Endpoint::kApi, 500, "Organization not found", true, "acme").message,
              "OfficeRnD organization 'acme' not found (check officernd.org_slug)");
    EXPECT_EQ(classify_status(Endpoint::kApi, 401, "Unauthorized access", false, "acme").message,
              "OfficeRnD refused the token (401) — the application may lack a scope");
    const auto bad =
        classify_status(Endpoint::kApi, 400, "property foo should not exist", true, "a");
    EXPECT_NE(bad.message.find("property foo should not exist"), std::string::npos);
    EXPECT_NE(bad.message.find("400"), std::string::npos);
}

TEST(OfficerndClassify, TokenEndpointStatuses) {
    struct Row {
        unsigned status;
        Action action;
        Errc code;
    };
    const std::vector<Row> rows = {
        {200, Action::kAccept, Errc::kApiUnavailable},
        {400, Action::kFail, Errc::kApiUnauthorized},  // e.g. invalid_scope
        {401, Action::kFail, Errc::kApiUnauthorized},  // never "refresh" the token endpoint
        {429, Action::kRetry, Errc::kApiRateLimited},
        {500, Action::kRetry, Errc::kApiUnavailable},
        {503, Action::kRetry, Errc::kApiUnavailable},
        {404, Action::kFail, Errc::kApiUnavailable},
    };
    for (const auto& r : rows) {
        const auto v = classify_status(Endpoint::kToken, r.status, "invalid_client", true, "a");
        EXPECT_EQ(v.action, r.action) << r.status;
        if (r.action != Action::kAccept) {
            EXPECT_EQ(v.code, r.code) << r.status;
        }
    }
    EXPECT_NE(classify_status(Endpoint::kToken, 401, "invalid_client", true, "a")
                  .message.find("check officernd.client_id"),
              std::string::npos);
}

TEST(OfficerndClassify, TransportFailures) {
    struct Row {
        TransportFailure failure;
        Action action;
    };
    const std::vector<Row> rows = {
        {TransportFailure::kTimeout, Action::kRetry},
        {TransportFailure::kResolve, Action::kRetry},
        {TransportFailure::kConnection, Action::kRetry},
        {TransportFailure::kTlsHandshake, Action::kRetry},
        {TransportFailure::kProtocol, Action::kRetry},
        {TransportFailure::kTlsVerify, Action::kFail},  // will not fix itself
        {TransportFailure::kTooLarge, Action::kFail},
    };
    for (const auto& r : rows) {
        const auto v = classify_transport(r.failure, "detail");
        EXPECT_EQ(v.action, r.action) << static_cast<int>(r.failure);
        EXPECT_EQ(v.code, Errc::kApiUnavailable);
        EXPECT_EQ(v.message, "detail");
    }
}

TEST(OfficerndClassify, ServerMessageExtraction) {
    struct Row {
        std::string body;
        std::string expected;
    };
    const std::vector<Row> rows = {
        {R"({"statusCode":400,"message":"$limit must not be greater than 50","error":"Bad Request"})",
         "$limit must not be greater than 50"},
        {R"({"statusCode":400,"message":["a should not exist","b must be a string"]})",
         "a should not exist; b must be a string"},
        {R"({"error":"invalid_client"})", "invalid_client"},
        {R"({"error":"invalid_scope","error_description":"not allowed"})",
         "invalid_scope: not allowed"},
        {"Too many requests, please try again later", "Too many requests, please try again later"},
        {"line1\nline2\t\x01", "line1 line2  "},
        {"", ""},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(server_message(r.body), r.expected) << r.body;
    }
    const std::string long_body(5000, 'x');
    EXPECT_EQ(server_message(long_body).size(), 203U);  // 200 + "..."
    // A cut never leaves half a UTF-8 character behind.
    std::string accents;
    for (int i = 0; i < 150; ++i) {
        accents += "\xC3\xA9";  // é
    }
    EXPECT_EQ(server_message(accents), accents.substr(0, 200) + "...");
    EXPECT_EQ(server_message("a" + accents), "a" + accents.substr(0, 198) + "...");
}

// --- paging ----------------------------------------------------------------------------------

TEST(OfficerndPaging, QueryAlwaysLimitsTo50AndAddsOnlyTheNextCursor) {
    struct Row {
        QueryParams filters;
        std::string cursor;
        std::string expected;
    };
    const std::vector<Row> rows = {
        {{}, "", "?$limit=50"},
        {{}, "eyJrIjoiX2lkIn0", "?$limit=50&$cursorNext=eyJrIjoiX2lkIn0"},
        {{}, "a+b/c=", "?$limit=50&$cursorNext=a%2Bb%2Fc%3D"},
        {{{"start[$gte]", "2026-02-28T08:00:00.000Z"}},
         "",
         "?$limit=50&start%5B$gte%5D=2026-02-28T08%3A00%3A00.000Z"},
        {{{"status[$in]", "active,drop-in"}},
         "c1",
         "?$limit=50&status%5B$in%5D=active%2Cdrop-in&$cursorNext=c1"},
    };
    for (const auto& r : rows) {
        auto q = build_page_query(r.filters, r.cursor);
        ASSERT_TRUE(q) << q.error().message;
        EXPECT_EQ(*q, r.expected);
        EXPECT_EQ(q->find("$cursorPrev"), std::string::npos);
        EXPECT_EQ(q->find("$limit=50"), 1U);
    }
}

TEST(OfficerndPaging, RefusesPagingAndV1ParametersAsFilters) {
    for (const char* name :
         {"$limit", "$cursorNext", "$cursorPrev", "$next", "$prev", "$populate"}) {
        auto q = build_page_query({{name, "x"}}, "");
        ASSERT_FALSE(q) << name;
        EXPECT_EQ(q.error().code, Errc::kConfigInvalid);
    }
}

// A page of `count` results starting at item `first` (1-based), handing out `cursor`.
Page page_of(std::int64_t first, std::size_t count, std::string cursor) {
    Page p;
    p.results.assign(count, "{}");
    p.cursor_next = std::move(cursor);
    p.range_start = count == 0 ? 0 : first;
    p.range_end = count == 0 ? 0 : first + static_cast<std::int64_t>(count) - 1;
    return p;
}

TEST(OfficerndPaging, WalkStopsWhenCursorAbsent) {
    PageWalk walk;
    EXPECT_EQ(walk.cursor(), "");
    auto s1 = walk.advance(page_of(1, 50, "c1"));
    ASSERT_TRUE(s1) << s1.error().message;
    EXPECT_EQ(*s1, PageStep::kMore);
    EXPECT_EQ(walk.cursor(), "c1");
    auto s2 = walk.advance(page_of(51, 50, "c2"));
    ASSERT_TRUE(s2) << s2.error().message;
    EXPECT_EQ(*s2, PageStep::kMore);
    EXPECT_EQ(walk.cursor(), "c2");
    auto s3 = walk.advance(page_of(101, 7, ""));
    ASSERT_TRUE(s3) << s3.error().message;
    EXPECT_EQ(*s3, PageStep::kDone);
    EXPECT_EQ(walk.pages(), 3U);
    EXPECT_EQ(walk.items(), 107);
}

TEST(OfficerndPaging, AnEmptyListAndAnEmptyLastPageEndTheWalk) {
    PageWalk empty;
    auto only = empty.advance(page_of(0, 0, ""));
    ASSERT_TRUE(only);
    EXPECT_EQ(*only, PageStep::kDone);

    PageWalk exact;  // 100 items: the second full page still hands out a cursor
    ASSERT_TRUE(exact.advance(page_of(1, 50, "c1")));
    ASSERT_TRUE(exact.advance(page_of(51, 50, "c2")));
    auto end = exact.advance(page_of(0, 0, ""));
    ASSERT_TRUE(end);
    EXPECT_EQ(*end, PageStep::kDone);
}

// Regression (trust issue, item 1): a skipped page, a page that came back empty while the
// cursor went on, or a short page let a full run disable the members it did not list.
TEST(OfficerndPaging, PagesThatDoNotAddUpFailTheWalk) {
    PageWalk skipped;
    ASSERT_TRUE(skipped.advance(page_of(1, 50, "c1")));
    auto gap = skipped.advance(page_of(101, 50, "c3"));
    ASSERT_FALSE(gap);
    EXPECT_EQ(gap.error().code, Errc::kIncomplete);
    EXPECT_NE(gap.error().message.find("item 51 was next"), std::string::npos)
        << gap.error().message;

    PageWalk hole;
    ASSERT_TRUE(hole.advance(page_of(1, 50, "c1")));
    auto empty = hole.advance(page_of(0, 0, "c2"));
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code, Errc::kIncomplete);

    PageWalk short_page;  // claims 51-100 but carries 40
    ASSERT_TRUE(short_page.advance(page_of(1, 50, "c1")));
    Page cut = page_of(51, 40, "c2");
    cut.range_end = 100;
    EXPECT_FALSE(short_page.advance(cut));

    PageWalk late_start;  // the first page must start at item 1
    EXPECT_FALSE(late_start.advance(page_of(51, 50, "c1")));

    PageWalk overlap;
    ASSERT_TRUE(overlap.advance(page_of(1, 50, "c1")));
    EXPECT_FALSE(overlap.advance(page_of(50, 50, "c2")));

    PageWalk liar;  // empty, yet claims a range
    Page p = page_of(0, 0, "");
    p.range_start = 1;
    p.range_end = 50;
    EXPECT_FALSE(liar.advance(p));
}

TEST(OfficerndPaging, WalkRefusesARepeatedCursor) {
    PageWalk same;
    ASSERT_TRUE(same.advance(page_of(1, 1, "c1")));
    auto again = same.advance(page_of(2, 1, "c1"));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, Errc::kMalformedPayload);

    PageWalk loop;  // c1 -> c2 -> c1
    ASSERT_TRUE(loop.advance(page_of(1, 1, "c1")));
    ASSERT_TRUE(loop.advance(page_of(2, 1, "c2")));
    auto back = loop.advance(page_of(3, 1, "c1"));
    ASSERT_FALSE(back);
    EXPECT_NE(back.error().message.find("repeats"), std::string::npos);
}

TEST(OfficerndPaging, WalkIsBoundedInPages) {
    PageWalk walk(3);
    ASSERT_TRUE(walk.advance(page_of(1, 1, "c1")));
    ASSERT_TRUE(walk.advance(page_of(2, 1, "c2")));
    auto third = walk.advance(page_of(3, 1, "c3"));  // a fourth page would exceed the bound
    ASSERT_FALSE(third);
    EXPECT_EQ(third.error().code, Errc::kMalformedPayload);

    PageWalk exact(3);
    ASSERT_TRUE(exact.advance(page_of(1, 1, "c1")));
    ASSERT_TRUE(exact.advance(page_of(2, 1, "c2")));
    auto last = exact.advance(page_of(3, 1, ""));  // the third page ends the list: fine
    ASSERT_TRUE(last);
    EXPECT_EQ(*last, PageStep::kDone);
}

TEST(OfficerndPaging, ParsesEnvelopes) {
    auto p = parse_page(
        R"({"results":[{"_id":"a"},{"_id":"b","x":[1]}],"cursorNext":"n","cursorPrev":"p",
            "rangeStart":1,"rangeEnd":2})");
    ASSERT_TRUE(p) << p.error().message;
    ASSERT_EQ(p->results.size(), 2U);
    EXPECT_EQ(p->results[0], R"({"_id":"a"})");
    EXPECT_EQ(p->cursor_next, "n");
    EXPECT_EQ(p->range_start, 1);
    EXPECT_EQ(p->range_end, 2);

    auto last = parse_page(R"({"results":[],"rangeStart":0,"rangeEnd":0})");
    ASSERT_TRUE(last);
    EXPECT_TRUE(last->results.empty());
    EXPECT_EQ(last->cursor_next, "");

    auto null_cursor =
        parse_page(R"({"results":[],"cursorNext":null,"rangeStart":0,"rangeEnd":0})");
    ASSERT_TRUE(null_cursor);
    EXPECT_EQ(null_cursor->cursor_next, "");

    for (const char* bad :
         {R"({"results":[{"_id":"a"})", "[]", R"({"items":[]})", R"({"results":{}})",
          R"({"results":[1]})", R"({"results":[],"cursorNext":5})", "", R"({"results":[]})",
          R"({"results":[],"rangeStart":0})", R"({"results":[],"rangeStart":-1,"rangeEnd":0})",
          R"({"results":[],"rangeStart":"1","rangeEnd":0})"}) {
        auto r = parse_page(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, Errc::kMalformedPayload) << bad;
    }
}

TEST(OfficerndPaging, BookingWindowIsOneDayBackThirtyAhead) {
    const auto w = booking_window(kNow);
    ASSERT_EQ(w.size(), 2U);
    EXPECT_EQ(w[0],
              (std::pair<std::string, std::string>{"start[$gte]", "2026-02-28T08:00:00.000Z"}));
    EXPECT_EQ(w[1],
              (std::pair<std::string, std::string>{"start[$lt]", "2026-03-31T08:00:00.000Z"}));
    EXPECT_EQ(format_iso_millis(kNow + 3661s), "2026-03-01T09:01:01.000Z");
}

// --- token -----------------------------------------------------------------------------------

TEST(OfficerndToken, ParsesGrants) {
    auto g = parse_token_response(
        R"({"access_token":"abc","token_type":"Bearer","expires_in":3599,"scope":"x"})");
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(g->access_token, "abc");
    EXPECT_EQ(g->expires_in, 3599s);

    auto no_ttl = parse_token_response(R"({"access_token":"abc"})");
    ASSERT_TRUE(no_ttl);
    EXPECT_EQ(no_ttl->expires_in, 3599s);

    auto lower_type = parse_token_response(R"({"access_token":"abc","token_type":"bearer"})");
    EXPECT_TRUE(lower_type);

    for (const char* bad :
         {"", "{", "[]", R"({"access_token":""})", R"({"token_type":"Bearer"})",
          R"({"access_token":"a","token_type":"MAC"})", R"({"access_token":"a","expires_in":0})",
          R"({"access_token":"a","expires_in":"3599"})", R"({"access_token":5})"}) {
        auto r = parse_token_response(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, Errc::kMalformedPayload) << bad;
        EXPECT_EQ(r.error().message.find("abc"), std::string::npos);
    }
}

TEST(OfficerndToken, RefreshesSixtySecondsEarlyOrAtHalfLifeForShortTokens) {
    EXPECT_EQ(token_refresh_at(kNow, 3599s), kNow + 3539s);
    EXPECT_EQ(token_refresh_at(kNow, 120s), kNow + 60s);
    EXPECT_EQ(token_refresh_at(kNow, 100s), kNow + 50s);
    EXPECT_EQ(token_refresh_at(kNow, 1s), kNow + 1s);  // 1/2 rounds to 0 margin
}

TEST(OfficerndToken, FormBodyEncodesEveryValue) {
    EXPECT_EQ(token_request_body("id 1", "s&e=c+r%t", "a.read b.read"),
              "grant_type=client_credentials&client_id=id%201&client_secret=s%26e%3Dc%2Br%25t"
              "&scope=a.read%20b.read");
}

// --- URLs ------------------------------------------------------------------------------------

TEST(OfficerndUrl, ParsesHttpsAndLoopbackHttpOnly) {
    auto a = parse_url("https://app.officernd.com/api/v2/organizations");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->host, "app.officernd.com");
    EXPECT_EQ(a->port, 443);
    EXPECT_EQ(a->path, "/api/v2/organizations");
    EXPECT_TRUE(a->tls());
    EXPECT_EQ(a->host_header(), "app.officernd.com");

    auto b = parse_url("https://127.0.0.1:8443/oauth/token");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->port, 8443);
    EXPECT_EQ(b->host_header(), "127.0.0.1:8443");

    auto c = parse_url("http://[::1]:9000");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->host, "::1");
    EXPECT_EQ(c->path, "/");
    EXPECT_EQ(c->host_header(), "[::1]:9000");

    auto d = parse_url("HTTP://LocalHost:80/x");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->host, "localhost");
    EXPECT_EQ(d->host_header(), "localhost");

    for (const char* bad :
         {"http://app.officernd.com/api", "http://10.0.0.1/x", "ftp://x/", "app.officernd.com",
          "https://", "https://user@host/", "https://host:0/", "https://host:70000/",
          "https://host:/", "https://host/x?y=1", "https://ho st/", "https://[::1/",
          "http://127.0.0.1.evil.com/"}) {
        auto r = parse_url(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, Errc::kConfigInvalid) << bad;
    }
}

TEST(OfficerndUrl, LoopbackHosts) {
    for (const char* yes : {"127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1"}) {
        EXPECT_TRUE(is_loopback_host(yes)) << yes;
    }
    for (const char* no : {"128.0.0.1", "127.0.0", "127.0.0.1.5", "127.0.0.256", "localhost.com",
                           "::2", "0.0.0.0", "", "example.com"}) {
        EXPECT_FALSE(is_loopback_host(no)) << no;
    }
}

TEST(OfficerndUrl, EncodesQueryComponents) {
    EXPECT_EQ(url_encode("AZaz09-._~$"), "AZaz09-._~$");
    EXPECT_EQ(url_encode("a b/c?d&e=f[g]"), "a%20b%2Fc%3Fd%26e%3Df%5Bg%5D");
    EXPECT_EQ(url_encode("\xC3\xA9"), "%C3%A9");
}

}  // namespace
}  // namespace radsync::officernd
