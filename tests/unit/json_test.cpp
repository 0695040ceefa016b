#include "radsync/core/json.hpp"

#include <gtest/gtest.h>

#include "radsync/officernd/paging.hpp"
#include "radsync/officernd/token.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::core {
namespace {

std::string nested(std::size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
}

TEST(Json, ParsesOneDocument) {
    auto doc = parse_json(R"( {"a": [1, 2, {"b": null}], "c": "d"} )");
    ASSERT_TRUE(doc) << doc.error().message;
    EXPECT_EQ((*doc)["a"][2]["b"], nullptr);
    EXPECT_EQ((*doc)["c"], "d");
}

TEST(Json, DepthIsBoundedWhileParsing) {
    EXPECT_TRUE(parse_json(nested(kMaxJsonDepth)));
    auto deep = parse_json(nested(kMaxJsonDepth + 1));
    ASSERT_FALSE(deep);
    EXPECT_EQ(deep.error().code, Errc::kMalformedPayload);
    // Far past any stack: refused just the same, and quickly (nothing deep is ever built).
    EXPECT_FALSE(parse_json(nested(1'000'000)));
    std::string objects;
    for (int i = 0; i < 200'000; ++i) {
        objects += R"({"k":)";
    }
    EXPECT_FALSE(parse_json(objects + "1" + std::string(200'000, '}')));
    EXPECT_TRUE(parse_json(nested(3), 3));
    EXPECT_FALSE(parse_json(nested(4), 3));
}

TEST(Json, ExactlyOneDocument) {
    EXPECT_FALSE(parse_json(std::string("{}\0x", 4)));
    EXPECT_FALSE(parse_json(std::string("{\"a\":\"x\0y\"}", 11)));
    EXPECT_FALSE(parse_json("{} {}"));
    EXPECT_FALSE(parse_json("{}x"));
    EXPECT_FALSE(parse_json(""));
    EXPECT_FALSE(parse_json("   "));
    EXPECT_TRUE(parse_json("{}\r\n\t "));
    auto bad = parse_json("{\"a\":}");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("at byte"), std::string::npos) << bad.error().message;
}

// Regression (trust issue, item 7): `reconcile --from-file` and an API page with deep nesting
// crashed the same way as a webhook; both now fail cleanly.
TEST(Json, SnapshotFilesAndApiPagesAreBoundedToo) {
    const std::string deep_member = R"({"_id":"m","x":)" + nested(100'000) + "}";
    auto snap = snapshot::parse_snapshot(R"({"members":[)" + deep_member + "]}");
    ASSERT_FALSE(snap);
    EXPECT_NE(snap.error().message.find("nested deeper"), std::string::npos)
        << snap.error().message;
    auto page = officernd::parse_page(R"({"results":[)" + deep_member +
                                      R"(],"rangeStart":1,"rangeEnd":1})");
    ASSERT_FALSE(page);
    EXPECT_EQ(page.error().code, Errc::kMalformedPayload);
    EXPECT_FALSE(snapshot::parse_member(deep_member));
    EXPECT_FALSE(core::is_json_object(deep_member));
    EXPECT_FALSE(
        officernd::parse_token_response(R"({"access_token":"x","y":)" + nested(100'000) + "}"));
    EXPECT_FALSE(snapshot::parse_snapshot(std::string("{}\0{\"members\":[]}", 17)));
}

}  // namespace
}  // namespace radsync::core
