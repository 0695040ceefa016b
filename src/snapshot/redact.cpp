#include "radsync/snapshot/redact.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"
#include "radsync/mapping/credentials.hpp"

namespace radsync::snapshot {

bool is_secret_property(std::string_view name, const std::set<std::string>& named) {
    if (named.count(std::string(name)) != 0) {
        return true;
    }
    static constexpr std::string_view kWord = "password";
    const auto it = std::search(
        name.begin(), name.end(), kWord.begin(), kWord.end(),
        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
    return it != name.end();
}

bool has_cleartext_secret(const Properties& properties, const std::set<std::string>& named) {
    return std::any_of(properties.begin(), properties.end(), [&](const auto& p) {
        return is_secret_property(p.first, named) && !mapping::is_keyed_hash(p.second);
    });
}

Result<std::string> redact_member(std::string_view raw, const std::set<std::string>& named,
                                  const SecretHash& hash) {
    auto parsed = core::parse_json(raw);
    if (!parsed || !parsed->is_object()) {
        return Error(Errc::kMalformedPayload, "a member to store is not a JSON object");
    }
    auto props = parsed->find("properties");
    if (props == parsed->end() || !props->is_object()) {
        return std::string(raw);
    }
    bool changed = false;
    for (auto& [key, value] : props->items()) {
        if (!is_secret_property(key, named)) {
            continue;
        }
        // Flattened as snapshot::Properties holds it, so the hash matches what mapping sees.
        std::string text;
        if (value.is_string()) {
            text = value.get<std::string>();
        } else if (value.is_number() || value.is_boolean()) {
            text = value.dump();
        } else {
            continue;  // objects, arrays and null are not read as properties at all
        }
        if (mapping::is_keyed_hash(text)) {
            continue;
        }
        value = hash(text);
        changed = true;
    }
    return changed ? parsed->dump() : std::string(raw);
}

}  // namespace radsync::snapshot
