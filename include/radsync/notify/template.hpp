#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace radsync::notify {

/// The placeholders a message template may use, each `{name}` in the text. `{{` and `}}` stand
/// for literal braces.
///   name, email          the recipient account's person (member, pass holder or guest)
///   username, password   the WiFi credentials (password: not in `returning`)
///   locations            the locations the account may use, by name, comma-separated
///   valid_from/until     when access begins and ends, in the first location's time zone
///   ssid                 the network name(s) to join, comma-separated
///   host, booking        a guest's booking member and the booking's resource (guests)
///   organisation         notify.organisation
inline constexpr std::string_view kPlaceholders[] = {
    "name",        "email", "username", "password", "locations",   "valid_from",
    "valid_until", "ssid",  "host",     "booking",  "organisation"};

/// A template split into literal text and placeholders, checked once at load.
class MessageTemplate {
public:
    struct Problem {
        std::size_t offset = 0;   ///< byte offset in the template text
        std::string placeholder;  ///< the offending text, e.g. "{pasword}"
        std::string message;
    };

    /// Parses `text`; `allowed` narrows kPlaceholders (e.g. no password for returning
    /// members), naming why in `why_not`. A Problem for the first unknown or unclosed
    /// placeholder.
    [[nodiscard]] static std::optional<Problem> check(std::string_view text,
                                                      const std::set<std::string>& refused = {},
                                                      std::string_view why_refused = {});
    /// A template already checked (loader) or built in. Unknown placeholders render as
    /// nothing, so rendering never fails.
    explicit MessageTemplate(std::string text = {});

    /// The text with every placeholder replaced by its value ("" when missing); values are
    /// HTML-escaped when `html`.
    [[nodiscard]] std::string render(const std::map<std::string, std::string>& values,
                                     bool html) const;
    [[nodiscard]] bool uses(std::string_view placeholder) const;
    [[nodiscard]] bool empty() const { return parts_.empty(); }

private:
    struct Part {
        bool placeholder = false;
        std::string text;  // the literal, or the placeholder's name
    };
    std::vector<Part> parts_;
};

/// `&`, `<`, `>`, `"` and `'` as character references: safe in HTML text and attributes, and
/// in XML (the WiFi profile's plist).
[[nodiscard]] std::string markup_escape(std::string_view text);

/// Line and column (1-based) of byte `offset` in `text`.
struct TextPosition {
    int line = 1;
    int column = 1;
};
[[nodiscard]] TextPosition position_of(std::string_view text, std::size_t offset);

}  // namespace radsync::notify
