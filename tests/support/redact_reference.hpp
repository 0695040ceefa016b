#pragma once

// What redacting a member means, on the parsed document: each secret property's value (as
// snapshot::Properties reads it) replaced by its hash, unless it is one already. The oracle the
// redaction test and its fuzz target compare radsync's fast scan with.

#include <functional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "radsync/mapping/credentials.hpp"
#include "radsync/snapshot/redact.hpp"
#include "snapshot/property_text.hpp"

namespace radsync::test {

inline void redact_reference(nlohmann::json& member, const std::set<std::string>& named,
                             const std::function<std::string(std::string_view)>& hash) {
    if (!member.contains("properties") || !member["properties"].is_object()) {
        return;
    }
    for (auto& [key, value] : member["properties"].items()) {
        if (!snapshot::is_secret_property(key, named)) {
            continue;
        }
        const auto text = snapshot::detail::property_text(value);
        if (text && !mapping::is_keyed_hash(*text)) {
            value = hash(*text);
        }
    }
}

}  // namespace radsync::test
