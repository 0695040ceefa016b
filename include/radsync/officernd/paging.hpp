#pragma once

// How v2 list pages are requested, read and walked: the query for the next page, the page
// envelope, and the checks that the pages add up to the whole list. Pure functions over values.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "radsync/core/error.hpp"

namespace radsync::officernd {

/// v2 lists return at most 50 per page; asking for more is a 400 (officernd-api.md §6.1).
inline constexpr int kPageLimit = 50;
/// A server that never stops handing out cursors is broken; stop after this many pages of one
/// list (5 million entities).
inline constexpr std::size_t kMaxPages = 100'000;

/// Query parameters, in order, names as OfficeRnD spells them ("start[$gte]").
using QueryParams = std::vector<std::pair<std::string, std::string>>;

/// "?$limit=50&<filters>[&$cursorNext=<cursor>]", every name and value url_encode()d. Never a
/// v1 parameter, never both cursors, never a limit above 50. Errc::kConfigInvalid when a filter
/// tries to set one of the paging parameters ($limit, $cursorNext, $cursorPrev) or a v1-only
/// one ($next, $prev, $populate).
[[nodiscard]] Result<std::string> build_page_query(const QueryParams& filters,
                                                   std::string_view cursor_next);

/// Whether another page follows.
enum class PageStep { kMore, kDone };

/// One v2 list page: each result as its JSON object text, cursorNext ("" when absent) and the
/// page's place in the list (`rangeStart`/`rangeEnd`, 1-based and inclusive; 0/0 for none).
struct Page {
    std::vector<std::string> results;
    std::string cursor_next;
    std::int64_t range_start = 0;
    std::int64_t range_end = 0;
};

/// Walks one list's cursors and checks that the pages add up. Starts with an empty cursor (the
/// first page); after each page, advance() says whether to continue. A page must continue
/// exactly where the previous one ended (rangeStart = previous rangeEnd + 1, the first at 1),
/// hold rangeEnd - rangeStart + 1 results, and an empty page must not hand out a cursor: a
/// skipped page or one that came back empty mid-list would otherwise read as "those members
/// left" (Errc::kIncomplete). A misbehaving server is caught too: a cursor seen before (a loop)
/// or more than `max_pages` pages -> Errc::kMalformedPayload.
class PageWalk {
public:
    explicit PageWalk(std::size_t max_pages = kMaxPages) : max_pages_(max_pages) {}

    /// The cursor to send for the next page; empty for the first.
    [[nodiscard]] const std::string& cursor() const { return cursor_; }
    /// Pages accepted so far.
    [[nodiscard]] std::size_t pages() const { return pages_; }
    /// Results accepted so far (the last rangeEnd).
    [[nodiscard]] std::int64_t items() const { return items_; }
    /// Accepts the next page, or says why the walk cannot be trusted.
    [[nodiscard]] Result<PageStep> advance(const Page& page);

private:
    std::size_t max_pages_;
    std::size_t pages_ = 0;
    std::int64_t items_ = 0;
    std::string cursor_;
    std::set<std::string> seen_;
};

/// Parses a v2 list envelope {"results": [...], "cursorNext": "...", "rangeStart": 1,
/// "rangeEnd": 50}. Errc::kMalformedPayload when the body is not JSON, `results` is missing or
/// not an array of objects, `cursorNext` is present but not a string (null counts as absent),
/// or `rangeStart`/`rangeEnd` are missing or not non-negative integers.
[[nodiscard]] Result<Page> parse_page(std::string_view body);

}  // namespace radsync::officernd
