#include "radsync/snapshot/redact.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"
#include "radsync/mapping/credentials.hpp"

#include "property_text.hpp"

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

namespace {

// A scan over a member's JSON text that finds the secret properties' string values without
// building a document: redacting by parse and dump cost more than the rest of storing a member
// (a poll stores every member). It understands exactly the common shape: an object whose
// "properties" object holds the secrets as strings without escapes. For anything else (an
// escape in a key or in a secret, a secret that is a number, a repeated key, text that is not
// well formed) it gives up, and the full parse decides.
class Scanner {
public:
    explicit Scanner(std::string_view text) : t_(text) {}

    struct Span {
        std::size_t begin;  // the opening quote
        std::size_t end;    // one past the closing quote
    };

    // The spans of the secret string values, or nullopt to leave it to the full parse.
    std::optional<std::vector<Span>> secrets(const std::set<std::string>& named) {
        std::vector<Span> found;
        bool seen_properties = false;
        const bool ok = members([&](std::string_view key) {
            if (key != "properties") {
                return skip_value();
            }
            if (seen_properties) {
                return false;
            }
            seen_properties = true;
            if (peek() != '{') {
                return skip_value();  // not an object: no properties to redact
            }
            return members([&](std::string_view name) {
                if (!is_secret_property(name, named)) {
                    return skip_value();
                }
                if (peek() != '"') {
                    return false;  // a number or bool secret: the full parse flattens it
                }
                const std::size_t begin = i_;
                bool escaped = false;
                if (!string(escaped) || escaped) {
                    return false;
                }
                found.push_back({begin, i_});
                return true;
            });
        });
        skip_ws();
        if (!ok || i_ != t_.size()) {
            return std::nullopt;
        }
        return found;
    }

private:
    char peek() {
        skip_ws();
        return i_ < t_.size() ? t_[i_] : '\0';
    }
    void skip_ws() {
        while (i_ < t_.size() &&
               (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) {
            ++i_;
        }
    }
    // A string token at i_ (the quote); i_ ends past it.
    bool string(bool& escaped) {
        if (peek() != '"') {
            return false;
        }
        for (++i_; i_ < t_.size(); ++i_) {
            const char c = t_[i_];
            if (c == '\\') {
                escaped = true;
                ++i_;  // whatever it escapes, it does not end the string
            } else if (c == '"') {
                ++i_;
                return true;
            } else if (static_cast<unsigned char>(c) < 0x20) {
                return false;
            }
        }
        return false;
    }
    // An object at i_: `visit(key)` with i_ at each value, which it must consume.
    template <class Visit>
    bool members(Visit visit) {
        if (peek() != '{') {
            return false;
        }
        ++i_;
        if (peek() == '}') {
            ++i_;
            return true;
        }
        for (;;) {
            skip_ws();
            const std::size_t key_begin = i_;
            bool escaped = false;
            if (!string(escaped)) {
                return false;
            }
            const std::string_view key = t_.substr(key_begin + 1, i_ - key_begin - 2);
            if (peek() != ':') {
                return false;
            }
            ++i_;
            skip_ws();
            // An escaped key might spell "properties" or a secret's name: the full parse knows.
            if (escaped || !visit(key)) {
                return false;
            }
            const char next = peek();
            ++i_;
            if (next == '}') {
                return true;
            }
            if (next != ',') {
                return false;
            }
        }
    }
    // Any value at i_, nested ones included (bounded by the text, no recursion).
    bool skip_value() {
        const char c = peek();
        if (c == '"') {
            bool escaped = false;
            return string(escaped);
        }
        if (c == '{' || c == '[') {
            std::size_t depth = 0;
            while (i_ < t_.size()) {
                const char d = t_[i_];
                if (d == '"') {
                    bool escaped = false;
                    if (!string(escaped)) {
                        return false;
                    }
                    continue;
                }
                if (d == '{' || d == '[') {
                    ++depth;
                } else if (d == '}' || d == ']') {
                    if (--depth == 0) {
                        ++i_;
                        return true;
                    }
                }
                ++i_;
            }
            return false;
        }
        const std::size_t begin = i_;
        while (i_ < t_.size() &&
               std::string_view(",}] \t\r\n").find(t_[i_]) == std::string_view::npos) {
            ++i_;
        }
        return i_ > begin;
    }

    std::string_view t_;
    std::size_t i_ = 0;
};

}  // namespace

Result<std::string> redact_member(std::string_view raw, const std::set<std::string>& named,
                                  const SecretHash& hash) {
    if (auto spans = Scanner(raw).secrets(named)) {
        std::string out;
        out.reserve(raw.size() + spans->size() * 96);
        std::size_t at = 0;
        for (const auto& span : *spans) {
            const std::string_view value = raw.substr(span.begin + 1, span.end - span.begin - 2);
            if (mapping::is_keyed_hash(value)) {
                continue;
            }
            out.append(raw.substr(at, span.begin - at))
                .append("\"")
                .append(hash(value))
                .append("\"");
            at = span.end;
        }
        if (at == 0) {
            return std::string(raw);
        }
        out.append(raw.substr(at));
        return out;
    }
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
        const auto text = detail::property_text(value);
        if (!text || mapping::is_keyed_hash(*text)) {
            continue;
        }
        value = hash(*text);
        changed = true;
    }
    return changed ? parsed->dump() : std::string(raw);
}

}  // namespace radsync::snapshot
