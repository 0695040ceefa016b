// Redacting a member before it is stored: every secret property's value becomes its keyed hash
// (as the full parse and dump would make it), whatever the text around it looks like, and the
// fast scan gives up to the full parse wherever it is not sure.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "radsync/mapping/credentials.hpp"
#include "radsync/snapshot/redact.hpp"
#include "support/redact_reference.hpp"

namespace radsync::snapshot {
namespace {

const std::set<std::string> kNamed = {"wifi_key"};

std::string fake_hash(std::string_view v) {
    return mapping::keyed_hash("test key", v);
}

nlohmann::json reference(const std::string& raw) {
    auto j = nlohmann::json::parse(raw);
    test::redact_reference(j, kNamed, fake_hash);
    return j;
}

TEST(RedactMember, EverySecretIsHashedWhateverTheTextAroundIt) {
    const std::string hashed = fake_hash("Already-1");
    const std::vector<std::string> cases = {
        R"({"_id":"m1","properties":{"wifi_password":"Pw-1","shoe":43}})",
        "{ \"_id\" : \"m1\" ,\n  \"properties\" : {\n    \"Door_PASSWORD\" : \"Pw-2\" "
        ",\"x\":[1,2]\n  }\n}",
        R"({"properties":{"wifi_password":")" + hashed + R"(","wifi_key":"Pw-3"}})",
        R"({"a":{"b":[1,{"c":"}]{"}]},"properties":{"wifi_key":"Pw-4"},"z":null})",
        R"({"name":"Jo \"Q\" {x}","properties":{"door_password":"Pw-5"}})",
        R"({"properties":{"wifi_password":"a\"b\\c"}})",      // an escape in the secret
        R"({"properties":{"pin_password":1234,"ok":true}})",  // a number secret
        R"({"properties":{"wifi_pass\u0077ord":"Pw-6"}})",    // an escaped key
        R"({"properties":{"wifi_password":"Pw-7"},"properties":{"wifi_password":"Pw-8"}})",
        R"({"_id":"m2","email":"x@y.test"})",
        R"({"_id":"m3","properties":"none"})",
        R"({"_id":"m4","properties":{}})",
        R"({"properties":{"nested":{"wifi_password":"not a property value"}}})",
    };
    for (const auto& raw : cases) {
        auto out = redact_member(raw, kNamed, fake_hash);
        ASSERT_TRUE(out) << raw;
        EXPECT_EQ(nlohmann::json::parse(*out), reference(raw)) << raw << "\n-> " << *out;
        for (const char* secret : {"Pw-1", "Pw-2", "Pw-3", "Pw-4", "Pw-5", "Pw-6", "1234"}) {
            if (raw.find(secret) != std::string::npos) {
                EXPECT_EQ(out->find(secret), std::string::npos) << secret << " in " << *out;
            }
        }
    }
}

TEST(RedactMember, TheScanKeepsTheTextAroundTheSecret) {
    const std::string raw =
        "{ \"_id\" : \"m1\",\n \"properties\": { \"wifi_password\" : \"Pw-9\" } }";
    EXPECT_EQ(redact_member(raw, kNamed, fake_hash).value(),
              "{ \"_id\" : \"m1\",\n \"properties\": { \"wifi_password\" : \"" + fake_hash("Pw-9") +
                  "\" } }");
}

TEST(RedactMember, TextWithNothingToHideIsKeptByteForByte) {
    const std::vector<std::string> cases = {
        R"({"_id":"m1","properties":{"shoe":43}})", R"({ "_id" : "m2" })",
        R"({"properties":{"wifi_password":")" + fake_hash("x") + R"("}})"};
    for (const auto& raw : cases) {
        EXPECT_EQ(redact_member(raw, kNamed, fake_hash).value(), raw);
    }
}

TEST(RedactMember, NotAnObjectIsAnError) {
    for (const char* raw : {"", "[1]", "\"x\"", R"({"properties":{"wifi_password":"x")", "{,}"}) {
        EXPECT_FALSE(redact_member(raw, kNamed, fake_hash)) << raw;
    }
}

}  // namespace
}  // namespace radsync::snapshot
