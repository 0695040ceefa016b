// libFuzzer target: everything that turns OfficeRnD's JSON into values: a snapshot document
// (reconcile --from-file), a v2 list page and the walk over it, single entities of every kind,
// the token answer and the error-body summary.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "radsync/core/json.hpp"
#include "radsync/officernd/classify.hpp"
#include "radsync/officernd/paging.hpp"
#include "radsync/officernd/token.hpp"
#include "radsync/snapshot/entities.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    (void)radsync::core::parse_json(text);
    (void)radsync::snapshot::parse_snapshot(text);
    if (auto page = radsync::officernd::parse_page(text)) {
        radsync::officernd::PageWalk walk(4);
        (void)walk.advance(*page);
        for (const auto& result : page->results) {
            (void)radsync::snapshot::parse_member(result);
        }
    }
    (void)radsync::snapshot::parse_member(text);
    (void)radsync::snapshot::parse_company(text);
    (void)radsync::snapshot::parse_membership(text);
    (void)radsync::snapshot::parse_plan(text);
    (void)radsync::snapshot::parse_location(text);
    (void)radsync::snapshot::parse_pass(text);
    (void)radsync::snapshot::parse_booking(text);
    (void)radsync::snapshot::parse_resource(text);
    (void)radsync::snapshot::parse_resource_type(text);
    (void)radsync::snapshot::parse_visitor(text);
    (void)radsync::officernd::parse_token_response(text);
    (void)radsync::officernd::server_message(text);
    (void)radsync::core::is_json_object(text);
    return 0;
}
