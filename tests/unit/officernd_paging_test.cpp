#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "radsync/officernd/paging.hpp"

namespace radsync::officernd {
namespace {

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

}  // namespace
}  // namespace radsync::officernd
