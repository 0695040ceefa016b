#include "radsync/notify/message.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "radsync/core/base64.hpp"
#include "radsync/core/timezone.hpp"
#include "radsync/notify/template.hpp"

namespace radsync::notify {

namespace {

using nlohmann::json;

std::optional<config::MessageKind> kind_named(std::string_view name) {
    for (const auto k : config::kMessageKinds) {
        if (name == config::to_string(k)) {
            return k;
        }
    }
    return std::nullopt;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) {
        out += (out.empty() ? "" : ", ") + i;
    }
    return out;
}

bool ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// A header value without line breaks: a name from OfficeRnD must not add headers.
std::string one_line(std::string_view s) {
    std::string out;
    for (const char c : s) {
        out += (c == '\r' || c == '\n') ? ' ' : c;
    }
    return out;
}

// A header value as RFC 2047 encoded-words where it needs them (text outside ASCII, or too
// long for one line), folded so no line passes RFC 5322's 78-character advice, let alone its
// 998-byte limit, however long the subject an operator or a member's name makes.
std::string header_text(std::string_view s) {
    constexpr std::size_t kPlainLimit = 900;
    constexpr std::size_t kChunk = 45;  // 60 base64 characters: a 72-character encoded-word
    const std::string line = one_line(s);
    if (ascii(line) && line.size() <= kPlainLimit) {
        return line;
    }
    std::string out;
    for (std::size_t i = 0; i < line.size();) {
        std::size_t n = std::min(kChunk, line.size() - i);
        // Never split a UTF-8 sequence between two words.
        while (i + n < line.size() && n > 1 &&
               (static_cast<unsigned char>(line[i + n]) & 0xC0) == 0x80) {
            --n;
        }
        out += (out.empty() ? "" : "\r\n ") + std::string("=?UTF-8?B?") +
               core::base64_encode(std::string_view(line).substr(i, n)) + "?=";
        i += n;
    }
    return out;
}

// "Display Name <address>" with the display name encoded when it needs to be.
std::string mailbox(std::string_view text) {
    const std::string address = bare_address(text);
    const auto open = text.rfind('<');
    if (open == std::string_view::npos || open == 0) {
        return address;
    }
    std::string name(text.substr(0, open));
    while (!name.empty() && name.back() == ' ') {
        name.pop_back();
    }
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
        name = name.substr(1, name.size() - 2);
    }
    if (name.empty()) {
        return address;
    }
    if (ascii(name) && name.find_first_of("\"\\()<>@,;:[]") == std::string::npos) {
        return name + " <" + address + ">";
    }
    return (ascii(name) ? "\"" + name + "\"" : header_text(name)) + " <" + address + ">";
}

std::string crlf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 40);
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
            out += '\r';
        }
        out += text[i];
    }
    return out;
}

std::string rfc5322_date(core::Instant t) {
    const auto days = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day ymd{days};
    const std::chrono::hh_mm_ss hms{t - days};
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::chrono::weekday wd{days};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02u %s %d %02d:%02d:%02d +0000", kDays[wd.c_encoding()],
                  static_cast<unsigned>(ymd.day()), kMonths[static_cast<unsigned>(ymd.month()) - 1],
                  static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
    return buf;
}

std::string part(const std::string& content_type, std::string_view body) {
    return "Content-Type: " + content_type + "\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
           core::base64_lines(body);
}

}  // namespace

std::string to_json(const Payload& p) {
    json j{{"kind", config::to_string(p.kind)},
           {"name", p.name},
           {"email", p.email},
           {"username", p.username},
           {"locations", p.locations},
           {"timezone", p.timezone},
           {"ssids", p.ssids},
           {"host", p.host},
           {"booking", p.booking}};
    if (p.password) {
        j["password"] = *p.password;
    }
    if (p.valid_from) {
        j["valid_from"] = p.valid_from->time_since_epoch().count();
    }
    if (p.valid_until) {
        j["valid_until"] = p.valid_until->time_since_epoch().count();
    }
    return j.dump();
}

Result<Payload> payload_from_json(std::string_view text) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return Error(Errc::kMalformedPayload, "outbox payload is not a JSON object");
    }
    try {
        Payload p;
        const auto kind = kind_named(j.at("kind").get<std::string>());
        if (!kind) {
            return Error(Errc::kMalformedPayload, "outbox payload has an unknown kind");
        }
        p.kind = *kind;
        p.name = j.value("name", "");
        p.email = j.value("email", "");
        p.username = j.at("username").get<std::string>();
        p.locations = j.value("locations", std::vector<std::string>{});
        p.timezone = j.value("timezone", "");
        p.ssids = j.value("ssids", std::vector<std::string>{});
        p.host = j.value("host", "");
        p.booking = j.value("booking", "");
        if (j.contains("password")) {
            p.password = j.at("password").get<std::string>();
        }
        if (j.contains("valid_from")) {
            p.valid_from = core::Instant{std::chrono::seconds{j.at("valid_from").get<long long>()}};
        }
        if (j.contains("valid_until")) {
            p.valid_until =
                core::Instant{std::chrono::seconds{j.at("valid_until").get<long long>()}};
        }
        return p;
    } catch (const json::exception& e) {
        return Error(Errc::kMalformedPayload, std::string("outbox payload: ") + e.what());
    }
}

std::string bare_address(std::string_view text) {
    std::string_view address = text;
    if (const auto open = text.rfind('<'); open != std::string_view::npos) {
        const auto close = text.find('>', open);
        if (close == std::string_view::npos || close + 1 != text.size()) {
            return "";
        }
        address = text.substr(open + 1, close - open - 1);
    }
    const auto at = address.rfind('@');
    constexpr std::size_t kMaxAddress = 254;
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
        address.size() > kMaxAddress ||
        address.find_first_of(" \t\r\n<>,;\"()[]\\") != std::string_view::npos) {
        return "";
    }
    return std::string(address);
}

std::string format_local(core::Instant t, const std::string& timezone) {
    auto located = core::TimeZone::locate(timezone.empty() ? "UTC" : timezone);
    const core::TimeZone zone = located ? *located : core::TimeZone::utc();
    const core::Instant wall = zone.wall_clock(t);
    const auto days = std::chrono::floor<std::chrono::days>(wall);
    const std::chrono::year_month_day ymd{days};
    const std::chrono::hh_mm_ss hms{wall - days};
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()));
    return std::string(buf) + " (" + zone.name() + ")";
}

Rendered render(const config::Notify& notify, const Payload& p) {
    std::map<std::string, std::string> values{
        {"name", p.name},
        {"email", p.email},
        {"username", p.username},
        {"locations", join(p.locations)},
        {"ssid", join(p.ssids.empty() ? notify.ssids : p.ssids)},
        {"host", p.host},
        {"booking", p.booking},
        {"organisation", notify.organisation},
        {"valid_from", p.valid_from ? format_local(*p.valid_from, p.timezone) : "now"},
        {"valid_until",
         p.valid_until ? format_local(*p.valid_until, p.timezone) : "further notice"},
    };
    // Property passwords are known to radsync only as hashes.
    values["password"] = p.password ? *p.password : "(the one set for you in OfficeRnD)";
    const auto& t = notify.templates_for(p.kind);
    Rendered out;
    out.subject = one_line(MessageTemplate(t.subject).render(values, false));
    out.text = MessageTemplate(t.text).render(values, false);
    if (!t.html.empty()) {
        out.html = MessageTemplate(t.html).render(values, true);
    }
    return out;
}

std::string mime_message(const config::Notify& notify, const std::string& to,
                         const std::string& message_id, core::Instant date, const Rendered& content,
                         const std::optional<Attachment>& attachment) {
    // The boundary starts with "=_", which base64 never produces, so no body line can match it.
    const std::string tag = message_id.substr(1, message_id.find('@') - 1);
    const std::string mixed = "=_mixed_" + tag;
    const std::string alternative = "=_alt_" + tag;
    std::string out;
    out += "From: " + mailbox(notify.from) + "\r\n";
    out += "To: " + bare_address(to) + "\r\n";
    if (!notify.reply_to.empty()) {
        out += "Reply-To: " + mailbox(notify.reply_to) + "\r\n";
    }
    out += "Subject: " + header_text(content.subject) + "\r\n";
    out += "Date: " + rfc5322_date(date) + "\r\n";
    out += "Message-ID: " + message_id + "\r\n";
    out += "MIME-Version: 1.0\r\n";
    // An automatic message (RFC 3834): no auto-replies, no vacation notices back.
    out += "Auto-Submitted: auto-generated\r\n";
    out += "X-Auto-Response-Suppress: All\r\n";

    std::string body;
    if (content.html.empty()) {
        body = part("text/plain; charset=utf-8", crlf(content.text));
    } else {
        body = "Content-Type: multipart/alternative; boundary=\"" + alternative + "\"\r\n\r\n";
        body += "--" + alternative + "\r\n" + part("text/plain; charset=utf-8", crlf(content.text));
        body += "--" + alternative + "\r\n" + part("text/html; charset=utf-8", crlf(content.html));
        body += "--" + alternative + "--\r\n";
    }
    if (!attachment) {
        return out + body;
    }
    out += "Content-Type: multipart/mixed; boundary=\"" + mixed + "\"\r\n\r\n";
    out += "--" + mixed + "\r\n" + body;
    out += "--" + mixed + "\r\n";
    out += "Content-Type: " + attachment->content_type + "; name=\"" + attachment->filename +
           "\"\r\nContent-Disposition: attachment; filename=\"" + attachment->filename +
           "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
           core::base64_lines(attachment->bytes);
    out += "--" + mixed + "--\r\n";
    return out;
}

std::string make_message_id(const config::Notify& notify, std::string_view random) {
    const std::string address = bare_address(notify.from);
    const auto at = address.rfind('@');
    const std::string domain = at == std::string::npos ? "radsync.invalid" : address.substr(at + 1);
    return "<radsync." + std::string(random) + "@" + domain + ">";
}

}  // namespace radsync::notify
