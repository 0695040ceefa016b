#include "radsync/config/loader.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "node_reader.hpp"
#include "notify_reader.hpp"
#include "radsync/core/ipv4.hpp"
#include "radsync/log/log.hpp"
#include "text_file.hpp"

namespace radsync::config {

namespace {

// The node reader (Field, Section, Reader, value parsers); what follows is the schema.
using namespace detail;  // NOLINT(google-build-using-namespace): private to this file

// Configuration files are small and written by people; anything larger is a mistake (or a
// hostile path such as /dev/zero) and is refused before yaml-cpp sees it.
constexpr std::size_t kMaxConfigBytes = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Schema-specific checks

bool is_slug(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-';
    });
}

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || (host.rfind("127.", 0) == 0 && is_ipv4(host));
}

std::string format_origin(const Origin& o) {
    return o.file + ":" + std::to_string(o.line) + ":" + std::to_string(o.column);
}

/// Checks a username template; returns what is wrong with it, if anything.
std::optional<std::string> template_problem(std::string_view t) {
    if (t.empty()) {
        return "must not be empty";
    }
    bool has_placeholder = false;
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] != '{') {
            continue;
        }
        const auto close = t.find('}', i);
        if (close == std::string_view::npos) {
            return "unterminated placeholder " + in_quotes(t.substr(i));
        }
        const std::string_view key = t.substr(i + 1, close - i - 1);
        const bool property = key.rfind("properties.", 0) == 0 && key.size() > 11 &&
                              key.find('{') == std::string_view::npos;
        if (key != "email" && key != "_id" && key != "name" && !property) {
            return "unknown placeholder {" + std::string(key) +
                   "}; use {email}, {_id}, {name} or {properties.KEY}";
        }
        has_placeholder = true;
        i = close;
    }
    if (!has_placeholder) {
        return "has no placeholder, so every member would get the same username";
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Enumerations as spelled in YAML

constexpr Choice<Roaming> kRoamingChoices[] = {
    {"home", Roaming::kHome}, {"membership", Roaming::kMembership}, {"all", Roaming::kAll}};
constexpr Choice<PassOpenEnd> kPassOpenEnds[] = {{"midnight", PassOpenEnd::kMidnight},
                                                 {"24h", PassOpenEnd::k24Hours}};
constexpr Choice<CompanyPasses> kCompanyPasses[] = {{"assigned", CompanyPasses::kAssigned},
                                                    {"all_members", CompanyPasses::kAllMembers}};
constexpr Choice<std::string_view> kLogLevels[] = {
    {"trace", "trace"}, {"debug", "debug"}, {"info", "info"}, {"warn", "warn"}, {"error", "error"}};
constexpr Choice<UsernameFormat> kUsernameFormats[] = {{"email", UsernameFormat::kEmail},
                                                       {"member_id", UsernameFormat::kMemberId},
                                                       {"template", UsernameFormat::kTemplate}};
constexpr Choice<UsernameCase> kUsernameCases[] = {{"lower", UsernameCase::kLower},
                                                   {"preserve", UsernameCase::kPreserve}};
constexpr Choice<PasswordSource> kPasswordSources[] = {{"generate", PasswordSource::kGenerate},
                                                       {"property", PasswordSource::kProperty}};
constexpr Choice<PasswordStorage> kPasswordStorages[] = {
    {"nt_hash", PasswordStorage::kNtHash}, {"cleartext", PasswordStorage::kCleartext}};
constexpr Choice<BandwidthAttributes> kBandwidthAttributes[] = {
    {"wispr", BandwidthAttributes::kWispr}, {"mikrotik", BandwidthAttributes::kMikrotik}};
// Acct-Interim-Interval at most a day: the stale cutoff multiplies it.
constexpr std::chrono::seconds kMaxInterimInterval{86400};
constexpr Choice<SessionKey> kSessionKeys[] = {
    {"User-Name", SessionKey::kUserName},
    {"Acct-Session-Id", SessionKey::kAcctSessionId},
    {"Calling-Station-Id", SessionKey::kCallingStationId},
    {"Framed-IP-Address", SessionKey::kFramedIpAddress},
    {"NAS-IP-Address", SessionKey::kNasIpAddress}};
constexpr Choice<std::string_view> kReplyOperators[] = {{":=", ":="}, {"=", "="}, {"+=", "+="}};

// OfficeRnD v2 member statuses (officernd-api.md §5). Other values are allowed with a warning:
// the list is documented, not guaranteed.
constexpr std::string_view kKnownMemberStatuses[] = {
    "active", "former", "pending", "contact", "not_approved", "drop-in", "lead"};

// ---------------------------------------------------------------------------------------------
// Main file

/// A mapping file as listed in the main file.
struct MappingRef {
    std::string listed;
    std::string resolved;
    Field field;
};

class MainReader {
public:
    MainReader(Reader& reader, fs::path base_dir, std::string_view main_text)
        : r_(reader), base_dir_(std::move(base_dir)), main_text_(main_text) {}

    std::vector<MappingRef> read(const YAML::Node& document, Config& c) {
        const Section top(
            r_, r_.root(document),
            {"radius_database", "state_database", "accounting_database", "database",
             "default_timezone", "log_level", "log_modules", "officernd", "webhook", "metrics",
             "control", "sync", "accounts", "radius", "sessions", "mapping_files", "notify"});
        // Relative to the main file, like every other path in it (the demo config relies on it).
        if (auto db = r_.non_empty_text(top["radius_database"])) {
            c.radius_database = resolve(base_dir_, *db);
        }
        if (const Field old = top["database"]; old.present) {
            // The name of releases that kept everything in one file.
            if (top["radius_database"].present) {
                r_.error(old.key_origin, old.path,
                         "set radius_database only (database is its older name)");
            } else if (auto db = r_.non_empty_text(old)) {
                c.radius_database = resolve(base_dir_, *db);
                r_.warning(old.key_origin, old.path,
                           "renamed to radius_database (radsync's own state now lives in "
                           "state_database)");
            }
        }
        // Next to the RADIUS database unless set: /var/lib/radsync/state.db by default.
        c.state_database = (fs::path(c.radius_database).parent_path() / "state.db").string();
        if (auto db = r_.non_empty_text(top["state_database"])) {
            c.state_database = resolve(base_dir_, *db);
        }
        if (c.state_database == c.radius_database) {
            r_.error(top["state_database"],
                     "must not be the RADIUS database: FreeRADIUS's group "
                     "can read that file");
        }
        // FreeRADIUS writes it; next to the RADIUS database unless set.
        c.accounting_database =
            (fs::path(c.radius_database).parent_path() / "accounting.db").string();
        if (auto db = r_.non_empty_text(top["accounting_database"])) {
            c.accounting_database = resolve(base_dir_, *db);
        }
        if (c.accounting_database == c.radius_database ||
            c.accounting_database == c.state_database) {
            r_.error(top["accounting_database"],
                     "must be a file of its own: accounting writes in the file FreeRADIUS "
                     "authenticates from make it reject members (freeradius.md §7)");
        }
        set_if(r_.time_zone(top["default_timezone"]), c.default_timezone);
        if (auto level = r_.choice<std::string_view>(top["log_level"], kLogLevels)) {
            c.log_level = std::string(*level);
        }
        if (const Field f = top["log_modules"]; f.present) {
            const Section modules(r_, f, {std::begin(log::kModules), std::end(log::kModules)});
            for (const char* name : log::kModules) {
                if (auto level = r_.choice<std::string_view>(modules[name], kLogLevels)) {
                    c.log_modules[name] = std::string(*level);
                }
            }
        }
        if (const Field f = top["officernd"]; f.present) {
            read_officernd(f, c.officernd);
        }
        if (const Field f = top["webhook"]; f.present) {
            c.webhook = read_webhook(f);
        }
        read_metrics(top["metrics"], c.metrics);
        read_control(top["control"], c.control);
        read_sync(top["sync"], c.sync);
        read_accounts(top["accounts"], c.accounts);
        read_radius(top["radius"], c.radius);
        read_sessions(top["sessions"], c.sessions);
        if (const Field f = top["notify"]; f.present) {
            c.notify = read_notify(r_, f, base_dir_, main_text_);
        }

        std::vector<MappingRef> refs;
        const Field files = top.required("mapping_files");
        if (const auto entries = r_.list(files)) {
            if (entries->empty()) {
                r_.error(files, "must list at least one mapping file");
            }
            for (const auto& entry : *entries) {
                if (auto name = r_.non_empty_text(entry)) {
                    refs.push_back(MappingRef{*name, resolve(base_dir_, *name), entry});
                }
            }
        }
        return refs;
    }

private:
    void read_officernd(const Field& f, OfficeRnd& o) {
        const Section s(r_, f,
                        {"org_slug", "client_id", "client_secret_file", "base_url", "token_url",
                         "ca_file", "request_timeout"});
        if (!s.valid()) {
            return;
        }
        const Field slug = s.required("org_slug");
        if (auto t = r_.text(slug)) {
            if (is_slug(*t)) {
                o.org_slug = *t;
            } else {
                r_.error(slug, "must consist of a-z, 0-9 and \"-\", got " + in_quotes(*t));
            }
        }
        set_if(r_.non_empty_text(s.required("client_id")), o.client_id);
        set_if(r_.secret_file(s.required("client_secret_file"), base_dir_), o.client_secret_file);
        set_if(r_.url(s["base_url"]), o.base_url);
        set_if(r_.url(s["token_url"]), o.token_url);
        set_if(r_.readable_file(s["ca_file"], base_dir_), o.ca_file);
        set_if(r_.duration(s["request_timeout"], seconds(1)), o.request_timeout);
    }

    std::optional<Webhook> read_webhook(const Field& f) {
        const Section s(r_, f,
                        {"listen", "tls", "plain_http", "allow_plain_http_on_public_address",
                         "secret_files", "tolerance", "max_body_bytes", "limits"});
        if (!s.valid()) {
            return std::nullopt;
        }
        Webhook w;
        const Field listen = s["listen"];
        if (auto e = r_.endpoint(listen)) {
            w.listen_address = e->host;
            w.listen_port = e->port;
        }
        set_if(r_.boolean(s["plain_http"]), w.plain_http);
        set_if(r_.boolean(s["allow_plain_http_on_public_address"]),
               w.allow_plain_http_on_public_address);

        const Field tls = s["tls"];
        if (w.plain_http) {
            if (tls.present) {
                r_.error(tls.key_origin, tls.path, "must be absent when plain_http is true");
            }
            // Signatures protect integrity, not confidentiality: member data in webhook bodies
            // must not cross a network in clear unless the operator says so explicitly.
            if (!is_loopback(w.listen_address) && !w.allow_plain_http_on_public_address) {
                r_.error(listen,
                         "plain HTTP is only allowed on a loopback address (127.x, ::1, "
                         "localhost) unless allow_plain_http_on_public_address is true, "
                         "got " +
                             in_quotes(listen.node.Scalar()));
            }
        } else if (!tls.present) {
            r_.error(tls, "required unless plain_http is true");
        } else {
            const Section t(r_, tls, {"cert_file", "key_file"});
            set_if(r_.readable_file(t.required("cert_file"), base_dir_), w.tls_cert_file);
            set_if(r_.secret_file(t.required("key_file"), base_dir_), w.tls_key_file);
        }

        const Field secrets = s.required("secret_files");
        if (const auto entries = r_.list(secrets)) {
            if (entries->empty() || entries->size() > 3) {
                r_.error(secrets,
                         "expected 1 to 3 files (more than one only while rotating), got " +
                             std::to_string(entries->size()));
            }
            for (const auto& entry : *entries) {
                if (auto path = r_.secret_file(entry, base_dir_)) {
                    w.secret_files.push_back(std::move(*path));
                }
            }
        }

        const Section tolerance(r_, s["tolerance"], {"past", "future"});
        set_if(r_.duration(tolerance["past"], seconds(0)), w.tolerance_past);
        set_if(r_.duration(tolerance["future"], seconds(0)), w.tolerance_future);
        set_if(r_.byte_size(s["max_body_bytes"], 1024, 16 * 1024 * 1024, "1KiB and 16MiB"),
               w.max_body_bytes);

        const Section limits(r_, s["limits"],
                             {"handshake_timeout", "read_timeout", "write_timeout", "idle_timeout",
                              "max_connections"});
        set_if(r_.duration(limits["handshake_timeout"], seconds(1)), w.handshake_timeout);
        set_if(r_.duration(limits["read_timeout"], seconds(1)), w.read_timeout);
        set_if(r_.duration(limits["write_timeout"], seconds(1)), w.write_timeout);
        set_if(r_.duration(limits["idle_timeout"], seconds(1)), w.idle_timeout);
        if (const auto n = r_.integer(limits["max_connections"], 1, 100'000)) {
            w.max_connections = static_cast<std::size_t>(*n);
        }
        return w;
    }

    void read_metrics(const Field& f, Metrics& m) {
        const Section s(r_, f, {"listen"});
        if (auto e = r_.endpoint(s["listen"])) {
            m.listen_address = e->host;
            m.listen_port = e->port;
        }
    }

    void read_control(const Field& f, Control& c) {
        const Section s(r_, f, {"socket", "mode", "group"});
        if (auto path = r_.non_empty_text(s["socket"])) {
            c.socket = resolve(base_dir_, *path);
            if (c.socket.size() >= kMaxSocketPath) {
                r_.error(s["socket"], "longer than a Unix socket path may be (" +
                                          std::to_string(kMaxSocketPath - 1) + " bytes)");
            }
        }
        if (auto mode = r_.scalar(s["mode"], "an octal file mode such as \"0660\"")) {
            const bool octal = !mode->empty() && mode->size() <= 4 &&
                               mode->find_first_not_of("01234567") == std::string::npos;
            const unsigned value = octal ? static_cast<unsigned>(std::stoul(*mode, nullptr, 8)) : 0;
            if (!octal || (value & 0007) != 0) {
                r_.error(s["mode"],
                         "expected an octal mode that gives others nothing, such as "
                         "\"0600\" or \"0660\", got " +
                             in_quotes(*mode));
            } else {
                c.mode = value;
            }
        }
        set_if(r_.non_empty_text(s["group"]), c.group);
    }

    void read_sync(const Field& f, Sync& out) {
        const Section s(r_, f, {"interval", "deletion_guard", "revoked_retention"});
        set_if(r_.duration(s["interval"], seconds(60)), out.interval);
        const Section guard(r_, s["deletion_guard"],
                            {"max_share", "min_count", "confirm_vanished"});
        set_if(r_.share(guard["max_share"]), out.deletion_guard_share);
        set_if(r_.small_integer(guard["min_count"], 0), out.deletion_guard_min_count);
        set_if(r_.small_integer(guard["confirm_vanished"], 0, 1000), out.confirm_vanished);
        set_if(r_.duration(s["revoked_retention"], seconds(0)), out.revoked_retention);
    }

    void read_accounts(const Field& f, Accounts& a) {
        const Section s(r_, f, {"username", "password"});

        const Section user(r_, s["username"], {"format", "template", "case"});
        const Field format = user["format"];
        set_if(r_.choice<UsernameFormat>(format, kUsernameFormats), a.username_format);
        const Field templ = user["template"];
        if (a.username_format == UsernameFormat::kTemplate) {
            if (!templ.present && user.valid()) {
                r_.error(templ, "required with format: template");
            } else if (auto t = r_.text(templ)) {
                if (auto problem = template_problem(*t)) {
                    r_.error(templ, *problem);
                } else {
                    a.username_template = *t;
                }
            }
        } else if (templ.present) {
            r_.error(templ.key_origin, templ.path, "only used with format: template");
        }
        set_if(r_.choice<UsernameCase>(user["case"], kUsernameCases), a.username_case);

        const Section pass(r_, s["password"], {"source", "length", "property", "storage"});
        set_if(r_.choice<PasswordSource>(pass["source"], kPasswordSources), a.password_source);
        const Field length = pass["length"];
        const Field property = pass["property"];
        if (a.password_source == PasswordSource::kGenerate) {
            set_if(r_.small_integer(length, 8, 64), a.password_length);
            if (property.present) {
                r_.error(property.key_origin, property.path, "only used with source: property");
            }
        } else {
            if (length.present) {
                r_.error(length.key_origin, length.path, "only used with source: generate");
            }
            if (!property.present && pass.valid()) {
                r_.error(property, "required with source: property");
            }
            set_if(r_.non_empty_text(property), a.password_property);
        }
        set_if(r_.choice<PasswordStorage>(pass["storage"], kPasswordStorages), a.password_storage);
    }

    void read_radius(const Field& f, Radius& out) {
        const Section s(r_, f, {"dictionary", "bandwidth_attributes"});
        set_if(r_.non_empty_text(s["dictionary"]), out.dictionary);
        const Field families = s["bandwidth_attributes"];
        const auto entries = r_.list(families);
        if (!entries) {
            return;
        }
        if (entries->empty()) {
            r_.error(families, "must name at least one of wispr, mikrotik");
            return;
        }
        std::vector<BandwidthAttributes> chosen;
        for (const auto& entry : *entries) {
            if (auto v = r_.choice<BandwidthAttributes>(entry, kBandwidthAttributes)) {
                if (std::find(chosen.begin(), chosen.end(), *v) != chosen.end()) {
                    r_.error(entry, "listed twice");
                } else {
                    chosen.push_back(*v);
                }
            }
        }
        out.bandwidth_attributes = std::move(chosen);
    }

    void read_sessions(const Field& f, Sessions& out) {
        const Section s(
            r_, f,
            {"interim_interval", "stale_after_intervals", "sweep_interval", "dynamic_authorization",
             "request_timeout", "attempts", "nas", "checkins"});
        // Upper bounds keep every product of them (a stale cutoff, a timer) far from overflow.
        set_if(r_.duration(s["interim_interval"], seconds(60), kMaxInterimInterval),
               out.interim_interval);
        set_if(r_.small_integer(s["stale_after_intervals"], 2, 100), out.stale_after_intervals);
        set_if(r_.duration(s["sweep_interval"], seconds(1), seconds(3600)), out.sweep_interval);
        set_if(r_.short_duration(s["request_timeout"], std::chrono::milliseconds(100),
                                 std::chrono::milliseconds(30000)),
               out.request_timeout);
        set_if(r_.small_integer(s["attempts"], 1, 10), out.attempts);
        std::set<std::string> names;
        std::set<std::string> addresses;
        for (const auto& item : r_.items(s["nas"])) {
            const Section n(r_, item,
                            {"name", "address", "coa_port", "secret_file", "identify", "coa"});
            if (!n.valid()) {
                continue;
            }
            Nas nas;
            nas.origin = item.origin;
            const Field name = n.required("name");
            if (auto v = r_.safe_name(name)) {
                nas.name = *v;
                if (!names.insert(*v).second) {
                    r_.error(name, "NAS name listed twice");
                }
            }
            const Field address = n.required("address");
            if (auto v = r_.ipv4(address)) {
                nas.address = *v;
                if (!addresses.insert(*v).second) {
                    r_.error(address, "NAS address listed twice");
                }
            }
            if (auto port = r_.small_integer(n["coa_port"], 1, 65535)) {
                nas.coa_port = static_cast<unsigned>(*port);
            }
            set_if(r_.secret_file(n.required("secret_file"), base_dir_), nas.secret_file);
            if (const Field keys = n["identify"]; keys.present) {
                if (const auto entries = r_.list(keys)) {
                    if (entries->empty()) {
                        r_.error(keys, "must name at least one session attribute");
                    }
                    nas.identify.clear();
                    for (const auto& entry : *entries) {
                        if (auto k = r_.choice<SessionKey>(entry, kSessionKeys)) {
                            if (std::find(nas.identify.begin(), nas.identify.end(), *k) !=
                                nas.identify.end()) {
                                r_.error(entry, "listed twice");
                            } else {
                                nas.identify.push_back(*k);
                            }
                        }
                    }
                }
            }
            set_if(r_.boolean(n["coa"]), nas.coa);
            out.nas.push_back(std::move(nas));
        }
        // On by default when there is a NAS to tell; false turns it off with the list kept.
        out.dynamic_authorization = !out.nas.empty();
        if (auto on = r_.boolean(s["dynamic_authorization"])) {
            if (*on && out.nas.empty()) {
                r_.error(s["dynamic_authorization"], "needs at least one entry in sessions.nas");
            }
            out.dynamic_authorization = *on && !out.nas.empty();
        }
        if (const Field checkins = s["checkins"]; checkins.present) {
            const Section c(r_, checkins, {"enabled", "checkout_after"});
            out.checkins.origin = checkins.origin;
            set_if(r_.boolean(c["enabled"]), out.checkins.enabled);
            set_if(r_.duration(c["checkout_after"], seconds(1), seconds(86400)),
                   out.checkins.checkout_after);
        }
    }

    Reader& r_;
    fs::path base_dir_;
    std::string_view main_text_;
};

// ---------------------------------------------------------------------------------------------
// Mapping files

/// Collects the mapping files into one Mapping and checks what spans files: unique names,
/// plan → group references, settings allowed in only one file.
class MappingCollector {
public:
    explicit MappingCollector(Diagnostics& diagnostics) : diagnostics_(diagnostics) {}

    void read_file(Reader& r, const YAML::Node& document, Mapping& m) {
        const Section top(
            r, r.root(document),
            {"roaming", "member_statuses", "groups", "plans", "locations", "passes", "guests",
             "companies", "company_vlan_property", "member_address_property"});
        if (const Field f = top["roaming"]; f.present && only_once(r, f, roaming_at_)) {
            set_if(r.choice<Roaming>(f, kRoamingChoices), m.roaming);
        }
        if (const Field f = top["member_statuses"]; f.present && only_once(r, f, statuses_at_)) {
            read_member_statuses(r, f, m);
        }
        for (const auto& item : r.items(top["groups"])) {
            read_group(r, item, m);
        }
        for (const auto& item : r.items(top["plans"])) {
            read_plan(r, item, m);
        }
        for (const auto& item : r.items(top["locations"])) {
            read_location(r, item, m);
        }
        if (const Field f = top["passes"]; f.present && only_once(r, f, passes_at_)) {
            read_passes(r, f, m);
        }
        if (const Field f = top["guests"]; f.present && only_once(r, f, guests_at_)) {
            read_guests(r, f, m);
        }
        for (const auto& item : r.items(top["companies"])) {
            read_company(r, item, m);
        }
        if (const Field f = top["company_vlan_property"];
            f.present && only_once(r, f, vlan_property_at_)) {
            set_if(r.non_empty_text(f), m.company_vlan_property);
        }
        if (const Field f = top["member_address_property"];
            f.present && only_once(r, f, address_property_at_)) {
            set_if(r.non_empty_text(f), m.member_address_property);
        }
    }

    /// The checks that need every file read.
    void finish() {
        // One address can belong to one member only: pools must not overlap.
        for (std::size_t i = 0; i < pools_.size(); ++i) {
            for (std::size_t j = 0; j < i; ++j) {
                if (pools_[i].network.overlaps(pools_[j].network)) {
                    diagnostics_.problems.push_back(Problem{
                        pools_[i].origin, pools_[i].path,
                        "pool " + pools_[i].network.to_string() + " of " + pools_[i].owner +
                            " overlaps pool " + pools_[j].network.to_string() + " of " +
                            pools_[j].owner + " (" + format_origin(pools_[j].origin) + ")"});
                }
            }
        }
        for (const auto& loc : location_vlans_) {
            if (const auto it = company_vlans_.find(loc.vlan); it != company_vlans_.end()) {
                diagnostics_.warnings.push_back(
                    Problem{loc.origin, loc.path,
                            "VLAN " + std::to_string(loc.vlan) + " of " + loc.owner + " is also " +
                                it->second.owner + "'s (" + format_origin(it->second.origin) +
                                "): that company's members share a network with everyone there"});
            }
        }
        std::vector<std::string_view> defined;
        for (const auto& g : groups_) {
            defined.push_back(g.name);
        }
        for (const auto& ref : no_access_refs_) {
            if (std::find(no_access_groups_.begin(), no_access_groups_.end(), ref.name) !=
                no_access_groups_.end()) {
                diagnostics_.problems.push_back(
                    Problem{ref.origin, ref.path,
                            "group " + in_quotes(ref.name) +
                                " has access: none, so passes would give nothing"});
            }
        }
        std::vector<bool> used(groups_.size(), false);
        for (const auto& ref : plan_groups_) {
            const auto it = std::find(defined.begin(), defined.end(), ref.name);
            if (it == defined.end()) {
                diagnostics_.problems.push_back(Problem{ref.origin, ref.path,
                                                        "no group named " + in_quotes(ref.name) +
                                                            " is defined" +
                                                            did_you_mean(ref.name, defined)});
            } else {
                used[static_cast<std::size_t>(it - defined.begin())] = true;
            }
        }
        for (std::size_t i = 0; i < groups_.size(); ++i) {
            if (!used[i]) {
                diagnostics_.warnings.push_back(
                    Problem{groups_[i].origin, groups_[i].path,
                            "group " + in_quotes(groups_[i].name) + " is not used by any plan"});
            }
        }
    }

private:
    struct Named {
        std::string name;
        Origin origin;
        std::string path;
    };

    /// Top-level settings that must not be split across files (which one would win?).
    bool only_once(Reader& r, const Field& f, std::optional<Origin>& first) {
        if (first) {
            r.error(f.key_origin, f.path,
                    "already set in " + format_origin(*first) + "; set it in one mapping file");
            return false;
        }
        first = f.key_origin;
        return true;
    }

    /// Reports `name` if already registered in `seen` (across all files), else registers it.
    bool unique(Reader& r, const Field& f, std::map<std::string, Origin>& seen,
                const std::string& what, const std::string& name) {
        const auto [it, inserted] = seen.emplace(name, f.origin);
        if (!inserted) {
            r.error(f, "duplicate " + what + " " + in_quotes(name) + " (first defined at " +
                           format_origin(it->second) + ")");
        }
        return inserted;
    }

    void read_member_statuses(Reader& r, const Field& f, Mapping& m) {
        const auto entries = r.list(f);
        if (!entries) {
            return;
        }
        if (entries->empty()) {
            r.error(f, "must list at least one status");
            return;
        }
        std::vector<std::string> statuses;
        for (const auto& entry : *entries) {
            auto s = r.non_empty_text(entry);
            if (!s) {
                return;
            }
            if (std::find(std::begin(kKnownMemberStatuses), std::end(kKnownMemberStatuses), *s) ==
                std::end(kKnownMemberStatuses)) {
                r.warning(entry.origin, entry.path,
                          in_quotes(*s) + " is not an OfficeRnD member status (" +
                              join(kKnownMemberStatuses) + ")" +
                              did_you_mean(*s, kKnownMemberStatuses));
            }
            statuses.push_back(std::move(*s));
        }
        m.member_statuses = std::move(statuses);
    }

    std::optional<Match> read_match(Reader& r, const Field& f, const std::string& kind,
                                    std::map<std::string, Origin>& seen) {
        const Section s(r, f, {"id", "name", "code"});
        if (!s.valid() || !f.present) {
            return std::nullopt;
        }
        Match match;
        std::vector<std::string_view> given;
        std::string identity;
        for (const std::string_view key : {"id", "name", "code"}) {
            const Field value = s[key];
            if (!value.present) {
                continue;
            }
            given.push_back(key);
            if (auto t = r.non_empty_text(value)) {
                identity = std::string(key) + " " + in_quotes(*t);
                (key == "id" ? match.id : key == "name" ? match.name : match.code) = *t;
            }
        }
        if (given.size() != 1) {
            r.error(f, "set exactly one of id, name or code, got " +
                           (given.empty() ? std::string("none") : join(given, " and ")));
            return std::nullopt;
        }
        if (identity.empty()) {
            return std::nullopt;  // the value itself was reported
        }
        const auto [it, inserted] = seen.emplace(identity, f.origin);
        if (!inserted) {
            r.error(f, "duplicate " + kind + " match on " + identity + " (first defined at " +
                           format_origin(it->second) + ")");
            return std::nullopt;
        }
        return match;
    }

    void read_group(Reader& r, const Field& f, Mapping& m) {
        const Section s(
            r, f,
            {"name", "rank", "access", "bandwidth", "session_timeout", "simultaneous_use",
             "accounting_interval", "ip_pool", "static_ip", "reply"});
        if (!s.valid()) {
            return;
        }
        AccessGroup g;
        g.origin = f.origin;
        const Field name = s.required("name");
        if (auto n = r.safe_name(name)) {
            g.name = *n;
            if (unique(r, name, group_names_, "group name", *n)) {
                groups_.push_back(Named{*n, name.origin, name.path});
            }
        }
        set_if(r.small_integer(s["rank"], kIntMin), g.rank);

        if (const Field access = s["access"]; access.present) {
            if (auto a = r.text(access)) {
                if (*a == "none") {
                    g.access = false;
                } else {
                    r.error(access,
                            "the only allowed value is \"none\" (leave access out for "
                            "WiFi access), got " +
                                in_quotes(*a));
                }
            }
        }
        if (!g.access) {
            no_access_groups_.push_back(g.name);
            // A group without access writes no rows at all, so these would silently do nothing.
            for (const std::string_view key : {"bandwidth", "session_timeout", "simultaneous_use",
                                               "accounting_interval", "ip_pool", "reply"}) {
                if (s.has(key)) {
                    const Field x = s[key];
                    r.error(x.key_origin, x.path, "not allowed with access: none");
                }
            }
            m.groups.push_back(std::move(g));
            return;
        }

        if (const Field bw = s["bandwidth"]; bw.present) {
            const Section b(r, bw, {"down", "up"});
            if (b.valid() && !b.has("down") && !b.has("up")) {
                r.error(bw, "set down, up or both");
            }
            g.bandwidth_down_bps = r.rate(b["down"]);
            g.bandwidth_up_bps = r.rate(b["up"]);
        }
        g.session_timeout = r.duration(s["session_timeout"], seconds(1));
        g.simultaneous_use = r.small_integer(s["simultaneous_use"], 1);
        g.accounting_interval =
            r.duration(s["accounting_interval"], seconds(60), kMaxInterimInterval);
        if (const Field fixed = s["static_ip"]; fixed.present) {
            r.error(fixed.key_origin, fixed.path,
                    "static_ip gave every member of the group the same address; use ip_pool: "
                    "CIDR (one stable address per member), or member_address_property");
        }
        if (const Field pool = s["ip_pool"]; pool.present) {
            if (auto n = r.text(pool)) {
                if (auto net = core::parse_ipv4_network(*n); !net) {
                    r.error(pool, net.error().message);
                } else {
                    g.ip_pool = *n;
                    pools_.push_back(
                        PoolUse{*net, "group " + in_quotes(g.name), pool.origin, pool.path});
                }
            }
        }
        for (const auto& item : r.items(s["reply"])) {
            const Section a(r, item, {"attribute", "op", "value"});
            if (!a.valid()) {
                continue;
            }
            ReplyAttribute reply;
            const Field attribute = a.required("attribute");
            if (auto t = r.non_empty_text(attribute)) {
                reply.attribute = *t;
                reply.origin = attribute.origin;
            }
            if (auto op = r.choice<std::string_view>(a["op"], kReplyOperators)) {
                reply.op = std::string(*op);
            }
            set_if(r.text(a.required("value")), reply.value);
            g.reply.push_back(std::move(reply));
        }
        m.groups.push_back(std::move(g));
    }

    void read_plan(Reader& r, const Field& f, Mapping& m) {
        const Section s(r, f, {"match", "group", "roaming"});
        if (!s.valid()) {
            return;
        }
        PlanRule plan;
        plan.origin = f.origin;
        set_if(read_match(r, s.required("match"), "plan", plan_matches_), plan.match);
        const Field group = s.required("group");
        if (auto g = r.non_empty_text(group)) {
            plan.group = *g;
            plan_groups_.push_back(Named{*g, group.origin, group.path});
        }
        plan.roaming = r.choice<Roaming>(s["roaming"], kRoamingChoices);
        m.plans.push_back(std::move(plan));
    }

    void read_passes(Reader& r, const Field& f, Mapping& m) {
        const Section s(r, f, {"group", "roaming", "open_end", "sweep_at", "company_passes"});
        if (!s.valid()) {
            return;
        }
        Passes p;
        p.origin = f.origin;
        const Field group = s.required("group");
        if (auto g = r.non_empty_text(group)) {
            p.group = *g;
            plan_groups_.push_back(Named{*g, group.origin, group.path});
            no_access_refs_.push_back(Named{*g, group.origin, group.path});
        }
        set_if(r.choice<Roaming>(s["roaming"], kRoamingChoices), p.roaming);
        if (p.roaming == Roaming::kMembership) {
            const Field x = s["roaming"];
            r.error(x, "passes take home (the pass's location) or all");
        }
        set_if(r.choice<PassOpenEnd>(s["open_end"], kPassOpenEnds), p.open_end);
        set_if(r.time_of_day(s["sweep_at"]), p.sweep_at);
        set_if(r.choice<CompanyPasses>(s["company_passes"], kCompanyPasses), p.company_passes);
        m.passes = std::move(p);
    }

    void read_guests(Reader& r, const Field& f, Mapping& m) {
        const Section s(
            r, f,
            {"group", "resource_types", "grace_before", "grace_after", "username_prefix",
             "username_length", "code_length", "members_of_other_companies"});
        if (!s.valid()) {
            return;
        }
        Guests g;
        g.origin = f.origin;
        const Field group = s.required("group");
        if (auto name = r.non_empty_text(group)) {
            g.group = *name;
            plan_groups_.push_back(Named{*name, group.origin, group.path});
            no_access_refs_.push_back(Named{*name, group.origin, group.path});
        }
        if (const Field types = s["resource_types"]; types.present) {
            if (const auto entries = r.list(types)) {
                g.resource_types.clear();
                for (const auto& entry : *entries) {
                    if (auto t = r.non_empty_text(entry)) {
                        g.resource_types.push_back(*t);
                    }
                }
                if (entries->empty()) {
                    r.error(types, "must list at least one resource type");
                }
            }
        }
        set_if(r.duration(s["grace_before"], seconds(0)), g.grace_before);
        set_if(r.duration(s["grace_after"], seconds(0)), g.grace_after);
        if (const Field prefix = s["username_prefix"]; prefix.present) {
            if (auto p = r.text(prefix)) {
                // Login names radsync writes use FreeRADIUS's safe characters only.
                if (p->size() > 32 || !std::all_of(p->begin(), p->end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                               c == '_' || c == '.';
                    })) {
                    r.error(prefix, "use at most 32 of a-z, 0-9, \"-\", \"_\" and \".\"");
                } else {
                    g.username_prefix = *p;
                }
            }
        }
        set_if(r.small_integer(s["username_length"], 4, 16), g.username_length);
        set_if(r.small_integer(s["code_length"], 6, 32), g.code_length);
        set_if(r.boolean(s["members_of_other_companies"]), g.members_of_other_companies);
        m.guests = std::move(g);
    }

    void read_company(Reader& r, const Field& f, Mapping& m) {
        const Section s(r, f, {"match", "vlan", "ip_pool"});
        if (!s.valid()) {
            return;
        }
        CompanyRule c;
        c.origin = f.origin;
        const Field match = s.required("match");
        if (auto got = read_match(r, match, "company", company_matches_)) {
            if (got->code) {
                r.error(match, "companies are matched by id or name");
            }
            c.match = *got;
        }
        const std::string label =
            "company " + in_quotes(c.match.id ? *c.match.id : c.match.name.value_or("?"));
        if (const Field vlan = s["vlan"]; vlan.present) {
            c.vlan = r.small_integer(vlan, 1, 4094);
            if (c.vlan) {
                const auto [it, fresh] =
                    company_vlans_.emplace(*c.vlan, VlanUse{label, vlan.origin});
                if (!fresh) {
                    r.error(vlan, "VLAN " + std::to_string(*c.vlan) + " is already " +
                                      it->second.owner + "'s (" + format_origin(it->second.origin) +
                                      "); two companies on one VLAN share a network");
                }
            }
        }
        if (const Field pool = s["ip_pool"]; pool.present) {
            if (auto n = r.text(pool)) {
                if (auto net = core::parse_ipv4_network(*n); !net) {
                    r.error(pool, net.error().message);
                } else {
                    c.ip_pool = *n;
                    pools_.push_back(PoolUse{*net, label, pool.origin, pool.path});
                }
            }
        }
        if (!c.vlan && !c.ip_pool && s.valid()) {
            r.error(f, "set vlan, ip_pool or both");
        }
        m.companies.push_back(std::move(c));
    }

    void read_location(Reader& r, const Field& f, Mapping& m) {
        const Section s(r, f,
                        {"match", "key", "vlan", "nas_identifiers", "ssids", "nas_ip_addresses",
                         "timezone", "pass_sweep_at"});
        if (!s.valid()) {
            return;
        }
        LocationRule loc;
        loc.origin = f.origin;
        set_if(read_match(r, s.required("match"), "location", location_matches_), loc.match);
        const Field key = s.required("key");
        if (auto k = r.safe_name(key)) {
            loc.key = *k;
            unique(r, key, location_keys_, "location key", *k);
        }
        loc.vlan = r.small_integer(s["vlan"], 1, 4094);
        if (loc.vlan) {
            location_vlans_.push_back(VlanUse{"location " + in_quotes(loc.key), s["vlan"].origin,
                                              s["vlan"].path, *loc.vlan});
        }

        bool lists_ok = true;  // else "set at least one" would only repeat a reported problem
        auto read_list = [&](std::string_view name, std::vector<std::string>& out, auto&& check) {
            const Field field = s[name];
            const auto entries = r.list(field);
            if (!entries) {
                lists_ok = lists_ok && !field.present;
                return;
            }
            for (const auto& entry : *entries) {
                auto value = r.non_empty_text(entry);
                if (!value) {
                    lists_ok = false;
                } else if (auto problem = check(*value)) {
                    r.error(entry, *problem);
                    lists_ok = false;
                } else {
                    out.push_back(std::move(*value));
                }
            }
        };
        auto anything = [](const std::string&) { return std::optional<std::string>(); };
        read_list("nas_identifiers", loc.nas_identifiers, anything);
        read_list("ssids", loc.ssids, [](const std::string& ssid) {
            // 802.11 limits an SSID to 32 octets; a longer one can never match.
            return ssid.size() > 32 ? std::optional<std::string>("an SSID has at most 32 bytes")
                                    : std::nullopt;
        });
        read_list("nas_ip_addresses", loc.nas_ip_addresses, [](const std::string& ip) {
            return is_ipv4(ip)
                       ? std::nullopt
                       : std::optional<std::string>(
                             "expected an IPv4 address such as 10.1.0.1, got " + in_quotes(ip));
        });
        if (lists_ok && loc.nas_identifiers.empty() && loc.ssids.empty() &&
            loc.nas_ip_addresses.empty()) {
            r.error(f,
                    "set at least one of nas_identifiers, ssids or nas_ip_addresses, so "
                    "FreeRADIUS can recognise the location");
        }
        loc.timezone = r.time_zone(s["timezone"]);
        loc.pass_sweep_at = r.time_of_day(s["pass_sweep_at"]);
        m.locations.push_back(std::move(loc));
    }

    Diagnostics& diagnostics_;
    std::optional<Origin> roaming_at_;
    std::optional<Origin> statuses_at_;
    std::optional<Origin> passes_at_;
    std::optional<Origin> guests_at_;
    std::optional<Origin> vlan_property_at_;
    std::optional<Origin> address_property_at_;
    std::map<std::string, Origin> company_matches_;
    struct VlanUse {
        std::string owner;
        Origin origin;
        std::string path = {};
        int vlan = 0;
    };
    std::map<int, VlanUse> company_vlans_;
    std::vector<VlanUse> location_vlans_;
    struct PoolUse {
        core::Ipv4Network network;
        std::string owner;
        Origin origin;
        std::string path;
    };
    std::vector<PoolUse> pools_;
    std::vector<std::string> no_access_groups_;
    std::vector<Named> no_access_refs_;  // references that need a group with access
    std::map<std::string, Origin> group_names_;
    std::map<std::string, Origin> location_keys_;
    std::map<std::string, Origin> plan_matches_;
    std::map<std::string, Origin> location_matches_;
    std::vector<Named> groups_;
    std::vector<Named> plan_groups_;
};

// ---------------------------------------------------------------------------------------------
// Files and documents

/// Notes where each document starts and nothing else: enough to count documents without
/// building nodes.
class DocumentStarts final : public YAML::EventHandler {
public:
    std::vector<YAML::Mark> starts;

    void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

Origin origin_at(const std::string& file, const YAML::Mark& mark) {
    return mark.is_null() ? Origin{file, 0, 0} : Origin{file, mark.line + 1, mark.column + 1};
}

/// Parses one YAML document; a syntax error becomes a Problem at its position.
///
/// Not YAML::LoadAll: in yaml-cpp 0.7 (Debian 12) a token the parser cannot place, such as a
/// stray ',' at the start of a line, is never consumed, and LoadAll keeps collecting empty
/// documents at that spot until memory runs out (fixed upstream in 2024, jbeder/yaml-cpp#1319).
/// Here the parser is asked for at most three documents: a second one is an error, and a
/// document that starts where the previous one did is that stuck token, reported as such.
/// Only then is the one document built into nodes.
std::optional<YAML::Node> parse_document(Diagnostics& d, const std::string& file,
                                         const std::string& text) {
    try {
        std::istringstream in(text);
        YAML::Parser parser(in);
        DocumentStarts events;
        for (int i = 0; i < 3 && parser.HandleNextDocument(events); ++i) {
        }
        const auto& starts = events.starts;
        if (starts.empty()) {
            return YAML::Node();  // an empty file: every default
        }
        for (std::size_t i = 1; i < starts.size(); ++i) {
            if (starts[i].pos == starts[i - 1].pos) {
                const auto at = static_cast<std::size_t>(std::max(starts[i].pos, 0));
                const std::string what =
                    at < text.size() ? "'" + std::string(1, text[at]) + "'" : "end of input";
                d.problems.push_back(
                    Problem{origin_at(file, starts[i]), "", "invalid YAML: unexpected " + what});
                return std::nullopt;
            }
        }
        if (starts.size() > 1) {
            d.problems.push_back(Problem{origin_at(file, starts[1]), "",
                                         "expected one YAML document, found a second one"});
            return std::nullopt;
        }
        return YAML::Load(text);
    } catch (const YAML::DeepRecursion& e) {
        d.problems.push_back(Problem{
            origin_at(file, e.mark), "",
            "invalid YAML: nested more than " + std::to_string(e.depth()) + " levels deep"});
        return std::nullopt;
    } catch (const YAML::Exception& e) {
        d.problems.push_back(Problem{origin_at(file, e.mark), "", "invalid YAML: " + e.msg});
        return std::nullopt;
    }
}

/// Reads a mapping file's text by its resolved and listed names (disk or in-memory).
using TextSource =
    std::function<Result<std::string>(const std::string& resolved, const std::string& listed)>;

std::size_t file_rank(const std::vector<std::string>& files, const std::string& file) {
    const auto it = std::find(files.begin(), files.end(), file);
    return static_cast<std::size_t>(it - files.begin());
}

/// Problems in file order (main file first), then by position: the order an operator fixes them.
void sort_by_position(std::vector<Problem>& problems, const std::vector<std::string>& files) {
    std::stable_sort(problems.begin(), problems.end(), [&](const Problem& a, const Problem& b) {
        return std::tuple(file_rank(files, a.origin.file), a.origin.line, a.origin.column) <
               std::tuple(file_rank(files, b.origin.file), b.origin.line, b.origin.column);
    });
}

LoadResult load_text(const std::string& main_name, const Result<std::string>& main_text,
                     const TextSource& read_mapping, const LoadOptions& options = {}) {
    Diagnostics d;
    std::vector<std::string> files{main_name};
    Config config;
    config.source_file = main_name;

    if (!main_text) {
        d.problems.push_back(
            Problem{Origin{main_name, 0, 0}, "", "cannot read file: " + main_text.error().message});
    } else if (auto document = parse_document(d, main_name, *main_text)) {
        Reader reader(main_name, d);
        if (!options.check_secret_files) {
            reader.skip_file_checks();
        }
        MainReader main(reader, fs::path(main_name).parent_path(), *main_text);
        const std::vector<MappingRef> refs = main.read(*document, config);

        MappingCollector collector(d);
        for (const auto& ref : refs) {
            if (std::find(files.begin(), files.end(), ref.resolved) != files.end()) {
                reader.error(ref.field, "listed twice");
                continue;
            }
            files.push_back(ref.resolved);
            config.mapping_files.push_back(ref.resolved);
            const auto text = read_mapping(ref.resolved, ref.listed);
            if (!text) {
                reader.error(ref.field, "cannot read " + in_quotes(ref.resolved) + ": " +
                                            text.error().message);
                continue;
            }
            if (auto mapping_document = parse_document(d, ref.resolved, *text)) {
                Reader mapping_reader(ref.resolved, d);
                collector.read_file(mapping_reader, *mapping_document, config.mapping);
            }
        }
        collector.finish();
        const auto& locations = config.mapping.locations;
        if (config.sessions.checkins.enabled && config.officernd.org_slug.empty()) {
            d.problems.push_back(Problem{config.sessions.checkins.origin, "sessions.checkins",
                                         "check-ins need the officernd section"});
        } else if (config.sessions.checkins.enabled &&
                   std::none_of(locations.begin(), locations.end(), [](const LocationRule& l) {
                       return !l.nas_ip_addresses.empty() || !l.ssids.empty();
                   })) {
            // radacct records the NAS's address and the SSID, not its NAS-Identifier.
            d.problems.push_back(Problem{config.sessions.checkins.origin, "sessions.checkins",
                                         "check-ins need a location rule with nas_ip_addresses "
                                         "or ssids: accounting records those, not "
                                         "NAS-Identifier"});
        }
    }

    sort_by_position(d.problems, files);
    sort_by_position(d.warnings, files);
    LoadResult result;
    result.problems = std::move(d.problems);
    result.warnings = std::move(d.warnings);
    if (result.problems.empty()) {
        result.config = std::move(config);
    }
    return result;
}

/// load() promises not to throw for bad input; an exception here is a bug or resource
/// exhaustion, still reported as a problem so the caller's error path handles it.
LoadResult guarded(const std::string& main_name, const std::function<LoadResult()>& body) {
    try {
        return body();
    } catch (const std::exception& e) {
        LoadResult result;
        result.problems.push_back(
            Problem{Origin{main_name, 0, 0}, "", std::string("internal error: ") + e.what()});
        return result;
    }
}

Result<std::string> bounded_text(const std::string& text) {
    if (text.size() > kMaxConfigBytes) {
        return Error(Errc::kIoFailed,
                     "larger than " + detail::describe_size(kMaxConfigBytes) + ", refused");
    }
    return text;
}

}  // namespace

LoadResult load(const std::string& main_file, const LoadOptions& options) {
    return guarded(main_file, [&] {
        return load_text(
            main_file, detail::read_text_file(main_file, kMaxConfigBytes),
            [](const std::string& resolved, const std::string&) {
                return detail::read_text_file(resolved, kMaxConfigBytes);
            },
            options);
    });
}

LoadResult load_from_strings(const std::string& main_name, const std::string& main_text,
                             const std::vector<std::pair<std::string, std::string>>& mapping_texts,
                             const LoadOptions& options) {
    return guarded(main_name, [&] {
        return load_text(
            main_name, bounded_text(main_text),
            [&](const std::string&, const std::string& listed) -> Result<std::string> {
                for (const auto& [name, text] : mapping_texts) {
                    if (name == listed) {
                        return bounded_text(text);
                    }
                }
                return Error(Errc::kNotFound, "file not found");
            },
            options);
    });
}

Result<std::string> read_text_file_bounded(const std::string& path, std::size_t max_bytes) {
    return read_text_file(path, max_bytes);
}

}  // namespace radsync::config
