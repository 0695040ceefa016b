#include "radsync/config/loader.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text_file.hpp"

namespace radsync::config {

namespace {

namespace fs = std::filesystem;

// Debian's tree is 237 files of at most ~200 KiB, nested two levels; these limits are far
// above that and only stop a mistaken path (a device, a huge log) or a runaway include chain.
constexpr std::size_t kMaxDictionaryFileBytes = 8 * 1024 * 1024;
constexpr std::size_t kMaxIncludeDepth = 16;
constexpr std::size_t kMaxFiles = 2000;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) {
            ++i;
        }
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
            ++i;
        }
        if (i > start) {
            words.push_back(line.substr(start, i - start));
        }
    }
    return words;
}

/// Reads FreeRADIUS dictionary files the way its dict_init() does, as far as names go.
class DictionaryReader {
public:
    Status read(const fs::path& file, std::size_t depth) {
        if (depth > kMaxIncludeDepth) {
            return Error(Errc::kIoFailed, file.string() + ": $INCLUDE nested more than " +
                                              std::to_string(kMaxIncludeDepth) + " levels deep");
        }
        // A file already read (an include cycle, or the same file included twice) adds nothing
        // new: skipping it is what keeps a cycle from recursing.
        std::error_code ec;
        const fs::path key = fs::weakly_canonical(file, ec);
        if (!visited_.insert(ec ? file.lexically_normal().string() : key.string()).second) {
            return {};
        }
        if (visited_.size() > kMaxFiles) {
            return Error(Errc::kIoFailed,
                         "more than " + std::to_string(kMaxFiles) + " dictionary files included");
        }
        auto text = detail::read_text_file(file.string(), kMaxDictionaryFileBytes);
        if (!text) {
            return Error(Errc::kIoFailed,
                         "cannot read dictionary " + file.string() + ": " + text.error().message);
        }

        std::istringstream lines(*text);
        std::string line;
        std::size_t line_number = 0;
        while (std::getline(lines, line)) {
            ++line_number;
            std::string_view content = line;
            if (const auto hash = content.find('#'); hash != std::string_view::npos) {
                content = content.substr(0, hash);
            }
            const auto words = split_words(content);
            if (words.empty()) {
                continue;
            }
            const std::string_view keyword = words[0];
            if (keyword == "ATTRIBUTE" && words.size() >= 2) {
                names_.push_back(lower(words[1]));
            } else if ((keyword == "$INCLUDE" || keyword == "$INCLUDE-") && words.size() >= 2) {
                // "$INCLUDE-" (FreeRADIUS 4) tolerates a missing file; plain $INCLUDE does not.
                const fs::path included = fs::path(words[1]).is_absolute()
                                              ? fs::path(words[1])
                                              : file.parent_path() / fs::path(words[1]);
                if (keyword == "$INCLUDE-" && !fs::exists(included, ec)) {
                    continue;
                }
                if (auto st = read(included, depth + 1); !st) {
                    return Error(Errc::kIoFailed, file.string() + ":" +
                                                      std::to_string(line_number) + ": " +
                                                      st.error().message);
                }
            }
            // VALUE, VENDOR, BEGIN-VENDOR, END-VENDOR, BEGIN-TLV, END-TLV, PROTOCOL ... define
            // no attribute names.
        }
        return {};
    }

    std::vector<std::string> take_names() { return std::move(names_); }

private:
    std::set<std::string> visited_;
    std::vector<std::string> names_;
};

/// Counts earlier groups from the same file, so paths match the file the operator edits.
std::size_t index_in_file(const std::vector<AccessGroup>& groups, std::size_t i) {
    return static_cast<std::size_t>(std::count_if(
        groups.begin(), groups.begin() + static_cast<std::ptrdiff_t>(i),
        [&](const AccessGroup& g) { return g.origin.file == groups[i].origin.file; }));
}

std::size_t index_in_file(const std::vector<LocationRule>& locations, std::size_t i) {
    return static_cast<std::size_t>(std::count_if(
        locations.begin(), locations.begin() + static_cast<std::ptrdiff_t>(i),
        [&](const LocationRule& l) { return l.origin.file == locations[i].origin.file; }));
}

struct WrittenAttribute {
    std::string name;
    Origin origin;
    std::string path;
};

/// attributes_written() with key paths, for check_attributes' messages. Fixed attributes come
/// once each, from the first setting that causes them; `reply` attributes come every time.
std::vector<WrittenAttribute> written_with_paths(const Config& c) {
    std::vector<WrittenAttribute> out;
    auto add_once = [&](const std::string& name, const Origin& origin, const std::string& path) {
        const bool seen = std::any_of(out.begin(), out.end(),
                                      [&](const WrittenAttribute& w) { return w.name == name; });
        if (!seen) {
            out.push_back({name, origin, path});
        }
    };
    // Main-file settings carry no position in Config, so these point at the file only.
    const Origin main{c.source_file, 0, 0};
    add_once(c.accounts.password_storage == PasswordStorage::kNtHash ? "NT-Password"
                                                                     : "Cleartext-Password",
             main, "accounts.password.storage");
    // Written whatever the mapping says: expiry of time-limited accounts, rejection of revoked
    // ones and of members at a location they may not use, and the group walk.
    for (const char* fixed : {"Expiration", "Auth-Type", "Reply-Message", "Fall-Through"}) {
        add_once(fixed, main, "radius.dictionary");
    }

    const auto& bw = c.radius.bandwidth_attributes;
    const bool wispr = std::find(bw.begin(), bw.end(), BandwidthAttributes::kWispr) != bw.end();
    const bool mikrotik =
        std::find(bw.begin(), bw.end(), BandwidthAttributes::kMikrotik) != bw.end();
    const auto& groups = c.mapping.groups;
    for (std::size_t i = 0; i < groups.size(); ++i) {
        const AccessGroup& g = groups[i];
        if (!g.access) {
            continue;  // no rows at all
        }
        const std::string path = "groups[" + std::to_string(index_in_file(groups, i)) + "]";
        if (g.bandwidth_down_bps && wispr) {
            add_once("WISPr-Bandwidth-Max-Down", g.origin, path + ".bandwidth.down");
        }
        if (g.bandwidth_up_bps && wispr) {
            add_once("WISPr-Bandwidth-Max-Up", g.origin, path + ".bandwidth.up");
        }
        if ((g.bandwidth_down_bps || g.bandwidth_up_bps) && mikrotik) {
            add_once("Mikrotik-Rate-Limit", g.origin, path + ".bandwidth");
        }
        if (g.session_timeout) {
            add_once("Session-Timeout", g.origin, path + ".session_timeout");
        }
        if (g.simultaneous_use) {
            add_once("Simultaneous-Use", g.origin, path + ".simultaneous_use");
        }
        if (!replies_set_interim_interval(g)) {
            add_once("Acct-Interim-Interval", g.origin, path + ".accounting_interval");
        }
        if (g.ip_pool) {
            add_once("Framed-IP-Address", g.origin, path + ".ip_pool");
        }
        for (std::size_t j = 0; j < g.reply.size(); ++j) {
            out.push_back({g.reply[j].attribute, g.reply[j].origin,
                           path + ".reply[" + std::to_string(j) + "].attribute"});
        }
    }

    const auto& locations = c.mapping.locations;
    for (std::size_t i = 0; i < locations.size(); ++i) {
        const LocationRule& l = locations[i];
        const std::string path = "locations[" + std::to_string(index_in_file(locations, i)) + "]";
        if (l.vlan) {
            for (const char* tunnel :
                 {"Tunnel-Type", "Tunnel-Medium-Type", "Tunnel-Private-Group-Id"}) {
                add_once(tunnel, l.origin, path + ".vlan");
            }
        }
        if (!l.nas_identifiers.empty()) {
            add_once("NAS-Identifier", l.origin, path + ".nas_identifiers");
        }
        if (!l.ssids.empty()) {
            add_once("Called-Station-Id", l.origin, path + ".ssids");
        }
        if (!l.nas_ip_addresses.empty()) {
            add_once("NAS-IP-Address", l.origin, path + ".nas_ip_addresses");
        }
    }
    return out;
}

}  // namespace

Result<Dictionary> Dictionary::load(const std::string& path) {
    DictionaryReader reader;
    if (auto st = reader.read(fs::path(path), 0); !st) {
        return st.error();
    }
    return from_names(reader.take_names());
}

Dictionary Dictionary::from_names(const std::vector<std::string>& names) {
    Dictionary d;
    d.names_.reserve(names.size());
    for (const auto& n : names) {
        d.names_.push_back(lower(n));
    }
    std::sort(d.names_.begin(), d.names_.end());
    d.names_.erase(std::unique(d.names_.begin(), d.names_.end()), d.names_.end());
    return d;
}

bool Dictionary::has(const std::string& attribute) const {
    return std::binary_search(names_.begin(), names_.end(), lower(attribute));
}

std::vector<std::pair<std::string, Origin>> attributes_written(const Config& config) {
    std::vector<std::pair<std::string, Origin>> out;
    for (auto& w : written_with_paths(config)) {
        out.emplace_back(std::move(w.name), std::move(w.origin));
    }
    return out;
}

std::vector<Problem> check_attributes(const Config& config, const Dictionary& dict) {
    std::vector<Problem> problems;
    for (const auto& w : written_with_paths(config)) {
        if (!dict.has(w.name)) {
            problems.push_back(Problem{w.origin, w.path,
                                       "\"" + w.name + "\" is not in the FreeRADIUS dictionary (" +
                                           config.radius.dictionary + ")"});
        }
    }
    return problems;
}

}  // namespace radsync::config
