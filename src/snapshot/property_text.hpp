#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace radsync::snapshot::detail {

/// A custom property's value as snapshot::Properties holds it: strings as they are, numbers and
/// booleans as JSON text; objects, arrays and null are not read as properties at all. Shared by
/// the parser and the redaction, so that a stored hash matches what the mapping sees.
inline std::optional<std::string> property_text(const nlohmann::json& value) {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_number() || value.is_boolean()) {
        return value.dump();
    }
    return std::nullopt;
}

}  // namespace radsync::snapshot::detail
