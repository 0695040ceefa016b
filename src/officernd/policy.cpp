#include "radsync/officernd/policy.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"

namespace radsync::officernd {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

// Small non-negative decimal; nullopt when not all digits or too long to matter.
std::optional<int> small_number(std::string_view s, std::size_t max_digits) {
    if (!all_digits(s) || s.size() > max_digits) {
        return std::nullopt;
    }
    int v = 0;
    for (char c : s) {
        v = v * 10 + (c - '0');
    }
    return v;
}

std::optional<unsigned> month_number(std::string_view name) {
    static constexpr std::array<std::string_view, 12> kMonths = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (std::size_t i = 0; i < kMonths.size(); ++i) {
        if (name == kMonths[i]) {
            return static_cast<unsigned>(i + 1);
        }
    }
    return std::nullopt;
}

// "08:49:37" -> seconds since midnight.
std::optional<seconds> time_of_day(std::string_view s) {
    if (s.size() != 8 || s[2] != ':' || s[5] != ':') {
        return std::nullopt;
    }
    auto h = small_number(s.substr(0, 2), 2);
    auto m = small_number(s.substr(3, 2), 2);
    auto sec = small_number(s.substr(6, 2), 2);
    if (!h || !m || !sec || *h > 23 || *m > 59 || *sec > 60) {
        return std::nullopt;
    }
    return std::chrono::hours(*h) + std::chrono::minutes(*m) + seconds(*sec);
}

std::optional<core::Instant> make_instant(int year, unsigned month, int day, seconds tod) {
    const std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                          std::chrono::day(static_cast<unsigned>(day))};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    return core::Instant(std::chrono::sys_days(ymd)) + tod;
}

// RFC 9110 5.6.7: IMF-fixdate, plus the obsolete RFC 850 and asctime forms recipients must
// still accept. The weekday is not checked.
std::optional<core::Instant> parse_http_date(std::string_view text) {
    std::string normalised(text);
    std::replace(normalised.begin(), normalised.end(), ',', ' ');
    std::replace(normalised.begin(), normalised.end(), '-', ' ');
    std::vector<std::string_view> tokens;
    std::string_view rest(normalised);
    while (!rest.empty()) {
        const auto start = rest.find_first_not_of(" \t");
        if (start == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(start);
        const auto end = std::min(rest.find_first_of(" \t"), rest.size());
        tokens.push_back(rest.substr(0, end));
        rest.remove_prefix(end);
    }
    if (tokens.size() == 6 && tokens[5] == "GMT") {
        // IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" or RFC 850 "Sunday, 06-Nov-94 ...".
        auto day = small_number(tokens[1], 2);
        auto month = month_number(tokens[2]);
        auto tod = time_of_day(tokens[4]);
        std::optional<int> year;
        if (tokens[3].size() == 4) {
            year = small_number(tokens[3], 4);
        } else if (tokens[3].size() == 2) {
            // Two-digit years: RFC 9110 says to pick the century that puts the date no more
            // than 50 years ahead; for a Retry-After that means 20xx in practice.
            if (auto yy = small_number(tokens[3], 2)) {
                year = 2000 + *yy;
            }
        }
        if (!day || !month || !tod || !year) {
            return std::nullopt;
        }
        return make_instant(*year, *month, *day, *tod);
    }
    if (tokens.size() == 5) {
        // asctime "Sun Nov  6 08:49:37 1994".
        auto month = month_number(tokens[1]);
        auto day = small_number(tokens[2], 2);
        auto tod = time_of_day(tokens[3]);
        auto year = tokens[4].size() == 4 ? small_number(tokens[4], 4) : std::nullopt;
        if (!day || !month || !tod || !year) {
            return std::nullopt;
        }
        return make_instant(*year, *month, *day, *tod);
    }
    return std::nullopt;
}

std::string with_detail(std::string head, std::string_view detail) {
    if (!detail.empty()) {
        head.append(": ").append(detail);
    }
    return head;
}

// Replaces control characters and bounds the length, cutting on a UTF-8 character boundary.
std::string printable(std::string_view text, std::size_t max_bytes) {
    std::string out;
    if (text.size() > max_bytes) {
        // If the first byte left out continues a multi-byte character, that character
        // straddles the cut: end before its lead byte.
        std::size_t cut = max_bytes;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) {
            --cut;
        }
        out = std::string(text.substr(0, cut)) + "...";
    } else {
        out = std::string(text);
    }
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20U || u == 0x7FU) {
            c = ' ';
        }
    }
    return out;
}

constexpr std::size_t kMaxServerMessage = 200;
constexpr seconds kDocumentedTokenLifetime{3599};

}  // namespace

// ---------------------------------------------------------------------------------------------

milliseconds delay(int attempt, milliseconds base, milliseconds max, double jitter01) {
    if (base.count() <= 0 || max.count() <= 0) {
        return milliseconds{0};
    }
    milliseconds nominal = std::min(base, max);
    for (int i = 1; i < attempt && nominal < max; ++i) {
        nominal = nominal > max / 2 ? max : nominal * 2;
    }
    const double j = std::clamp(jitter01, 0.0, 1.0);
    const auto half = nominal / 2;
    const auto spread = static_cast<double>((nominal - half).count()) * j;
    return std::min(nominal, half + milliseconds(static_cast<milliseconds::rep>(spread)));
}

std::optional<seconds> parse_retry_after(std::string_view value, core::Instant now) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value.remove_suffix(1);
    }
    if (all_digits(value)) {
        // Absurdly long numbers saturate rather than overflow; kMaxRetryAfter rejects them.
        constexpr std::size_t kMaxDigits = 9;
        if (value.size() > kMaxDigits) {
            return seconds{999'999'999};
        }
        return seconds{*small_number(value, kMaxDigits)};
    }
    auto when = parse_http_date(value);
    if (!when) {
        return std::nullopt;
    }
    return *when > now ? *when - now : seconds{0};
}

// ---------------------------------------------------------------------------------------------

namespace {
// See the class comment: whole-second instants, so a request holds its slot one second longer.
constexpr seconds kHold = TokenRateLimiter::kWindow + seconds{1};
}  // namespace

std::size_t TokenRateLimiter::in_window(core::Instant now) const {
    return static_cast<std::size_t>(std::count_if(
        sent_.begin(), sent_.end(), [&](core::Instant t) { return now - t < kHold; }));
}

bool TokenRateLimiter::can_request(core::Instant now) const {
    return in_window(now) < kMaxRequests;
}

void TokenRateLimiter::record(core::Instant now) {
    sent_.push_back(now);
    while (!sent_.empty() && now - sent_.front() >= kHold) {
        sent_.pop_front();
    }
    // A clock stepped backwards could leave stale entries behind newer ones; bound the list.
    constexpr std::size_t kKeep = 4 * kMaxRequests;
    while (sent_.size() > kKeep) {
        sent_.pop_front();
    }
}

seconds TokenRateLimiter::wait_needed(core::Instant now) const {
    std::vector<core::Instant> live;
    for (auto t : sent_) {
        if (now - t < kHold) {
            live.push_back(t);
        }
    }
    if (live.size() < kMaxRequests) {
        return seconds{0};
    }
    std::sort(live.begin(), live.end());
    // Once this many of the oldest have left the window, one more request fits.
    const auto must_expire = live.size() - kMaxRequests;
    return live[must_expire] + kHold - now;
}

// ---------------------------------------------------------------------------------------------

Verdict classify_status(Endpoint endpoint, unsigned status, std::string_view server_msg,
                        bool may_refresh_token, std::string_view org_slug) {
    const std::string code_text = std::to_string(status);
    if (status >= 200 && status < 300) {
        return {Action::kAccept, Errc::kApiUnavailable, {}};
    }
    if (endpoint == Endpoint::kToken) {
        if (status == 401) {
            return {Action::kFail, Errc::kApiUnauthorized,
                    with_detail("OfficeRnD rejected the client credentials (401", server_msg) +
                        ") — check officernd.client_id and the client secret"};
        }
        if (status == 400) {
            return {Action::kFail, Errc::kApiUnauthorized,
                    with_detail("OfficeRnD refused the token request (400", server_msg) +
                        ") — check the client credentials and that the application has every "
                        "requested scope"};
        }
        if (status == 429) {
            return {Action::kRetry, Errc::kApiRateLimited,
                    with_detail("OfficeRnD token endpoint rate limit (429)", server_msg)};
        }
        if (status >= 500 && status < 600) {
            return {Action::kRetry, Errc::kApiUnavailable,
                    with_detail("OfficeRnD token endpoint answered " + code_text, server_msg)};
        }
        return {Action::kFail, Errc::kApiUnavailable,
                with_detail("OfficeRnD token endpoint answered " + code_text, server_msg)};
    }
    switch (status) {
        case 400:
            // Our request is wrong (an unknown filter, a bad limit): sending it again cannot
            // help, and the server's message is the only useful diagnosis.
            return {Action::kFail, Errc::kApiUnavailable,
                    with_detail("OfficeRnD rejected the request (400)", server_msg)};
        case 401:
            if (may_refresh_token) {
                return {Action::kRefreshToken, Errc::kApiUnauthorized, "token refused (401)"};
            }
            return {Action::kFail, Errc::kApiUnauthorized,
                    "OfficeRnD refused the token (401) — the application may lack a scope"};
        case 403:
            return {Action::kFail, Errc::kApiUnauthorized,
                    with_detail("OfficeRnD forbade the request (403)", server_msg) +
                        " — the application may lack a scope"};
        case 404:
            return {Action::kFail, Errc::kNotFound,
                    with_detail("OfficeRnD has no such item (404)", server_msg)};
        case 429:
            return {Action::kRetry, Errc::kApiRateLimited,
                    with_detail("OfficeRnD rate limit (429)", server_msg)};
        default:
            break;
    }
    if (status == 500 && lower(server_msg).find("organization not found") != std::string::npos) {
        // OfficeRnD answers a wrong slug with a 500 (officernd-api.md §7.12); retrying will
        // not conjure the organisation up.
        return {Action::kFail, Errc::kConfigInvalid,
                "OfficeRnD organization '" + std::string(org_slug) +
                    "' not found (check officernd.org_slug)"};
    }
    if (status >= 500 && status < 600) {
        return {Action::kRetry, Errc::kApiUnavailable,
                with_detail("OfficeRnD answered " + code_text, server_msg)};
    }
    return {Action::kFail, Errc::kApiUnavailable,
            with_detail("OfficeRnD answered unexpected status " + code_text, server_msg)};
}

Verdict classify_transport(TransportFailure failure, std::string_view detail) {
    switch (failure) {
        case TransportFailure::kTimeout:
        case TransportFailure::kResolve:
        case TransportFailure::kConnection:
        case TransportFailure::kTlsHandshake:
        case TransportFailure::kProtocol:
            return {Action::kRetry, Errc::kApiUnavailable, std::string(detail)};
        case TransportFailure::kTlsVerify:
        case TransportFailure::kTooLarge:
            break;
    }
    return {Action::kFail, Errc::kApiUnavailable, std::string(detail)};
}

std::string server_message(std::string_view body) {
    const auto parsed = core::parse_json(body);
    if (parsed && parsed->is_object()) {
        const json& doc = *parsed;
        std::string text;
        if (auto it = doc.find("message"); it != doc.end()) {
            if (it->is_string()) {
                text = it->get<std::string>();
            } else if (it->is_array()) {
                for (const auto& part : *it) {
                    if (part.is_string()) {
                        text += (text.empty() ? "" : "; ") + part.get<std::string>();
                    }
                }
            }
        }
        if (text.empty()) {
            if (auto it = doc.find("error"); it != doc.end() && it->is_string()) {
                text = it->get<std::string>();
            }
            if (auto it = doc.find("error_description"); it != doc.end() && it->is_string()) {
                text += (text.empty() ? "" : ": ") + it->get<std::string>();
            }
        }
        if (!text.empty()) {
            return printable(text, kMaxServerMessage);
        }
    }
    return printable(body, kMaxServerMessage);
}

// ---------------------------------------------------------------------------------------------

std::string url_encode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == '$') {
            out += c;
        } else {
            out += '%';
            out += kHex[u >> 4U];
            out += kHex[u & 0x0FU];
        }
    }
    return out;
}

Result<std::string> build_page_query(const QueryParams& filters, std::string_view cursor_next) {
    static constexpr std::array<std::string_view, 6> kReserved = {
        "$limit", "$cursorNext", "$cursorPrev", "$next", "$prev", "$populate"};
    std::string query = "?$limit=" + std::to_string(kPageLimit);
    for (const auto& [name, value] : filters) {
        if (std::find(kReserved.begin(), kReserved.end(), name) != kReserved.end()) {
            return Error(Errc::kConfigInvalid,
                         "list filter \"" + name + "\" is reserved for paging or is v1-only");
        }
        query += '&' + url_encode(name) + '=' + url_encode(value);
    }
    if (!cursor_next.empty()) {
        query += "&$cursorNext=" + url_encode(cursor_next);
    }
    return query;
}

Result<PageStep> PageWalk::advance(const Page& page) {
    ++pages_;
    const std::string where = "page " + std::to_string(pages_);
    const auto count = static_cast<std::int64_t>(page.results.size());
    if (count == 0) {
        // An empty page ends a list (or is the whole of an empty one); one that hands out a
        // cursor is a page lost in transit, not the end.
        if (page.range_start != 0 || page.range_end != 0) {
            return Error(Errc::kIncomplete, where + " is empty but claims items " +
                                                std::to_string(page.range_start) + "-" +
                                                std::to_string(page.range_end));
        }
        if (!page.cursor_next.empty()) {
            return Error(Errc::kIncomplete,
                         where + " is empty but the cursor continues after item " +
                             std::to_string(items_) + "; the list would be incomplete");
        }
        return PageStep::kDone;
    }
    if (page.range_start != items_ + 1 || page.range_end - page.range_start + 1 != count) {
        return Error(Errc::kIncomplete,
                     where + " holds items " + std::to_string(page.range_start) + "-" +
                         std::to_string(page.range_end) + " (" + std::to_string(count) +
                         " results) but item " + std::to_string(items_ + 1) +
                         " was next; a page was skipped or cut short, so the list is incomplete");
    }
    items_ = page.range_end;
    if (page.cursor_next.empty()) {
        return PageStep::kDone;
    }
    if (pages_ >= max_pages_) {
        return Error(Errc::kMalformedPayload, "more than " + std::to_string(max_pages_) +
                                                  " pages; the server keeps handing out cursors");
    }
    if (page.cursor_next == cursor_ || !seen_.insert(page.cursor_next).second) {
        return Error(Errc::kMalformedPayload,
                     where + " repeats an earlier cursorNext; the server's paging loops");
    }
    cursor_ = page.cursor_next;
    return PageStep::kMore;
}

Result<Page> parse_page(std::string_view body) {
    auto parsed = core::parse_json(body);
    if (!parsed) {
        return Error(Errc::kMalformedPayload, "list page: " + parsed.error().message);
    }
    const json& doc = *parsed;
    if (!doc.is_object()) {
        return Error(Errc::kMalformedPayload, "list page is not a JSON object");
    }
    const auto results = doc.find("results");
    if (results == doc.end() || !results->is_array()) {
        return Error(Errc::kMalformedPayload, "list page has no \"results\" array");
    }
    Page page;
    page.results.reserve(results->size());
    for (std::size_t i = 0; i < results->size(); ++i) {
        const auto& item = (*results)[i];
        if (!item.is_object()) {
            return Error(Errc::kMalformedPayload,
                         "list page result " + std::to_string(i) + " is not an object");
        }
        page.results.push_back(item.dump());
    }
    if (auto it = doc.find("cursorNext"); it != doc.end() && !it->is_null()) {
        if (!it->is_string()) {
            return Error(Errc::kMalformedPayload, "list page \"cursorNext\" is not a string");
        }
        page.cursor_next = it->get<std::string>();
    }
    // Where the page sits in the list is what lets the walk prove it missed nothing.
    for (auto [name, field] :
         {std::pair{"rangeStart", &page.range_start}, std::pair{"rangeEnd", &page.range_end}}) {
        const auto it = doc.find(name);
        if (it == doc.end() || !it->is_number_integer() || it->get<std::int64_t>() < 0) {
            return Error(Errc::kMalformedPayload,
                         std::string("list page has no non-negative integer \"") + name + "\"");
        }
        *field = it->get<std::int64_t>();
    }
    return page;
}

bool is_json_object(std::string_view body) {
    auto doc = core::parse_json(body);
    return doc && doc->is_object();
}

std::string format_iso_millis(core::Instant t) {
    const auto day = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day ymd{day};
    const std::chrono::hh_mm_ss hms{t - day};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.000Z", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
    return buf;
}

QueryParams booking_window(core::Instant now) {
    constexpr auto kAhead = std::chrono::days{30};
    return {{"start[$gte]", format_iso_millis(now - kBookingWindowBack)},
            {"start[$lt]", format_iso_millis(now + kAhead)}};
}

// ---------------------------------------------------------------------------------------------

Result<TokenGrant> parse_token_response(std::string_view body) {
    const auto parsed = core::parse_json(body);
    if (!parsed || !parsed->is_object()) {
        return Error(Errc::kMalformedPayload, "token response is not a JSON object");
    }
    const json& doc = *parsed;
    TokenGrant grant;
    if (auto it = doc.find("access_token"); it != doc.end() && it->is_string()) {
        grant.access_token = it->get<std::string>();
    }
    if (grant.access_token.empty()) {
        return Error(Errc::kMalformedPayload, "token response has no access_token");
    }
    if (auto it = doc.find("token_type"); it != doc.end() && !it->is_null()) {
        if (!it->is_string() || lower(it->get<std::string>()) != "bearer") {
            return Error(Errc::kMalformedPayload, "token response is not a Bearer token");
        }
    }
    grant.expires_in = kDocumentedTokenLifetime;
    if (auto it = doc.find("expires_in"); it != doc.end() && !it->is_null()) {
        if (!it->is_number()) {
            return Error(Errc::kMalformedPayload, "token response expires_in is not a number");
        }
        const double v = it->get<double>();
        if (!(v >= 1.0)) {
            return Error(Errc::kMalformedPayload, "token response expires_in is not positive");
        }
        constexpr double kDay = 86400.0;  // longer lifetimes are capped; we refresh anyway
        grant.expires_in = seconds{static_cast<seconds::rep>(std::min(v, kDay))};
    }
    return grant;
}

core::Instant token_refresh_at(core::Instant obtained, seconds expires_in) {
    constexpr seconds kMargin{60};
    const seconds margin = expires_in >= 2 * kMargin ? kMargin : expires_in / 2;
    return obtained + expires_in - margin;
}

std::string token_request_body(std::string_view client_id, std::string_view client_secret,
                               std::string_view scope) {
    return "grant_type=client_credentials&client_id=" + url_encode(client_id) +
           "&client_secret=" + url_encode(client_secret) + "&scope=" + url_encode(scope);
}

// ---------------------------------------------------------------------------------------------

std::string Url::host_header() const {
    std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    const std::uint16_t default_port = tls() ? 443 : 80;
    if (port != default_port) {
        out += ':' + std::to_string(port);
    }
    return out;
}

bool is_loopback_host(std::string_view host) {
    const std::string h = lower(host);
    if (h == "localhost" || h == "::1") {
        return true;
    }
    // Dotted-quad 127.a.b.c.
    std::string_view rest(h);
    for (int part = 0; part < 4; ++part) {
        const auto dot = rest.find('.');
        const auto field = rest.substr(0, dot);
        auto v = small_number(field, 3);
        if (!v || *v > 255 || (part == 0 && *v != 127)) {
            return false;
        }
        if (part < 3) {
            if (dot == std::string_view::npos) {
                return false;
            }
            rest.remove_prefix(dot + 1);
        } else if (dot != std::string_view::npos) {
            return false;
        }
    }
    return true;
}

Result<Url> parse_url(std::string_view text) {
    const auto bad = [&](const std::string& why) {
        return Error(Errc::kConfigInvalid, "URL \"" + std::string(text) + "\": " + why);
    };
    Url url;
    const auto sep = text.find("://");
    if (sep == std::string_view::npos) {
        return bad("expected https://host/path");
    }
    url.scheme = lower(text.substr(0, sep));
    if (url.scheme != "https" && url.scheme != "http") {
        return bad("scheme must be https");
    }
    std::string_view rest = text.substr(sep + 3);
    const auto path_start = std::min(rest.find('/'), rest.size());
    const std::string_view authority = rest.substr(0, path_start);
    std::string_view path = rest.substr(path_start);
    if (path.find_first_of("?#") != std::string_view::npos) {
        return bad("must not carry a query or fragment");
    }
    if (authority.find('@') != std::string_view::npos) {
        return bad("must not carry user info");
    }
    std::string_view host;
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return bad("unterminated IPv6 address");
        }
        host = authority.substr(1, close - 1);
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return bad("unexpected text after the IPv6 address");
            }
            port_text = after.substr(1);
        }
        if (host.empty() ||
            host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
            return bad("bad IPv6 address");
        }
    } else {
        const auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
        }
        if (host.empty() || std::any_of(host.begin(), host.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '-';
            })) {
            return bad("bad host name");
        }
    }
    url.host = lower(host);
    url.port = url.tls() ? 443 : 80;
    if (!port_text.empty() || authority.ends_with(':')) {
        auto port = small_number(port_text, 5);
        if (!port || *port < 1 || *port > std::numeric_limits<std::uint16_t>::max()) {
            return bad("bad port");
        }
        url.port = static_cast<std::uint16_t>(*port);
    }
    url.path = path.empty() ? "/" : std::string(path);
    if (!url.tls() && !is_loopback_host(url.host)) {
        return bad("plain http:// is allowed only to a loopback host (tests); use https://");
    }
    return url;
}

}  // namespace radsync::officernd
