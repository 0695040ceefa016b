#include "radsync/session/plan.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <string_view>

#include "radsync/mapping/engine.hpp"

namespace radsync::session {

namespace {

using reconcile::RowChange;
using store::RadRow;
using store::Table;

constexpr std::uint32_t kVendorWispr = 14122;
constexpr std::uint8_t kWisprBandwidthMaxUp = 7;
constexpr std::uint8_t kWisprBandwidthMaxDown = 8;
constexpr std::uint32_t kVendorMikrotik = 14988;
constexpr std::uint8_t kMikrotikRateLimit = 8;

std::string site_prefix() {
    return std::string(mapping::kGroupPrefix) + "site:";
}

std::string plan_prefix() {
    return std::string(mapping::kGroupPrefix) + "plan:";
}

// What one user's changes amount to, gathered before deciding.
struct UserChanges {
    std::optional<std::string> end_why;
    std::set<std::string> groups_added;
    std::set<std::string> groups_removed;
};

// The rows of `group` that limit a session (those limit_attribute can send).
std::vector<RadRow> limits_of(const std::string& group, const std::vector<RadRow>& group_rows) {
    std::vector<RadRow> out;
    for (const auto& r : group_rows) {
        if (r.table == Table::kRadgroupreply && r.name == group &&
            limit_attribute(r.attribute, r.value)) {
            out.push_back(r);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

void note_row(const RadRow& row, bool added, UserChanges& u) {
    switch (row.table) {
        case Table::kRadcheck:
            if (added && row.attribute == "Auth-Type" && row.value == "Reject") {
                u.end_why = "access revoked";  // whatever else changed with it
            } else if (store::is_secret_attribute(row.attribute) && !u.end_why) {
                // Removed with nothing in its place: the account is gone; replaced: a new
                // password, which the running session must not outlive.
                u.end_why = added ? "password changed" : "account removed";
            }
            break;
        case Table::kRadreply:
            if (!u.end_why) {
                u.end_why = row.attribute + " changed";
            }
            break;
        case Table::kRadusergroup:
            (added ? u.groups_added : u.groups_removed).insert(row.attribute);
            break;
        default:
            break;
    }
}

// "downtown" of "radsync:site:downtown:2".
std::string location_of(const std::string& site_group) {
    const std::string rest = site_group.substr(std::min(site_group.size(), site_prefix().size()));
    const auto colon = rest.rfind(':');
    return colon == std::string::npos ? rest : rest.substr(0, colon);
}

// The groups whose rows `changes` alter in a way running sessions must hear of: a plan's
// limits, a location's reply (its VLAN). Insert, update or delete.
std::set<std::string> groups_with_new_rows(const std::vector<RowChange>& changes) {
    std::set<std::string> out;
    const std::string plans = plan_prefix();
    const std::string sites = site_prefix();
    for (const auto& c : changes) {
        for (const auto* row : {c.before ? &*c.before : nullptr, c.after ? &*c.after : nullptr}) {
            if (row == nullptr || row->table != Table::kRadgroupreply) {
                continue;
            }
            if ((row->name.starts_with(plans) && limit_attribute(row->attribute, row->value)) ||
                row->name.starts_with(sites)) {
                out.insert(row->name);
            }
        }
    }
    return out;
}

}  // namespace

bool group_rows_changed(const std::vector<RowChange>& changes) {
    return !groups_with_new_rows(changes).empty();
}

std::vector<AccessChange> access_changes(const std::vector<RowChange>& changes,
                                         const std::vector<RadRow>& group_rows,
                                         const std::vector<RadRow>& memberships) {
    std::map<std::string, UserChanges> users;
    for (const auto& c : changes) {
        const RadRow* row = c.after ? &*c.after : c.before ? &*c.before : nullptr;
        if (row == nullptr || row->table == Table::kRadgroupcheck ||
            row->table == Table::kRadgroupreply) {
            continue;
        }
        UserChanges& u = users[row->name];
        if (c.op == RowChange::Op::kInsert && c.after) {
            note_row(*c.after, true, u);
        } else if (c.op == RowChange::Op::kDelete && c.before) {
            note_row(*c.before, false, u);
        } else if (c.op == RowChange::Op::kUpdate && c.before && c.after) {
            // A row's value replaced: a new password, address or VLAN, or a site group at a new
            // priority (a group kept, not lost).
            if (c.after->table == Table::kRadusergroup) {
                note_row(*c.before, false, u);
            }
            note_row(*c.after, true, u);
        }
    }
    std::vector<AccessChange> out;
    const std::string sites = site_prefix();
    const std::string plans = plan_prefix();
    std::set<std::string> configured_sites;  // the site groups the configuration still has
    std::set<std::string> configured_keys;   // and their locations
    for (const auto& r : group_rows) {
        if (r.name.starts_with(sites)) {
            configured_sites.insert(r.name);
            configured_keys.insert(location_of(r.name));
        }
    }
    for (auto& [username, u] : users) {
        std::set<std::string> kept_keys;
        for (const auto& g : u.groups_added) {
            if (g.starts_with(sites)) {
                kept_keys.insert(location_of(g));
            }
        }
        std::optional<std::string> lost;
        for (const auto& g : u.groups_removed) {
            if (!g.starts_with(sites) || u.groups_added.contains(g) ||
                kept_keys.contains(location_of(g))) {
                continue;  // renumbered, or the location still matched another way
            }
            // The member lost the location, or the mapping lost it; a matcher the mapping
            // dropped (other site groups of the location remain) ends nobody's session.
            if (configured_sites.contains(g)) {
                lost = "location " + location_of(g) + " no longer allowed";
            } else if (!configured_keys.contains(location_of(g))) {
                lost = "location " + location_of(g) + " removed from the mapping";
            }
            if (lost) {
                break;
            }
        }
        if (!u.end_why && lost) {
            u.end_why = *lost;
        }
        if (u.end_why) {
            out.push_back({username, AccessChange::Kind::kEnd, *u.end_why, {}});
            continue;
        }
        std::optional<std::string> old_plan;
        std::optional<std::string> new_plan;
        for (const auto& g : u.groups_removed) {
            if (g.starts_with(plans) && !u.groups_added.contains(g)) {
                old_plan = g;
            }
        }
        for (const auto& g : u.groups_added) {
            if (g.starts_with(plans) && !u.groups_removed.contains(g)) {
                new_plan = g;
            }
        }
        if (!old_plan || !new_plan) {
            continue;  // a first plan (no session yet) or none left (revoked: handled above)
        }
        auto before = limits_of(*old_plan, group_rows);
        auto after = limits_of(*new_plan, group_rows);
        const auto same = [](const std::vector<RadRow>& a, const std::vector<RadRow>& b) {
            return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                              [](const RadRow& x, const RadRow& y) {
                                  return x.attribute == y.attribute && x.value == y.value;
                              });
        };
        if (!same(before, after)) {
            out.push_back({username, AccessChange::Kind::kChangeLimits,
                           "plan " + *old_plan + " -> " + *new_plan, std::move(after)});
        }
    }
    // The members of a group whose own rows changed, unless decided above: a location's new
    // VLAN ends their sessions (it cannot change in one), a plan's new limits change them.
    const auto changed = groups_with_new_rows(changes);
    std::set<std::string> decided;
    for (const auto& c : out) {
        decided.insert(c.username);
    }
    for (const auto& m : memberships) {
        if (m.table != Table::kRadusergroup || !changed.contains(m.attribute) ||
            decided.contains(m.name)) {
            continue;
        }
        if (m.attribute.starts_with(sites)) {
            decided.insert(m.name);
            out.push_back({m.name,
                           AccessChange::Kind::kEnd,
                           "location group " + m.attribute + " has a new VLAN",
                           {}});
        }
    }
    for (const auto& m : memberships) {
        if (m.table != Table::kRadusergroup || !changed.contains(m.attribute) ||
            !m.attribute.starts_with(plans) || decided.contains(m.name)) {
            continue;
        }
        decided.insert(m.name);
        out.push_back({m.name, AccessChange::Kind::kChangeLimits,
                       "plan " + m.attribute + " has new limits",
                       limits_of(m.attribute, group_rows)});
    }
    return out;
}

std::optional<radius::Attribute> limit_attribute(const std::string& name,
                                                 const std::string& value) {
    const auto number = [&]() -> std::optional<std::uint32_t> {
        std::uint32_t v = 0;
        const auto* end = value.data() + value.size();
        const auto [p, ec] = std::from_chars(value.data(), end, v);
        if (ec != std::errc() || p != end || value.empty()) {
            return std::nullopt;
        }
        return v;
    };
    using radius::Attribute;
    using radius::Type;
    if (name == "Session-Timeout" || name == "Acct-Interim-Interval") {
        const auto v = number();
        if (!v) {
            return std::nullopt;
        }
        return Attribute::integer(
            name == "Session-Timeout" ? Type::kSessionTimeout : Type::kAcctInterimInterval, *v);
    }
    if (name == "WISPr-Bandwidth-Max-Down" || name == "WISPr-Bandwidth-Max-Up") {
        const auto v = number();
        if (!v) {
            return std::nullopt;
        }
        return Attribute::vendor_integer(
            kVendorWispr,
            name == "WISPr-Bandwidth-Max-Down" ? kWisprBandwidthMaxDown : kWisprBandwidthMaxUp, *v);
    }
    if (name == "Mikrotik-Rate-Limit" && !value.empty() && value.size() <= 253) {
        return Attribute::vendor_text(kVendorMikrotik, kMikrotikRateLimit, value);
    }
    return std::nullopt;
}

PlannedRequest plan_request(const AccessChange& change, const store::Session& s,
                            const config::Nas& nas) {
    using radius::Attribute;
    using radius::Type;
    PlannedRequest out;
    for (const auto key : nas.identify) {
        switch (key) {
            case config::SessionKey::kUserName:
                if (!s.username.empty()) {
                    out.attributes.push_back(Attribute::text(Type::kUserName, s.username));
                }
                break;
            case config::SessionKey::kAcctSessionId:
                if (!s.session_id.empty()) {
                    out.attributes.push_back(Attribute::text(Type::kAcctSessionId, s.session_id));
                }
                break;
            case config::SessionKey::kCallingStationId:
                if (!s.calling_station_id.empty()) {
                    out.attributes.push_back(
                        Attribute::text(Type::kCallingStationId, s.calling_station_id));
                }
                break;
            case config::SessionKey::kFramedIpAddress:
                if (auto a = Attribute::ipv4(Type::kFramedIpAddress, s.framed_ip)) {
                    out.attributes.push_back(*a);
                }
                break;
            case config::SessionKey::kNasIpAddress:
                if (auto a = Attribute::ipv4(Type::kNasIpAddress, s.nas_ip)) {
                    out.attributes.push_back(*a);
                }
                break;
        }
    }
    if (change.kind == AccessChange::Kind::kChangeLimits && nas.coa) {
        out.code = radius::Code::kCoaRequest;
        for (const auto& row : change.limits) {
            if (auto a = limit_attribute(row.attribute, row.value)) {
                out.attributes.push_back(*a);
            }
        }
    }
    return out;
}

const config::Nas* nas_for(const store::Session& s, const config::Sessions& cfg) {
    const auto it = std::find_if(cfg.nas.begin(), cfg.nas.end(),
                                 [&](const config::Nas& n) { return n.address == s.nas_ip; });
    return it == cfg.nas.end() ? nullptr : &*it;
}

core::Instant stale_cutoff(core::Instant now, const config::Config& cfg) {
    auto longest = cfg.sessions.interim_interval;
    for (const auto& g : cfg.mapping.groups) {
        if (g.access) {
            longest = std::max(longest, config::interim_interval_of(g, cfg.sessions));
        }
    }
    return now - longest * cfg.sessions.stale_after_intervals;
}

std::chrono::milliseconds resend_wait(std::chrono::milliseconds timeout, int attempt) {
    const int doublings = std::clamp(attempt - 1, 0, 3);
    return timeout * (1 << doublings);
}

}  // namespace radsync::session
