#include <gtest/gtest.h>

#include "officernd_now.hpp"
#include "radsync/officernd/token.hpp"

namespace radsync::officernd {
namespace {

using namespace std::chrono_literals;
using test_clock::kNow;

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

}  // namespace
}  // namespace radsync::officernd
