// libFuzzer target: redacting a member before it is stored. The fast scan and the full parse
// must agree: whatever is redacted holds, as a document, exactly the input with every secret
// property's value replaced by its hash, and no redaction ever crashes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"
#include "radsync/mapping/credentials.hpp"
#include "radsync/snapshot/redact.hpp"
#include "support/redact_reference.hpp"

namespace {

const std::set<std::string> kNamed = {"wifi_key"};

std::string hash(std::string_view v) {
    return radsync::mapping::keyed_hash("fuzz key", v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string raw(reinterpret_cast<const char*>(data), size);
    auto out = radsync::snapshot::redact_member(raw, kNamed, hash);
    // radsync's own parser (one document, nothing after it, a NUL included), as the stores use.
    auto parsed = radsync::core::parse_json(raw);
    if (!parsed || !parsed->is_object()) {
        return 0;  // an error or not: nothing to compare with
    }
    auto& in = *parsed;
    if (!out) {
        std::abort();  // a JSON object is always redactable
    }
    radsync::test::redact_reference(in, kNamed, hash);
    auto back = radsync::core::parse_json(*out);
    if (!back || *back != in) {
        std::abort();
    }
    return 0;
}
