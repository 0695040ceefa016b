#pragma once

// Private to the config module: typed, path-tracking access to yaml-cpp nodes. Every reader
// records a Problem (file, 1-based line and column, key path, message) for anything wrong and
// returns nullopt, so one pass over a file reports every mistake in it. loader.cpp describes
// the schema with these; nothing here knows radsync's keys.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>

#include <yaml-cpp/yaml.h>

#include "radsync/config/loader.hpp"
#include "radsync/core/timezone.hpp"
#include "text_file.hpp"

namespace radsync::config::detail {

namespace fs = std::filesystem;
using std::chrono::seconds;

// Bounds memory even for YAML aliases, which can repeat one node many times for a few bytes.
inline constexpr std::size_t kMaxListItems = 10000;
// Suggestions further away than this are more confusing than helpful.
inline constexpr std::size_t kMaxSuggestionDistance = 2;

inline constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
inline constexpr std::int64_t kIntMin = std::numeric_limits<int>::min();

// ---------------------------------------------------------------------------------------------
// Text helpers

inline std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            row[j] = std::min({above + 1, row[j - 1] + 1, substitution});
            diagonal = above;
        }
    }
    return row[b.size()];
}

/// The candidate closest to `word`, if one is within kMaxSuggestionDistance edits.
inline std::optional<std::string> closest(std::string_view word,
                                          std::span<const std::string_view> options) {
    std::optional<std::string> best;
    std::size_t best_distance = kMaxSuggestionDistance + 1;
    for (const auto option : options) {
        const std::size_t d = edit_distance(word, option);
        if (d < best_distance) {
            best_distance = d;
            best = std::string(option);
        }
    }
    return best;
}

inline std::string did_you_mean(std::string_view word, std::span<const std::string_view> options) {
    if (auto s = closest(word, options)) {
        return " (did you mean \"" + *s + "\"?)";
    }
    return "";
}

inline std::string join(std::span<const std::string_view> words,
                        std::string_view separator = ", ") {
    std::string out;
    for (const auto w : words) {
        if (!out.empty()) {
            out += separator;
        }
        out += w;
    }
    return out;
}

/// A value echoed back in a message: quoted, and cut short so one bad line stays one line.
inline std::string in_quotes(std::string_view text) {
    constexpr std::size_t kMaxEcho = 60;
    if (text.size() > kMaxEcho) {
        return "\"" + std::string(text.substr(0, kMaxEcho)) + "...\"";
    }
    return "\"" + std::string(text) + "\"";
}

inline std::string child_path(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

inline std::string index_path(const std::string& parent, std::size_t index) {
    return parent + "[" + std::to_string(index) + "]";
}

inline std::string describe(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Scalar:
            return in_quotes(node.Scalar());
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Map:
            return "a mapping";
        default:
            return "nothing";
    }
}

inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/// Names that become part of RADIUS group names: [a-z0-9_.-]+.
inline bool is_safe_name(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '.' || c == '-';
    });
}

/// Dotted quad, each part 0..255 without leading zeros (which some parsers read as octal).
inline bool is_ipv4(std::string_view s) {
    int parts = 0;
    std::size_t i = 0;
    while (parts < 4) {
        const std::size_t start = i;
        int value = 0;
        while (i < s.size() && is_digit(s[i]) && i - start < 3) {
            value = value * 10 + (s[i] - '0');
            ++i;
        }
        const std::size_t len = i - start;
        if (len == 0 || value > 255 || (len > 1 && s[start] == '0')) {
            return false;
        }
        ++parts;
        if (parts < 4) {
            if (i >= s.size() || s[i] != '.') {
                return false;
            }
            ++i;
        }
    }
    return i == s.size();
}

struct Endpoint {
    std::string host;
    std::uint16_t port = 0;
};

/// "host:port" or "[v6-address]:port" with a port 1..65535.
inline std::optional<Endpoint> parse_endpoint(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find("]:");
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return std::nullopt;
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            return std::nullopt;  // a bare IPv6 address is ambiguous without brackets
        }
    }
    if (host.empty() || host.find_first_of(" \t") != std::string_view::npos || port.empty() ||
        !std::all_of(port.begin(), port.end(), is_digit)) {
        return std::nullopt;
    }
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || ptr != port.data() + port.size() || value < 1 || value > 65535) {
        return std::nullopt;
    }
    return Endpoint{std::string(host), static_cast<std::uint16_t>(value)};
}

/// A decimal number with an optional unit suffix: "300", "12.5M", "30d".
struct Quantity {
    std::uint64_t digits = 0;  // all digits, the fraction included
    std::uint64_t scale = 1;   // 10^(number of fraction digits)
    std::string_view suffix;
};

inline std::optional<Quantity> split_quantity(std::string_view s) {
    constexpr std::uint64_t kLimit = (std::numeric_limits<std::uint64_t>::max() - 9) / 10;
    Quantity q;
    std::size_t i = 0;
    auto take_digits = [&](bool fraction) {
        const std::size_t start = i;
        while (i < s.size() && is_digit(s[i])) {
            if (q.digits > kLimit || (fraction && q.scale > kLimit)) {
                return false;
            }
            q.digits = q.digits * 10 + static_cast<std::uint64_t>(s[i] - '0');
            if (fraction) {
                q.scale *= 10;
            }
            ++i;
        }
        return i > start;
    };
    if (!take_digits(false)) {
        return std::nullopt;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (!take_digits(true)) {
            return std::nullopt;
        }
    }
    q.suffix = s.substr(i);
    return q;
}

/// quantity × unit, if that is a whole number that fits in 63 bits.
inline std::optional<std::uint64_t> scaled(const Quantity& q, std::uint64_t unit) {
    std::uint64_t product = 0;
    if (__builtin_mul_overflow(q.digits, unit, &product) || product % q.scale != 0) {
        return std::nullopt;
    }
    const std::uint64_t value = product / q.scale;
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return std::nullopt;
    }
    return value;
}

struct Unit {
    std::string_view suffix;
    std::uint64_t factor;
};

/// Parses "<number><suffix>" where suffix is one of `units`; an empty suffix must be listed to
/// be accepted, and then only for whole numbers.
inline std::optional<std::uint64_t> parse_with_units(std::string_view text,
                                                     std::span<const Unit> units) {
    const auto q = split_quantity(text);
    if (!q) {
        return std::nullopt;
    }
    for (const auto& u : units) {
        if (u.suffix == q->suffix) {
            if (u.suffix.empty() && q->scale != 1) {
                return std::nullopt;
            }
            return scaled(*q, u.factor);
        }
    }
    return std::nullopt;
}

inline constexpr Unit kDurationUnits[] = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
inline constexpr Unit kMillisecondUnits[] = {{"ms", 1}, {"s", 1000}};
inline constexpr Unit kRateUnits[] = {
    {"", 1}, {"k", 1000}, {"M", 1000 * 1000}, {"G", 1000 * 1000 * 1000}};
inline constexpr Unit kSizeUnits[] = {{"", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}};

/// The shortest exact spelling of a duration, for messages: 60s → "1m".
inline std::string format_duration(seconds d) {
    const auto n = d.count();
    if (n != 0 && n % 86400 == 0) {
        return std::to_string(n / 86400) + "d";
    }
    if (n != 0 && n % 3600 == 0) {
        return std::to_string(n / 3600) + "h";
    }
    if (n != 0 && n % 60 == 0) {
        return std::to_string(n / 60) + "m";
    }
    return std::to_string(n) + "s";
}

inline std::string resolve(const fs::path& base_dir, const std::string& listed) {
    const fs::path p(listed);
    if (p.is_absolute() || base_dir.empty()) {
        return p.lexically_normal().string();
    }
    return (base_dir / p).lexically_normal().string();
}

// ---------------------------------------------------------------------------------------------
// The node reader: typed access to YAML nodes that records a Problem (with file, position and
// key path) for anything wrong and carries on, so one run reports every mistake.

struct Diagnostics {
    std::vector<Problem> problems;
    std::vector<Problem> warnings;
};

/// A value in the document, or the absence of one, with its key path.
struct Field {
    YAML::Node node;
    std::string path;
    Origin origin;      ///< of the value, or of the key when the value is empty
    Origin key_origin;  ///< of the key (of the item, for list entries)
    bool present = false;

    [[nodiscard]] bool empty() const { return !present || node.IsNull(); }
};

template <class E>
struct Choice {
    std::string_view name;
    E value;
};

class Reader {
public:
    Reader(std::string file, Diagnostics& diagnostics)
        : file_(std::move(file)), diagnostics_(diagnostics) {}

    [[nodiscard]] const std::string& file() const { return file_; }
    /// Read-only commands load a configuration whose secret files may be absent (systemd's
    /// credentials exist only while the service runs): paths are resolved, not checked.
    void skip_file_checks() { check_files_ = false; }

    [[nodiscard]] Origin origin_of(const YAML::Node& node) const {
        const YAML::Mark mark = node.Mark();
        if (mark.is_null() || mark.line < 0) {
            return Origin{file_, 0, 0};
        }
        return Origin{file_, mark.line + 1, mark.column + 1};
    }

    [[nodiscard]] Field root(const YAML::Node& document) const {
        const Origin o = origin_of(document);
        return Field{document, "", o, o, true};
    }

    /// A key's value; `key_node` positions messages about the key or an empty value.
    [[nodiscard]] Field child(const YAML::Node& key_node, const YAML::Node& value,
                              std::string path) const {
        const Origin key_origin = origin_of(key_node);
        // yaml-cpp places an empty value at the next token, often on the next line.
        const Origin origin = value.IsNull() ? key_origin : origin_of(value);
        return Field{value, std::move(path), origin, key_origin, true};
    }

    void error(const Origin& at, const std::string& path, std::string message) {
        diagnostics_.problems.push_back(Problem{at, path, std::move(message)});
    }
    void error(const Field& f, std::string message) { error(f.origin, f.path, std::move(message)); }
    void warning(const Origin& at, const std::string& path, std::string message) {
        diagnostics_.warnings.push_back(Problem{at, path, std::move(message)});
    }

    /// The scalar text of a present field, or a "expected <what>" problem.
    std::optional<std::string> scalar(const Field& f, std::string_view what) {
        if (!f.present) {
            return std::nullopt;
        }
        if (!f.node.IsScalar()) {
            error(f, "expected " + std::string(what) + ", got " + describe(f.node));
            return std::nullopt;
        }
        return f.node.Scalar();
    }

    std::optional<std::string> text(const Field& f) { return scalar(f, "a string"); }

    std::optional<std::string> non_empty_text(const Field& f) {
        auto t = text(f);
        if (t && t->empty()) {
            error(f, "must not be empty");
            return std::nullopt;
        }
        return t;
    }

    /// A name that becomes part of a RADIUS group name.
    std::optional<std::string> safe_name(const Field& f) {
        auto t = text(f);
        if (t && !is_safe_name(*t)) {
            error(f, "must consist of a-z, 0-9, \"_\", \".\" and \"-\", got " + in_quotes(*t));
            return std::nullopt;
        }
        return t;
    }

    std::optional<std::int64_t> integer(const Field& f, std::int64_t min, std::int64_t max) {
        const auto t = scalar(f, "an integer");
        if (!t) {
            return std::nullopt;
        }
        std::string_view digits = *t;
        if (!digits.empty() && digits.front() == '+') {
            digits.remove_prefix(1);  // from_chars takes '-' but not '+'
        }
        std::int64_t value = 0;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (digits.empty() || ec == std::errc::invalid_argument ||
            ptr != digits.data() + digits.size()) {
            error(f, "expected an integer, got " + in_quotes(*t));
            return std::nullopt;
        }
        const bool too_small = ec != std::errc::result_out_of_range && value < min;
        if (ec == std::errc::result_out_of_range || value < min || value > max) {
            // "at least N" reads better unless the upper bound is the one that was hit.
            error(f, range_message(std::to_string(min),
                                   too_small && max == kIntMax ? "" : std::to_string(max), *t));
            return std::nullopt;
        }
        return value;
    }

    std::optional<int> small_integer(const Field& f, std::int64_t min, std::int64_t max = kIntMax) {
        const auto v = integer(f, min, max);
        return v ? std::optional<int>(static_cast<int>(*v)) : std::nullopt;
    }

    std::optional<bool> boolean(const Field& f) {
        const auto t = scalar(f, "true or false");
        if (!t) {
            return std::nullopt;
        }
        // YAML 1.2 core schema only: "yes"/"on" mean true in YAML 1.1, and a file that is read
        // differently by two tools is how a public plain-HTTP listener happens by accident.
        if (*t == "true" || *t == "True" || *t == "TRUE") {
            return true;
        }
        if (*t == "false" || *t == "False" || *t == "FALSE") {
            return false;
        }
        error(f, "expected true or false, got " + in_quotes(*t));
        return std::nullopt;
    }

    /// A short wait such as "500ms" or "2s", between `min` and `max`.
    std::optional<std::chrono::milliseconds> short_duration(const Field& f,
                                                            std::chrono::milliseconds min,
                                                            std::chrono::milliseconds max) {
        const auto t = scalar(f, "a duration");
        if (!t) {
            return std::nullopt;
        }
        const auto v = parse_with_units(*t, kMillisecondUnits);
        if (!v) {
            error(f, "expected a duration such as 500ms or 2s, got " + in_quotes(*t));
            return std::nullopt;
        }
        const std::chrono::milliseconds d(static_cast<std::chrono::milliseconds::rep>(*v));
        if (d < min || d > max) {
            error(f, range_message(std::to_string(min.count()) + "ms",
                                   std::to_string(max.count()) + "ms", *t));
            return std::nullopt;
        }
        return d;
    }

    /// A duration of at least `min` and, when given, at most `max`.
    std::optional<seconds> duration(const Field& f, seconds min,
                                    std::optional<seconds> max = std::nullopt) {
        const auto t = scalar(f, "a duration");
        if (!t) {
            return std::nullopt;
        }
        const auto v = parse_with_units(*t, kDurationUnits);
        if (!v) {
            error(f, "expected a duration such as 300s, 15m, 8h or 30d, got " + in_quotes(*t));
            return std::nullopt;
        }
        const seconds d(static_cast<seconds::rep>(*v));
        if (d < min || (max && d > *max)) {
            error(f, range_message(format_duration(min), max ? format_duration(*max) : "", *t));
            return std::nullopt;
        }
        return d;
    }

    /// A local time of day "HH:MM" (24-hour clock), as minutes after midnight.
    std::optional<std::chrono::minutes> time_of_day(const Field& f) {
        const auto t = scalar(f, "a time of day");
        if (!t) {
            return std::nullopt;
        }
        const auto digit = [&](std::size_t i) { return (*t)[i] >= '0' && (*t)[i] <= '9'; };
        if (t->size() == 5 && digit(0) && digit(1) && (*t)[2] == ':' && digit(3) && digit(4)) {
            const int h = ((*t)[0] - '0') * 10 + ((*t)[1] - '0');
            const int m = ((*t)[3] - '0') * 10 + ((*t)[4] - '0');
            if (h < 24 && m < 60) {
                return std::chrono::minutes{h * 60 + m};
            }
        }
        error(f,
              "expected a local time of day such as \"00:00\" or \"03:30\", got " + in_quotes(*t));
        return std::nullopt;
    }

    /// Bandwidth in bit/s; decimal suffixes as network equipment counts them.
    std::optional<std::uint64_t> rate(const Field& f) {
        const auto t = scalar(f, "a rate");
        if (!t) {
            return std::nullopt;
        }
        const auto v = parse_with_units(*t, kRateUnits);
        if (!v) {
            error(f, "expected a rate in bit/s such as 50M, 512k or 1G, got " + in_quotes(*t));
            return std::nullopt;
        }
        if (*v == 0) {
            error(f, "must be greater than 0 (leave it out for no limit), got " + *t);
            return std::nullopt;
        }
        return v;
    }

    std::optional<std::uint64_t> byte_size(const Field& f, std::uint64_t min, std::uint64_t max,
                                           std::string_view range_text) {
        const auto t = scalar(f, "a size");
        if (!t) {
            return std::nullopt;
        }
        const auto v = parse_with_units(*t, kSizeUnits);
        if (!v) {
            error(f,
                  "expected a size in bytes such as 262144, 256KiB or 1MiB, got " + in_quotes(*t));
            return std::nullopt;
        }
        if (*v < min || *v > max) {
            error(f, "must be between " + std::string(range_text) + ", got " + *t);
            return std::nullopt;
        }
        return v;
    }

    /// "10%" or a fraction 0..1.
    std::optional<double> share(const Field& f) {
        const auto t = scalar(f, "a share");
        if (!t) {
            return std::nullopt;
        }
        const auto q = split_quantity(*t);
        if (!q || (!q->suffix.empty() && q->suffix != "%")) {
            error(f, "expected a share such as 10% or 0.1, got " + in_quotes(*t));
            return std::nullopt;
        }
        double value = static_cast<double>(q->digits) / static_cast<double>(q->scale);
        if (q->suffix == "%") {
            value /= 100.0;
        }
        if (value > 1.0) {
            error(f, "must be between 0 and 1 (or 0% and 100%), got " + *t);
            return std::nullopt;
        }
        return value;
    }

    std::optional<std::string> ipv4(const Field& f) {
        auto t = scalar(f, "an IPv4 address");
        if (t && !is_ipv4(*t)) {
            error(f, "expected an IPv4 address such as 10.0.0.5, got " + in_quotes(*t));
            return std::nullopt;
        }
        return t;
    }

    std::optional<Endpoint> endpoint(const Field& f) {
        const auto t = scalar(f, "HOST:PORT");
        if (!t) {
            return std::nullopt;
        }
        auto e = parse_endpoint(*t);
        if (!e) {
            error(f, "expected HOST:PORT (IPv6 as [ADDRESS]:PORT) with a port 1..65535, got " +
                         in_quotes(*t));
        }
        return e;
    }

    std::optional<std::string> url(const Field& f) {
        auto t = text(f);
        if (t && t->rfind("https://", 0) != 0 && t->rfind("http://", 0) != 0) {
            error(f, "must start with https:// or http://, got " + in_quotes(*t));
            return std::nullopt;
        }
        return t;
    }

    std::optional<std::string> time_zone(const Field& f) {
        auto t = text(f);
        if (t && !core::TimeZone::locate(*t)) {
            error(f, "unknown time zone " + in_quotes(*t) + " (expected an IANA name such as " +
                         "Europe/London)");
            return std::nullopt;
        }
        return t;
    }

    /// A file that must exist and be readable (secrets, TLS material), resolved against the
    /// main file's directory. Its content is not read.
    std::optional<std::string> readable_file(const Field& f, const fs::path& base_dir) {
        const auto t = non_empty_text(f);
        if (!t) {
            return std::nullopt;
        }
        std::string path = resolve(base_dir, *t);
        if (!check_files_) {
            return path;
        }
        if (auto ok = detail::check_readable_file(path); !ok) {
            error(f, "cannot read " + in_quotes(path) + ": " + ok.error().message);
            return std::nullopt;
        }
        return path;
    }

    /// A readable file that holds a secret (a client secret, a webhook secret, a TLS key):
    /// warned about when its group or others may read it. Group radsync includes FreeRADIUS's
    /// user, so a 0640 secret there is readable by every FreeRADIUS module.
    std::optional<std::string> secret_file(const Field& f, const fs::path& base_dir) {
        auto path = readable_file(f, base_dir);
        if (!path || !check_files_) {
            return path;
        }
        struct stat st {};
        if (::stat(path->c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
            warning(f.origin, f.path,
                    in_quotes(*path) + " holds a secret but has mode " + mode +
                        ": make it 0600, owned by the user radsync runs as (group radsync "
                        "includes FreeRADIUS's user)");
        }
        return path;
    }

    template <class E>
    std::optional<E> choice(const Field& f, std::span<const Choice<E>> options) {
        std::vector<std::string_view> names;
        for (const auto& o : options) {
            names.push_back(o.name);
        }
        const auto t = scalar(f, "one of " + join(names));
        if (!t) {
            return std::nullopt;
        }
        for (const auto& o : options) {
            if (o.name == *t) {
                return o.value;
            }
        }
        error(f, "expected one of " + join(names) + ", got " + in_quotes(*t) +
                     did_you_mean(*t, names));
        return std::nullopt;
    }

    /// The entries of a list; an empty value is an empty list. nullopt if the key is absent or
    /// the value is not a list (reported).
    std::optional<std::vector<Field>> list(const Field& f) {
        if (!f.present) {
            return std::nullopt;
        }
        std::vector<Field> out;
        if (f.empty()) {
            return out;
        }
        if (!f.node.IsSequence()) {
            error(f, "expected a list, got " + describe(f.node));
            return std::nullopt;
        }
        if (f.node.size() > kMaxListItems) {
            error(f, "more than " + std::to_string(kMaxListItems) + " entries");
            return std::nullopt;
        }
        std::size_t index = 0;
        for (const auto& item : f.node) {
            const YAML::Node node = item;
            const Origin at = node.IsNull() ? f.origin : origin_of(node);
            out.push_back(Field{node, index_path(f.path, index++), at, at, true});
        }
        return out;
    }

    /// Like list(), treating an absent key as an empty list.
    std::vector<Field> items(const Field& f) { return list(f).value_or(std::vector<Field>{}); }

private:
    static std::string range_message(const std::string& min, const std::string& max,
                                     const std::string& got) {
        if (max.empty()) {
            return "must be at least " + min + ", got " + got;
        }
        return "must be between " + min + " and " + max + ", got " + got;
    }

    std::string file_;
    bool check_files_ = true;
    Diagnostics& diagnostics_;
};

/// A YAML mapping with a fixed set of allowed keys. Unknown and repeated keys are reported
/// when it is built; lookups then never fail.
class Section {
public:
    Section(Reader& reader, Field self, std::vector<std::string_view> keys)
        : reader_(reader), self_(std::move(self)), keys_(std::move(keys)) {
        if (self_.empty()) {
            return;  // absent or written as `key:` with nothing: all defaults
        }
        if (!self_.node.IsMap()) {
            reader_.error(self_, "expected a mapping, got " + describe(self_.node));
            valid_ = false;
            return;
        }
        for (const auto& kv : self_.node) {
            const YAML::Node key = kv.first;
            if (!key.IsScalar()) {
                reader_.error(reader_.origin_of(key), self_.path, "keys must be plain strings");
                continue;
            }
            const std::string name = key.Scalar();
            Field value = reader_.child(key, kv.second, child_path(self_.path, name));
            if (std::find(keys_.begin(), keys_.end(), name) == keys_.end()) {
                std::string hint = did_you_mean(name, keys_);
                if (hint.empty()) {
                    hint = " (expected one of " + join(keys_) + ")";
                }
                reader_.error(value.key_origin, value.path, "unknown key" + hint);
                continue;
            }
            if (const auto* first = find(name)) {
                // yaml-cpp keeps both; silently taking one would hide a copy-paste mistake.
                reader_.error(
                    value.key_origin, value.path,
                    "duplicate key (first at line " + std::to_string(first->key_origin.line) + ")");
                continue;
            }
            entries_.emplace_back(name, std::move(value));
        }
    }

    /// False if the node was not a mapping (already reported); callers then skip checks that
    /// would only repeat the problem.
    [[nodiscard]] bool valid() const { return valid_; }
    [[nodiscard]] const Field& self() const { return self_; }

    [[nodiscard]] Field operator[](std::string_view key) const {
        if (const auto* f = find(key)) {
            return *f;
        }
        return Field{YAML::Node(), child_path(self_.path, key), self_.origin, self_.origin, false};
    }

    [[nodiscard]] bool has(std::string_view key) const { return find(key) != nullptr; }

    /// Like operator[], reporting the key as missing if absent.
    [[nodiscard]] Field required(std::string_view key) const {
        Field f = (*this)[key];
        if (!f.present && valid_) {
            reader_.error(f, "required key is missing");
        }
        return f;
    }

private:
    [[nodiscard]] const Field* find(std::string_view key) const {
        for (const auto& [name, field] : entries_) {
            if (name == key) {
                return &field;
            }
        }
        return nullptr;
    }

    Reader& reader_;
    Field self_;
    std::vector<std::string_view> keys_;
    std::vector<std::pair<std::string, Field>> entries_;
    bool valid_ = true;
};

template <class T>
void set_if(std::optional<T>&& value, T& out) {
    if (value) {
        out = std::move(*value);
    }
}

}  // namespace radsync::config::detail
