#include "radsync/core/json.hpp"

#include <cstring>
#include <string>

namespace radsync::core {

namespace {

using nlohmann::json;
using DomParser = nlohmann::detail::json_sax_dom_parser<json>;

// Builds the document through nlohmann's own DOM builder and stops the parse the moment an
// array or object opens one level too deep, so no deep structure ever exists in memory.
class BoundedSax {
public:
    BoundedSax(json& root, std::size_t max_depth) : dom_(root, false), max_depth_(max_depth) {}

    bool null() { return dom_.null(); }
    bool boolean(bool v) { return dom_.boolean(v); }
    bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
    bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
    bool number_float(json::number_float_t v, const json::string_t& s) {
        return dom_.number_float(v, s);
    }
    bool string(json::string_t& v) { return dom_.string(v); }
    bool binary(json::binary_t& v) { return dom_.binary(v); }
    bool key(json::string_t& v) { return dom_.key(v); }
    bool start_object(std::size_t n) { return open() && dom_.start_object(n); }
    bool end_object() {
        --depth_;
        return dom_.end_object();
    }
    bool start_array(std::size_t n) { return open() && dom_.start_array(n); }
    bool end_array() {
        --depth_;
        return dom_.end_array();
    }
    bool parse_error(std::size_t position, const std::string& /*last_token*/,
                     const nlohmann::detail::exception& ex) {
        error_ = "not valid JSON at byte " + std::to_string(position) + ": " + plain(ex.what());
        return false;
    }

    [[nodiscard]] const std::string& error() const { return error_; }

private:
    bool open() {
        if (++depth_ > max_depth_) {
            error_ = "JSON nested deeper than " + std::to_string(max_depth_) + " levels";
            return false;
        }
        return true;
    }

    // "[json.exception.parse_error.101] parse error at line 1, column 4: syntax error ..." ->
    // "syntax error ...": the position is already given as a byte offset.
    static std::string plain(std::string_view what) {
        if (const auto colon = what.find(": "); colon != std::string_view::npos) {
            what.remove_prefix(colon + 2);
        }
        return std::string(what);
    }

    DomParser dom_;
    std::size_t max_depth_;
    std::size_t depth_ = 0;
    std::string error_;
};

}  // namespace

Result<json> parse_json(std::string_view text, std::size_t max_depth) {
    if (const void* nul = std::memchr(text.data(), '\0', text.size()); nul != nullptr) {
        const auto at = static_cast<std::size_t>(static_cast<const char*>(nul) - text.data());
        return Error(Errc::kMalformedPayload, "not valid JSON: NUL byte at byte " +
                                                  std::to_string(at) +
                                                  " (a document is exactly one JSON value)");
    }
    json doc;
    BoundedSax sax(doc, max_depth);
    const bool ok = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json,
                                    /*strict=*/true);
    if (!ok) {
        return Error(Errc::kMalformedPayload,
                     sax.error().empty() ? std::string("not valid JSON") : sax.error());
    }
    return doc;
}

bool is_json_object(std::string_view text) {
    const auto doc = parse_json(text);
    return doc && doc->is_object();
}

std::string to_output(const nlohmann::json& j) {
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace radsync::core
