#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "radsync/officernd/classify.hpp"

namespace radsync::officernd {
namespace {

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

}  // namespace
}  // namespace radsync::officernd
