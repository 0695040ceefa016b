#include "radsync/notify/template.hpp"

#include <algorithm>

namespace radsync::notify {

namespace {

bool known(std::string_view name) {
    return std::find(std::begin(kPlaceholders), std::end(kPlaceholders), name) !=
           std::end(kPlaceholders);
}

// Walks `text`, calling literal(text) and placeholder(name, offset) in order. Returns the
// offset of an unclosed "{" or a stray "}", if any.
template <class Literal, class Placeholder>
std::optional<std::size_t> walk(std::string_view text, Literal literal, Placeholder placeholder) {
    std::string pending;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
            pending += c;  // "{{" or "}}"
            ++i;
            continue;
        }
        if (c == '}') {
            return i;
        }
        if (c != '{') {
            pending += c;
            continue;
        }
        const auto close = text.find('}', i);
        const auto next_open = text.find('{', i + 1);
        if (close == std::string_view::npos || next_open < close) {
            return i;
        }
        if (!pending.empty()) {
            literal(std::move(pending));
            pending.clear();
        }
        placeholder(text.substr(i + 1, close - i - 1), i);
        i = close;
    }
    if (!pending.empty()) {
        literal(std::move(pending));
    }
    return std::nullopt;
}

}  // namespace

std::optional<MessageTemplate::Problem> MessageTemplate::check(std::string_view text,
                                                               const std::set<std::string>& refused,
                                                               std::string_view why_refused) {
    std::optional<Problem> first;
    const auto unclosed = walk(
        text, [](std::string&&) {},
        [&](std::string_view name, std::size_t offset) {
            if (first) {
                return;
            }
            const std::string shown = "{" + std::string(name) + "}";
            if (!known(name)) {
                std::string list;
                for (const auto p : kPlaceholders) {
                    if (refused.count(std::string(p)) == 0) {
                        list += (list.empty() ? "{" : ", {") + std::string(p) + "}";
                    }
                }
                first = Problem{offset, shown,
                                "unknown placeholder " + shown + "; use " + list +
                                    " (and {{ }} for literal braces)"};
            } else if (refused.count(std::string(name)) > 0) {
                first = Problem{
                    offset, shown,
                    "placeholder " + shown + " is not available here: " + std::string(why_refused)};
            }
        });
    if (unclosed && (!first || *unclosed < first->offset)) {
        const char c = text[*unclosed];
        return Problem{*unclosed, std::string(1, c),
                       c == '{' ? "unclosed placeholder (write {{ for a literal brace)"
                                : "stray } (write }} for a literal brace)"};
    }
    return first;
}

MessageTemplate::MessageTemplate(std::string text) {
    (void)walk(
        text,
        [&](std::string&& literal) {
            parts_.push_back({false, std::move(literal)});
        },
        [&](std::string_view name, std::size_t) {
            parts_.push_back({true, std::string(name)});
        });
}

std::string MessageTemplate::render(const std::map<std::string, std::string>& values,
                                    bool html) const {
    std::string out;
    for (const auto& part : parts_) {
        if (!part.placeholder) {
            out += part.text;
            continue;
        }
        const auto it = values.find(part.text);
        if (it != values.end()) {
            out += html ? markup_escape(it->second) : it->second;
        }
    }
    return out;
}

bool MessageTemplate::uses(std::string_view placeholder) const {
    return std::any_of(parts_.begin(), parts_.end(),
                       [&](const Part& p) { return p.placeholder && p.text == placeholder; });
}

std::string markup_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

TextPosition position_of(std::string_view text, std::size_t offset) {
    TextPosition p;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++p.line;
            p.column = 1;
        } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            ++p.column;  // columns count characters, not UTF-8 continuation bytes
        }
    }
    return p;
}

}  // namespace radsync::notify
