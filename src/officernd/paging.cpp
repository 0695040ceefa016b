#include "radsync/officernd/paging.hpp"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"
#include "radsync/officernd/url.hpp"

namespace radsync::officernd {

using nlohmann::json;

Result<std::string> build_page_query(const QueryParams& filters, std::string_view cursor_next) {
    static constexpr std::array<std::string_view, 6> kReserved = {
        "$limit", "$cursorNext", "$cursorPrev", "$next", "$prev", "$populate"};
    std::string query = "?$limit=" + std::to_string(kPageLimit);
    for (const auto& [name, value] : filters) {
        if (std::find(kReserved.begin(), kReserved.end(), name) != kReserved.end()) {
            return Error(Errc::kConfigInvalid,
                         "list filter \"" + name + "\" is reserved for paging or is v1-only");
        }
        query += '&' + url_encode(name) + '=' + url_encode(value);
    }
    if (!cursor_next.empty()) {
        query += "&$cursorNext=" + url_encode(cursor_next);
    }
    return query;
}

Result<PageStep> PageWalk::advance(const Page& page) {
    ++pages_;
    const std::string where = "page " + std::to_string(pages_);
    const auto count = static_cast<std::int64_t>(page.results.size());
    if (count == 0) {
        // An empty page ends a list (or is the whole of an empty one); one that hands out a
        // cursor is a page lost in transit, not the end.
        if (page.range_start != 0 || page.range_end != 0) {
            return Error(Errc::kIncomplete, where + " is empty but claims items " +
                                                std::to_string(page.range_start) + "-" +
                                                std::to_string(page.range_end));
        }
        if (!page.cursor_next.empty()) {
            return Error(Errc::kIncomplete,
                         where + " is empty but the cursor continues after item " +
                             std::to_string(items_) + "; the list would be incomplete");
        }
        return PageStep::kDone;
    }
    if (page.range_start != items_ + 1 || page.range_end - page.range_start + 1 != count) {
        return Error(Errc::kIncomplete,
                     where + " holds items " + std::to_string(page.range_start) + "-" +
                         std::to_string(page.range_end) + " (" + std::to_string(count) +
                         " results) but item " + std::to_string(items_ + 1) +
                         " was next; a page was skipped or cut short, so the list is incomplete");
    }
    items_ = page.range_end;
    if (page.cursor_next.empty()) {
        return PageStep::kDone;
    }
    if (pages_ >= max_pages_) {
        return Error(Errc::kMalformedPayload, "more than " + std::to_string(max_pages_) +
                                                  " pages; the server keeps handing out cursors");
    }
    if (page.cursor_next == cursor_ || !seen_.insert(page.cursor_next).second) {
        return Error(Errc::kMalformedPayload,
                     where + " repeats an earlier cursorNext; the server's paging loops");
    }
    cursor_ = page.cursor_next;
    return PageStep::kMore;
}

Result<Page> parse_page(std::string_view body) {
    auto parsed = core::parse_json(body);
    if (!parsed) {
        return Error(Errc::kMalformedPayload, "list page: " + parsed.error().message);
    }
    const json& doc = *parsed;
    if (!doc.is_object()) {
        return Error(Errc::kMalformedPayload, "list page is not a JSON object");
    }
    const auto results = doc.find("results");
    if (results == doc.end() || !results->is_array()) {
        return Error(Errc::kMalformedPayload, "list page has no \"results\" array");
    }
    Page page;
    page.results.reserve(results->size());
    for (std::size_t i = 0; i < results->size(); ++i) {
        const auto& item = (*results)[i];
        if (!item.is_object()) {
            return Error(Errc::kMalformedPayload,
                         "list page result " + std::to_string(i) + " is not an object");
        }
        page.results.push_back(item.dump());
    }
    if (auto it = doc.find("cursorNext"); it != doc.end() && !it->is_null()) {
        if (!it->is_string()) {
            return Error(Errc::kMalformedPayload, "list page \"cursorNext\" is not a string");
        }
        page.cursor_next = it->get<std::string>();
    }
    // Where the page sits in the list is what lets the walk prove it missed nothing.
    for (auto [name, field] :
         {std::pair{"rangeStart", &page.range_start}, std::pair{"rangeEnd", &page.range_end}}) {
        const auto it = doc.find(name);
        if (it == doc.end() || !it->is_number_integer() || it->get<std::int64_t>() < 0) {
            return Error(Errc::kMalformedPayload,
                         std::string("list page has no non-negative integer \"") + name + "\"");
        }
        *field = it->get<std::int64_t>();
    }
    return page;
}

}  // namespace radsync::officernd
