#include "radsync/mapping/engine.hpp"
#include "radsync/mapping/match.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <string>
#include <tuple>

#include "radsync/core/timezone.hpp"

#include "addresses.hpp"
#include "radsync/snapshot/merge.hpp"
#include "recurrence.hpp"

namespace radsync::mapping {

namespace {

using config::AccessGroup;
using config::LocationRule;
using config::PlanRule;
using config::Roaming;
using store::RadRow;
using store::Table;

constexpr const char* kPasswordAttributeNt = "NT-Password";
constexpr const char* kPasswordAttributeClear = "Cleartext-Password";

// Renders bits/s the way MikroTik reads rate limits: "10M", "512k", or plain bits.
std::string mikrotik_rate(std::uint64_t bps) {
    if (bps != 0 && bps % 1'000'000'000 == 0) {
        return std::to_string(bps / 1'000'000'000) + "G";
    }
    if (bps != 0 && bps % 1'000'000 == 0) {
        return std::to_string(bps / 1'000'000) + "M";
    }
    if (bps != 0 && bps % 1'000 == 0) {
        return std::to_string(bps / 1'000) + "k";
    }
    return std::to_string(bps);
}

// Escapes regex metacharacters with a backslash; valid in both POSIX ERE and PCRE, whichever
// FreeRADIUS was built with.
std::string regex_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (std::string_view(".[]{}()\\*+?^$|").find(c) != std::string_view::npos) {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    return out;
}

int permissiveness(Roaming r) {
    switch (r) {
        case Roaming::kHome:
            return 0;
        case Roaming::kMembership:
            return 1;
        case Roaming::kAll:
            return 2;
    }
    return 0;
}

template <class Entity>
const Entity* find_by_id(const std::vector<Entity>& sorted, const std::string& id) {
    if (id.empty()) {
        return nullptr;
    }
    auto it = std::lower_bound(sorted.begin(), sorted.end(), id,
                               [](const Entity& e, const std::string& key) { return e.id < key; });
    return (it != sorted.end() && it->id == id) ? &*it : nullptr;
}

// One membership's or pass's contribution to a member's access.
struct Grant {
    std::string label;        // "membership 'Hot Desk'", "pass 'hotdesk' p1"
    std::string location_id;  // the membership's or pass's location ("" = the holder's home)
    const AccessGroup* group = nullptr;
    std::optional<Roaming> roaming;            // the plan's (or the passes') override
    std::optional<core::Instant> ends;         // when this grant's access ends; absent = open-ended
    std::optional<core::Instant> starts = {};  // when it began, if it is a window (a pass)
};

// Access decided for one member before usernames are assigned.
struct Evaluation {
    bool granted = false;
    /// Not granted only because an active membership's plan, or a location, is not mapped.
    bool unmapped = false;
    /// Granted by passes alone: the account is swept, not retained, once they expire.
    bool pass_only = false;
    std::string reason;
    const AccessGroup* group = nullptr;
    bool unrestricted = false;                   // no location rules apply
    std::vector<const LocationRule*> locations;  // sorted by key
    std::optional<core::Instant> expires;
    /// When the current window of a time-limited grant began (passes, guests), for messages.
    std::optional<core::Instant> valid_from;
    /// The earliest moment after `now` at which this evaluation can change by itself (a
    /// membership or pass starting or ending), with what happens then.
    std::optional<core::Instant> next_change;
    std::string next_change_what;
    /// The member's company network (private office): its VLAN, and the pool addresses come
    /// from (the company's, else the group's).
    std::optional<int> company_vlan;
    std::optional<core::Ipv4Network> pool;
    std::string pool_owner;

    void consider(core::Instant at, core::Instant now, std::string what) {
        if (at > now && (!next_change || at < *next_change)) {
            next_change = at;
            next_change_what = std::move(what);
        }
    }
};

class Mapper {
public:
    Mapper(const snapshot::Snapshot& snap, const config::Config& cfg, const Context& ctx)
        : snap_(snap), cfg_(cfg), ctx_(ctx), default_zone_(core::TimeZone::utc()) {
        if (auto z = core::TimeZone::locate(cfg.default_timezone)) {
            default_zone_ = *z;
        }
        for (const auto& m : snap.memberships) {
            if (!m.member.empty()) {
                personal_[m.member].push_back(&m);
            } else if (!m.company.empty()) {
                by_company_[m.company].push_back(&m);
            }
        }
        if (cfg.mapping.passes) {
            pass_group_ = group_by_name(cfg.mapping.passes->group);
            for (const auto& p : snap.passes) {
                if (!p.member.empty()) {
                    passes_of_member_[p.member].push_back(&p);
                } else if (!p.company.empty() && cfg.mapping.passes->company_passes ==
                                                     config::CompanyPasses::kAllMembers) {
                    passes_of_company_[p.company].push_back(&p);
                }
            }
        }
    }

    Evaluation evaluate(const snapshot::Member& member) {
        Evaluation ev;
        std::vector<std::string> notes;
        bool status_from_pass = false;
        std::vector<Grant> pass_grants = passes_in_effect(member, ev, notes, status_from_pass);

        const auto& allowed = cfg_.mapping.member_statuses;
        const bool status_ok =
            std::find(allowed.begin(), allowed.end(), member.status) != allowed.end() ||
            status_from_pass;
        if (!status_ok && pass_grants.empty()) {
            ev.reason = member.status.empty() ? "member has no status"
                                              : "member status is '" + member.status + "'";
            if (!notes.empty()) {
                ev.reason += "; " + join(notes, "; ");
            }
            return ev;
        }
        std::vector<Grant> granting;
        bool unmapped_plan = false;
        if (status_ok) {
            granting = memberships_in_effect(member, ev, notes, unmapped_plan);
        } else {
            notes.insert(notes.begin(),
                         "member status is '" + member.status + "', so only passes count");
        }
        ev.pass_only = granting.empty() && !pass_grants.empty();
        granting.insert(granting.end(), pass_grants.begin(), pass_grants.end());
        if (granting.empty()) {
            ev.unmapped = unmapped_plan;
            ev.reason = join(notes, "; ");
            return ev;
        }

        // Best-ranked group wins; name breaks ties so the outcome never depends on input order.
        const AccessGroup* best = granting.front().group;
        for (const auto& g : granting) {
            if (std::tie(g.group->rank, best->name) > std::tie(best->rank, g.group->name)) {
                best = g.group;
            }
        }
        ev.group = best;

        Roaming roaming = cfg_.mapping.roaming;
        bool override_seen = false;
        std::vector<std::string> winners;
        std::vector<const Grant*> winning;
        for (const auto& g : granting) {
            if (g.group != best) {
                continue;
            }
            winners.push_back(g.label);
            winning.push_back(&g);
            if (g.roaming) {
                // Several winning plans with overrides: the most permissive one applies, so
                // adding a membership never takes rights away.
                if (!override_seen || permissiveness(*g.roaming) > permissiveness(roaming)) {
                    roaming = *g.roaming;
                }
                override_seen = true;
            }
        }

        if (cfg_.mapping.locations.empty()) {
            ev.unrestricted = true;
        } else {
            ev.locations = allowed_locations(member, granting, roaming);
            if (ev.locations.empty()) {
                ev.unmapped = true;
                ev.reason = "roaming " + std::string(config::to_string(roaming)) + ": " +
                            home_location_note(member, granting);
                return ev;
            }
        }

        // Time-limited only if every grant ends; then access lasts until the latest end.
        bool open_ended = false;
        std::optional<core::Instant> latest;
        for (const auto& g : granting) {
            if (!g.ends) {
                open_ended = true;
                break;
            }
            if (!latest || *g.ends > *latest) {
                latest = g.ends;
            }
        }
        if (!open_ended) {
            ev.expires = latest;
            for (const auto& g : granting) {
                if (g.starts && (!ev.valid_from || *g.starts < *ev.valid_from)) {
                    ev.valid_from = g.starts;
                }
            }
        }

        ev.granted = true;
        network_for(member, ev);
        std::string where = "all locations";
        if (!ev.unrestricted) {
            std::vector<std::string> keys;
            for (const auto* l : ev.locations) {
                keys.push_back(l->key);
            }
            where = join(keys, ",");
        }
        ev.reason = join(winners, ", ") + " -> group " + best->name + "; roaming " +
                    config::to_string(roaming) + ": " + where;
        if (ev.expires) {
            ev.reason += "; until " + core::format_instant(*ev.expires);
        }
        if (ev.company_vlan) {
            ev.reason += "; company VLAN " + std::to_string(*ev.company_vlan);
        }
        return ev;
    }

    /// The company rule (private office) that matches a company, if any.
    const config::CompanyRule* company_rule(const std::string& company_id) const {
        if (company_id.empty()) {
            return nullptr;
        }
        const auto* company = find_by_id(snap_.companies, company_id);
        for (const auto& rule : cfg_.mapping.companies) {
            if (matches(rule.match, company_id, company ? company->name : "", "")) {
                return &rule;
            }
        }
        return nullptr;
    }

    /// A booking's guest as the engine maps them: a member-like person whose id is the guest
    /// account key (snapshot::guest_key), with the booking that invites them.
    struct GuestEntry {
        snapshot::Member person;
        const snapshot::Booking* booking = nullptr;
    };

    /// Everyone the bookings of guest-enabled resource types invite (their visitors, and the
    /// members of other companies when configured), in booking order; in a scoped run only
    /// those whose key is in the scope.
    std::vector<GuestEntry> guest_entries(const std::set<std::string>* scope) const {
        std::vector<GuestEntry> out;
        if (!cfg_.mapping.guests) {
            return out;
        }
        const auto wanted = [&](const std::string& key) {
            return scope == nullptr || scope->count(key) > 0;
        };
        // A scoped run (a webhook) looks only at the bookings its guest keys name, not at every
        // booking in the window.
        std::vector<const snapshot::Booking*> bookings;
        if (scope == nullptr) {
            for (const auto& b : snap_.bookings) {
                bookings.push_back(&b);
            }
        } else {
            const std::string_view prefix = snapshot::kGuestKeyPrefix;
            for (auto it = scope->lower_bound(std::string(prefix));
                 it != scope->end() && it->starts_with(prefix); ++it) {
                const auto rest = std::string_view(*it).substr(prefix.size());
                const auto* b =
                    find_by_id(snap_.bookings, std::string(rest.substr(0, rest.find(':'))));
                if (b != nullptr && (bookings.empty() || bookings.back() != b)) {
                    bookings.push_back(b);
                }
            }
        }
        for (const auto* bp : bookings) {
            const auto& b = *bp;
            if ((b.visitors.empty() && b.members.empty()) || !booking_counts(b)) {
                continue;
            }
            const auto add = [&](const std::string& person_id, const std::string& name,
                                 const std::string& email) {
                GuestEntry g;
                g.person.id = snapshot::guest_key(b.id, person_id);
                if (!wanted(g.person.id)) {
                    return;
                }
                g.person.name = name;
                g.person.email = email;
                g.person.status = "guest";
                g.person.created_at = b.created_at;
                g.booking = &b;
                out.push_back(std::move(g));
            };
            for (const auto& v : b.visitors) {
                const auto* visitor = find_by_id(snap_.visitors, v);
                add(v, visitor ? visitor->name : "", visitor ? visitor->email : "");
            }
            if (!cfg_.mapping.guests->members_of_other_companies) {
                continue;
            }
            const auto* booker = snapshot::find_member(snap_, b.member);
            const std::string& booker_company =
                !b.company.empty() ? b.company : (booker ? booker->company : b.company);
            for (const auto& id : b.members) {
                const auto* m = snapshot::find_member(snap_, id);
                if (m == nullptr || (!booker_company.empty() && m->company == booker_company)) {
                    continue;  // a teammate: their own membership decides their access
                }
                add(id, m->name, m->email);
            }
        }
        return out;
    }

    /// Whether a guest has access now: inside the booking's window (the occurrence in effect
    /// for a recurring one) widened by the graces, at the booking's location only.
    Evaluation evaluate_guest(const GuestEntry& g) {
        Evaluation ev;
        const auto& b = *g.booking;
        const auto& guests = *cfg_.mapping.guests;
        const std::string label = "booking " + b.id;
        const AccessGroup* group = group_by_name(guests.group);
        if (group == nullptr || !group->access) {
            ev.reason = "guest group '" + guests.group + "' gives no access";
            return ev;
        }
        if (b.cancelled) {
            ev.reason = label + " is cancelled";
            return ev;
        }
        if (b.tentative) {
            ev.reason = label + " is tentative: its guests get access once it is confirmed";
            return ev;
        }
        if (!b.start || !b.end || *b.end <= *b.start) {
            ev.reason = label + " has no valid start and end";
            return ev;
        }
        // Where the booking is: its own location, else its resource's (some bookings carry
        // only the room).
        const auto* resource = find_by_id(snap_.resources, b.resource);
        const std::string& location =
            !b.location.empty() || resource == nullptr ? b.location : resource->location;
        const core::TimeZone zone =
            b.timezone.empty() ? zone_for(location, g.person) : zone_named(b.timezone);
        std::vector<detail::Occurrence> windows;
        if (b.rrule.empty()) {
            windows.push_back({*b.start, *b.end});
        } else {
            auto occ = detail::occurrences(
                b.rrule, *b.start, *b.end, zone, b.exdates, ctx_.now - guests.grace_after,
                ctx_.now + std::chrono::days{32} + guests.grace_before, 4);
            if (!occ) {
                ev.reason = label + ": " + occ.error().message;
                return ev;
            }
            windows = std::move(*occ);
        }
        const detail::Occurrence* current = nullptr;
        for (const auto& w : windows) {
            const auto from = w.start - guests.grace_before;
            const auto to = w.end + guests.grace_after;
            if (from <= ctx_.now && ctx_.now < to && current == nullptr) {
                current = &w;
                ev.consider(to, ctx_.now, "guest access of " + label + " ends");
            } else if (from > ctx_.now) {
                ev.consider(from, ctx_.now, "guest access of " + label + " begins");
            }
        }
        if (current == nullptr) {
            ev.reason = ev.next_change ? label + ": guest access begins " +
                                             core::format_instant(*ev.next_change)
                                       : label + " is over";
            return ev;
        }
        ev.group = group;
        if (cfg_.mapping.locations.empty()) {
            ev.unrestricted = true;
        } else {
            const auto* rule = location_rule(location);
            if (rule == nullptr) {
                ev.unmapped = true;
                ev.reason = label + ": location " + describe_location(location) + " is not mapped";
                return ev;
            }
            ev.locations = {rule};
        }
        if (group->ip_pool) {
            if (auto n = core::parse_ipv4_network(*group->ip_pool)) {
                ev.pool = *n;
                ev.pool_owner = "group '" + group->name + "'";
            }
        }
        ev.granted = true;
        ev.expires = current->end + guests.grace_after;
        ev.valid_from = current->start - guests.grace_before;
        ev.reason = "guest of " + label + " -> group " + group->name + "; location " +
                    (ev.unrestricted ? std::string("all locations") : ev.locations.front()->key) +
                    "; from " + core::format_instant(current->start - guests.grace_before) +
                    " until " + core::format_instant(*ev.expires);
        return ev;
    }

    /// When the disabled account of a member whose passes expired is removed: the first sweep
    /// time (passes.sweep_at, or the home location's pass_sweep_at, local) at or after `since`.
    core::Instant pass_sweep_after(const snapshot::Member* member, core::Instant since) {
        const std::string home = member ? home_location_id(*member, {}) : std::string();
        const auto zone = member ? zone_for("", *member) : default_zone_;
        std::chrono::minutes at =
            cfg_.mapping.passes ? cfg_.mapping.passes->sweep_at : std::chrono::minutes{0};
        if (const auto* rule = location_rule(home); rule && rule->pass_sweep_at) {
            at = *rule->pass_sweep_at;
        }
        return zone.next_local(since - std::chrono::seconds{1}, at);
    }

    const LocationRule* location_rule(const std::string& location_id) const {
        const auto* loc = find_by_id(snap_.locations, location_id);
        for (const auto& rule : cfg_.mapping.locations) {
            if (matches(rule.match, location_id, loc ? loc->name : "", loc ? loc->code : "")) {
                return &rule;
            }
        }
        return nullptr;
    }

private:
    // The member's memberships (personal, and their company's) that grant access now, with a
    // note for each that does not; their dates are scheduled on the way.
    std::vector<Grant> memberships_in_effect(const snapshot::Member& member, Evaluation& ev,
                                             std::vector<std::string>& notes, bool& unmapped_plan) {
        std::vector<const snapshot::Membership*> candidates;
        std::vector<std::string> company_notes;
        if (auto it = personal_.find(member.id); it != personal_.end()) {
            candidates = it->second;
        }
        if (!member.company.empty()) {
            auto it = by_company_.find(member.company);
            if (find_by_id(snap_.companies, member.company) == nullptr) {
                // A company that is gone (company.removed, or no longer listed) takes its
                // memberships' access with it; the member's personal memberships still count.
                if (it != by_company_.end()) {
                    company_notes.push_back(
                        "company " + member.company +
                        " is no longer in OfficeRnD, so its memberships do not count");
                }
            } else if (it != by_company_.end()) {
                candidates.insert(candidates.end(), it->second.begin(), it->second.end());
            }
        }
        if (candidates.empty()) {
            notes.insert(notes.begin(), company_notes.begin(), company_notes.end());
            notes.insert(notes.begin(), "no membership (personal or company)");
            return {};
        }
        notes.insert(notes.end(), company_notes.begin(), company_notes.end());
        std::vector<Grant> granting;
        for (const auto* m : candidates) {
            const std::string label = describe_membership(*m);
            const PlanRule* rule = plan_rule(m->plan);
            const AccessGroup* group = rule == nullptr ? nullptr : group_by_name(rule->group);
            const core::TimeZone zone = zone_for(m->location, member);
            schedule_dates(*m, zone, label, ev);
            // Whether it runs today comes first: an ended membership is not a mapping gap.
            if (auto why_not = inactive_reason(*m, zone)) {
                notes.push_back(label + ": " + *why_not);
                continue;
            }
            if (rule == nullptr) {
                notes.push_back(label + ": plan " + describe_plan(m->plan) + " is not mapped");
                unmapped_plan = true;
                continue;
            }
            if (group == nullptr) {
                continue;  // the loader rejects plans naming unknown groups; be defensive
            }
            if (!group->access) {
                notes.push_back(label + ": group " + group->name + " has access: none");
                continue;
            }
            Grant g{label, m->location, group, rule->roaming, std::nullopt};
            if (m->end_date) {
                g.ends = zone.start_of(
                    core::Date{std::chrono::sys_days{*m->end_date} + std::chrono::days{1}});
            }
            granting.push_back(std::move(g));
        }
        return granting;
    }

    // The member's passes that grant access now (officernd-api.md §5.8), scheduling each
    // one's window; `status_from_pass` is set when one in effect has shouldGrantActiveStatus.
    std::vector<Grant> passes_in_effect(const snapshot::Member& member, Evaluation& ev,
                                        std::vector<std::string>& notes, bool& status_from_pass) {
        std::vector<Grant> out;
        if (!cfg_.mapping.passes || pass_group_ == nullptr || !pass_group_->access) {
            return out;
        }
        std::vector<const snapshot::Pass*> held;
        if (auto it = passes_of_member_.find(member.id); it != passes_of_member_.end()) {
            held = it->second;
        }
        if (!member.company.empty() && find_by_id(snap_.companies, member.company) != nullptr) {
            if (auto it = passes_of_company_.find(member.company); it != passes_of_company_.end()) {
                held.insert(held.end(), it->second.begin(), it->second.end());
            }
        }
        for (const auto* p : held) {
            const std::string label = describe_pass(*p);
            const std::string location = p->location;
            const core::TimeZone zone = zone_for(location, member);
            const auto window = pass_window(*p, zone);
            if (!window) {
                notes.push_back(label + ": " + window.error().message);
                continue;
            }
            const auto [from, to] = *window;
            ev.consider(from, ctx_.now, label + " starts");
            ev.consider(to, ctx_.now, label + " ends");
            if (ctx_.now < from) {
                notes.push_back(label + ": starts " + core::format_instant(from));
                continue;
            }
            if (ctx_.now >= to) {
                notes.push_back(label + ": ended " + core::format_instant(to));
                continue;
            }
            // "home" for a pass is where it was bought: the grant's own location.
            const Roaming roaming = cfg_.mapping.passes->roaming == Roaming::kAll
                                        ? Roaming::kAll
                                        : Roaming::kMembership;
            out.push_back(Grant{label, location, pass_group_, roaming, to, from});
            status_from_pass = status_from_pass || p->grants_active_status;
        }
        return out;
    }

    // When a pass gives access: [validFrom, validTo), or to the end of validFrom's local day
    // (or 24 h after it) when it has no end. A pass whose passes are all used covers only the
    // rest of the day its last one was used on (the day OfficeRnD last changed it): the holder
    // is in the building that day, and not after.
    Result<std::pair<core::Instant, core::Instant>> pass_window(const snapshot::Pass& p,
                                                                const core::TimeZone& zone) const {
        const bool used_up = p.status == "used" ||
                             (p.count && p.used_count && *p.count > 0 && *p.used_count >= *p.count);
        if (p.status != "valid" && !used_up) {
            return Error(Errc::kNotFound, p.status.empty() ? std::string("pass has no status")
                                                           : "pass status is '" + p.status + "'");
        }
        if (!p.valid_from) {
            return Error(Errc::kNotFound, "pass has no validFrom");
        }
        const core::Instant from = *p.valid_from;
        const auto end_of_day = [&](core::Instant t) {
            return zone.start_of(
                core::Date{std::chrono::sys_days{zone.local_date(t)} + std::chrono::days{1}});
        };
        core::Instant to = from;
        if (p.valid_to) {
            to = *p.valid_to;
        } else if (cfg_.mapping.passes->open_end == config::PassOpenEnd::k24Hours) {
            to = from + std::chrono::hours{24};
        } else {
            to = end_of_day(from);
        }
        if (used_up) {
            if (!p.modified_at) {
                return Error(Errc::kNotFound, "every pass of the set is used");
            }
            to = std::min(to, end_of_day(std::max(*p.modified_at, from)));
        }
        if (to <= from) {
            return Error(Errc::kNotFound, "pass ends before it starts");
        }
        return std::pair{from, to};
    }

    std::string describe_pass(const snapshot::Pass& p) const {
        std::string label = "pass";
        if (!p.resource_type.empty()) {
            label += " '" + p.resource_type + "'";
        }
        label += " " + p.id;
        if (p.member.empty()) {
            label += " (company)";
        }
        return label;
    }

    // Whether bookings of this booking's resource give guests access: the resource's type,
    // or its resource type's key, title or id, is one the mapping lists.
    bool booking_counts(const snapshot::Booking& b) const {
        const auto* resource = find_by_id(snap_.resources, b.resource);
        if (resource == nullptr) {
            return false;
        }
        const auto& listed = cfg_.mapping.guests->resource_types;
        const auto is_listed = [&](const std::string& v) {
            return !v.empty() && std::find(listed.begin(), listed.end(), v) != listed.end();
        };
        if (is_listed(resource->type)) {
            return true;
        }
        for (const auto& t : snap_.resource_types) {
            if ((t.id == resource->type || t.type == resource->type) &&
                (is_listed(t.type) || is_listed(t.title) || is_listed(t.id))) {
                return true;
            }
        }
        return false;
    }

    // The company network of a granted member: the mapping's VLAN and pool for their company,
    // else the VLAN in the company property the mapping names; the group's pool otherwise.
    void network_for(const snapshot::Member& member, Evaluation& ev) const {
        const auto* rule = company_rule(member.company);
        const auto* company = find_by_id(snap_.companies, member.company);
        if (rule && rule->vlan) {
            ev.company_vlan = rule->vlan;
        } else if (company && !cfg_.mapping.company_vlan_property.empty()) {
            if (const auto it = company->properties.find(cfg_.mapping.company_vlan_property);
                it != company->properties.end()) {
                int vlan = 0;
                const auto& text = it->second;
                const auto [end, ec] =
                    std::from_chars(text.data(), text.data() + text.size(), vlan);
                if (ec == std::errc() && end == text.data() + text.size() && vlan >= 1 &&
                    vlan <= 4094) {
                    ev.company_vlan = vlan;
                } else if (!text.empty()) {
                    ev.reason += "; company property '" + cfg_.mapping.company_vlan_property +
                                 "' is not a VLAN (1..4094): '" + text + "', ignored";
                }
            }
        }
        const auto pool_of = [](const std::optional<std::string>& text) {
            std::optional<core::Ipv4Network> out;
            if (text) {
                if (auto n = core::parse_ipv4_network(*text)) {
                    out = *n;
                }
            }
            return out;
        };
        if (rule && rule->ip_pool) {
            ev.pool = pool_of(rule->ip_pool);
            ev.pool_owner = "company '" +
                            (company && !company->name.empty() ? company->name : member.company) +
                            "'";
        } else if (ev.group && ev.group->ip_pool) {
            ev.pool = pool_of(ev.group->ip_pool);
            ev.pool_owner = "group '" + ev.group->name + "'";
        }
    }

    // A membership's dates are transitions: access may begin at the start of its first day and
    // end at the start of the day after its last, both in its location's zone.
    void schedule_dates(const snapshot::Membership& m, const core::TimeZone& zone,
                        const std::string& label, Evaluation& ev) const {
        if (m.status == "not_approved" || m.calculated_status == "not_approved") {
            return;
        }
        if (m.start_date) {
            ev.consider(zone.start_of(*m.start_date), ctx_.now, label + " starts");
        }
        if (m.end_date) {
            const auto day_after =
                core::Date{std::chrono::sys_days{*m.end_date} + std::chrono::days{1}};
            ev.consider(zone.start_of(day_after), ctx_.now, label + " ends");
        }
    }

    std::optional<std::string> inactive_reason(const snapshot::Membership& m,
                                               const core::TimeZone& zone) const {
        if (m.status == "not_approved" || m.calculated_status == "not_approved") {
            return "not approved";
        }
        const core::Date today = zone.local_date(ctx_.now);
        if (m.start_date && today < *m.start_date) {
            return "starts " + core::format_date(*m.start_date);
        }
        if (m.end_date && today > *m.end_date) {
            return "ended " + core::format_date(*m.end_date);
        }
        // Without dates, OfficeRnD's own verdict is all we have. With dates, the dates win:
        // calculatedStatus is not updated by a webhook when a date passes.
        if (!m.start_date && m.calculated_status == "not_started") {
            return "not started";
        }
        if (!m.end_date && m.calculated_status == "expired") {
            return "expired";
        }
        return std::nullopt;
    }

    std::vector<const LocationRule*> allowed_locations(const snapshot::Member& member,
                                                       const std::vector<Grant>& granting,
                                                       Roaming roaming) const {
        std::vector<const LocationRule*> out;
        auto add = [&](const LocationRule* r) {
            if (r != nullptr && std::find(out.begin(), out.end(), r) == out.end()) {
                out.push_back(r);
            }
        };
        switch (roaming) {
            case Roaming::kAll:
                for (const auto& r : cfg_.mapping.locations) {
                    add(&r);
                }
                break;
            case Roaming::kMembership:
                for (const auto& g : granting) {
                    add(location_rule(g.location_id.empty() ? home_location_id(member, {})
                                                            : g.location_id));
                }
                break;
            case Roaming::kHome:
                add(location_rule(home_location_id(member, granting)));
                break;
        }
        std::sort(out.begin(), out.end(),
                  [](const LocationRule* a, const LocationRule* b) { return a->key < b->key; });
        return out;
    }

    // The member's home: their own location, else their company's, else the location of their
    // first granting membership. OfficeRnD leaves `location` empty on some imported members.
    std::string home_location_id(const snapshot::Member& member,
                                 const std::vector<Grant>& granting) const {
        if (!member.location.empty()) {
            return member.location;
        }
        if (const auto* c = find_by_id(snap_.companies, member.company);
            c && !c->location.empty()) {
            return c->location;
        }
        for (const auto& g : granting) {
            if (!g.location_id.empty()) {
                return g.location_id;
            }
        }
        return {};
    }

    std::string home_location_note(const snapshot::Member& member,
                                   const std::vector<Grant>& granting) const {
        const std::string id = home_location_id(member, granting);
        if (id.empty()) {
            return "member has no home location";
        }
        return "location " + describe_location(id) + " is not mapped";
    }

    core::TimeZone zone_for(const std::string& membership_location,
                            const snapshot::Member& member) {
        const std::string& location_id =
            membership_location.empty() ? member.location : membership_location;
        std::string name;
        if (const auto* rule = location_rule(location_id); rule && rule->timezone) {
            name = *rule->timezone;
        } else if (const auto* loc = find_by_id(snap_.locations, location_id)) {
            name = loc->timezone;
        }
        return zone_named(name);
    }

    core::TimeZone zone_named(const std::string& name) {
        if (name.empty()) {
            return default_zone_;
        }
        auto it = zones_.find(name);
        if (it == zones_.end()) {
            auto z = core::TimeZone::locate(name);
            // An unknown zone from OfficeRnD must not cost anyone access: fall back to the
            // configured default.
            it = zones_.emplace(name, z ? *z : default_zone_).first;
        }
        return it->second;
    }

    const PlanRule* plan_rule(const std::string& plan_id) const {
        const auto* plan = find_by_id(snap_.plans, plan_id);
        for (const auto& rule : cfg_.mapping.plans) {
            if (matches(rule.match, plan_id, plan ? plan->name : "", plan ? plan->code : "")) {
                return &rule;
            }
        }
        return nullptr;
    }

    const AccessGroup* group_by_name(const std::string& name) const {
        for (const auto& g : cfg_.mapping.groups) {
            if (g.name == name) {
                return &g;
            }
        }
        return nullptr;
    }

    std::string describe_membership(const snapshot::Membership& m) const {
        std::string label = "membership '" + (m.name.empty() ? m.id : m.name) + "'";
        if (m.member.empty()) {
            label += " (company)";
        }
        return label;
    }

    std::string describe_plan(const std::string& plan_id) const {
        const auto* plan = find_by_id(snap_.plans, plan_id);
        return plan && !plan->name.empty() ? "'" + plan->name + "'" : "'" + plan_id + "'";
    }

    std::string describe_location(const std::string& id) const {
        const auto* loc = find_by_id(snap_.locations, id);
        return loc && !loc->name.empty() ? "'" + loc->name + "'" : "'" + id + "'";
    }

    static std::string join(const std::vector<std::string>& parts, const char* sep) {
        std::string out;
        for (const auto& p : parts) {
            out += (out.empty() ? "" : sep) + p;
        }
        return out;
    }

    const snapshot::Snapshot& snap_;
    const config::Config& cfg_;
    const Context& ctx_;
    core::TimeZone default_zone_;
    std::map<std::string, core::TimeZone> zones_;
    std::map<std::string, std::vector<const snapshot::Membership*>> personal_;
    std::map<std::string, std::vector<const snapshot::Membership*>> by_company_;
    const AccessGroup* pass_group_ = nullptr;
    std::map<std::string, std::vector<const snapshot::Pass*>> passes_of_member_;
    std::map<std::string, std::vector<const snapshot::Pass*>> passes_of_company_;
};

// The login name a member would get, before collision checks.
Result<std::string> login_name_for(const snapshot::Member& m, const config::Accounts& accounts) {
    std::string raw;
    switch (accounts.username_format) {
        case config::UsernameFormat::kEmail:
            if (m.email.empty()) {
                return Error(Errc::kMalformedPayload, "member has no e-mail address");
            }
            raw = m.email;
            break;
        case config::UsernameFormat::kMemberId:
            raw = m.id;
            break;
        case config::UsernameFormat::kTemplate: {
            const std::string& t = accounts.username_template;
            for (std::size_t i = 0; i < t.size();) {
                if (t[i] != '{') {
                    raw.push_back(t[i++]);
                    continue;
                }
                const auto close = t.find('}', i);
                if (close == std::string::npos) {
                    return Error(Errc::kConfigInvalid, "unterminated placeholder in template");
                }
                const std::string key = t.substr(i + 1, close - i - 1);
                std::string value;
                if (key == "email") {
                    value = m.email;
                } else if (key == "_id") {
                    value = m.id;
                } else if (key == "name") {
                    value = m.name;
                } else if (key.rfind("properties.", 0) == 0) {
                    if (auto it = m.properties.find(key.substr(11)); it != m.properties.end()) {
                        value = it->second;
                    }
                }
                if (value.empty()) {
                    return Error(Errc::kMalformedPayload,
                                 "username template field {" + key + "} is empty");
                }
                raw += value;
                i = close + 1;
            }
            break;
        }
    }
    return normalise_login_name(raw, accounts.username_case == config::UsernameCase::kLower);
}

// What the radcheck password row of a granted member holds. Never a password in clear unless
// the operator chose `storage: cleartext`; a generated password is returned once in
// `generated` (to be handed over) and then forgotten.
struct PasswordRow {
    std::string value;      // NT hash (hex) or, with storage: cleartext, the password
    std::string attribute;  // NT-Password / Cleartext-Password
    std::string mac;        // keyed hash of a custom property's value; "" for generated ones
    std::string generated;  // a password generated by this run, in clear; "" otherwise
};

Result<PasswordRow> password_row(const snapshot::Member& m, const store::AccountRecord* acc,
                                 const config::Config& cfg, const Context& ctx,
                                 std::optional<int> guest_code_length = std::nullopt) {
    const bool nt = cfg.accounts.password_storage == config::PasswordStorage::kNtHash;
    PasswordRow row;
    row.attribute = nt ? kPasswordAttributeNt : kPasswordAttributeClear;
    const bool reusable =
        acc != nullptr && !acc->secret.empty() && acc->secret_attribute == row.attribute;
    const auto derive = [&](const std::string& password) -> Status {
        if (auto usable = check_usable_password(password); !usable) {
            return usable.error();
        }
        if (!nt) {
            row.value = password;
            return {};
        }
        auto hash = nt_hash_hex(password);
        if (!hash) {
            return hash.error();
        }
        row.value = std::move(*hash);
        return {};
    };

    if (cfg.accounts.password_source == config::PasswordSource::kGenerate || guest_code_length) {
        // Generated once, kept as its hash: the same password across runs and revocations.
        // A guest's access code is always generated.
        if (reusable && acc->secret_mac.empty() && ctx.reset_passwords.count(m.id) == 0) {
            row.value = acc->secret;
            return row;
        }
        row.generated =
            ctx.generate_password(guest_code_length.value_or(cfg.accounts.password_length));
        if (auto s = derive(row.generated); !s) {
            return s.error();
        }
        return row;
    }

    const std::string& property = cfg.accounts.password_property;
    const auto it = m.properties.find(property);
    if (it == m.properties.end() || it->second.empty()) {
        return Error(Errc::kMalformedPayload, "custom property '" + property + "' is empty");
    }
    const std::string& value = it->second;
    if (is_keyed_hash(value)) {
        // The stored snapshot keeps only the value's keyed hash: the account holds what it
        // became, as long as the value has not changed since.
        if (reusable && acc->secret_mac == value) {
            row.value = acc->secret;
            row.mac = value;
            return row;
        }
        return Error(Errc::kMalformedPayload,
                     "custom property '" + property +
                         "' is known here only as a keyed hash; it is read again from "
                         "OfficeRnD at the next poll");
    }
    row.mac = ctx.keyed_hash ? ctx.keyed_hash(value) : std::string();
    if (reusable && !row.mac.empty() && acc->secret_mac == row.mac) {
        row.value = acc->secret;  // unchanged: no need to hash it again
        return row;
    }
    if (auto s = derive(value); !s) {
        return Error(s.error().code, "custom property '" + property + "': " + s.error().message);
    }
    return row;
}

void add_user_rows(const store::AccountRecord& account, const Evaluation& ev,
                   std::vector<RadRow>& rows) {
    rows.push_back(
        {Table::kRadcheck, account.username, account.secret_attribute, ":=", account.secret, 0});
    if (ev.expires) {
        rows.push_back({Table::kRadcheck, account.username, "Expiration",
                        ":=", std::to_string(ev.expires->time_since_epoch().count()), 0});
    }
    // Per-user reply rows win over the site groups' (those use "=", freeradius.md §4.1).
    if (!account.address.empty()) {
        rows.push_back(
            {Table::kRadreply, account.username, "Framed-IP-Address", ":=", account.address, 0});
    }
    if (ev.company_vlan) {
        rows.push_back({Table::kRadreply, account.username, "Tunnel-Type", ":=", "VLAN", 0});
        rows.push_back(
            {Table::kRadreply, account.username, "Tunnel-Medium-Type", ":=", "IEEE-802", 0});
        rows.push_back({Table::kRadreply, account.username, "Tunnel-Private-Group-Id",
                        ":=", std::to_string(*ev.company_vlan), 0});
    }
    rows.push_back({Table::kRadusergroup, account.username, plan_group_name(ev.group->name), "", "",
                    kPlanPriority});
    if (ev.unrestricted) {
        return;
    }
    int priority = kFirstSitePriority;
    for (const auto* loc : ev.locations) {
        const std::size_t matchers =
            loc->nas_identifiers.size() + loc->ssids.size() + loc->nas_ip_addresses.size();
        for (std::size_t i = 1; i <= matchers; ++i) {
            rows.push_back({Table::kRadusergroup, account.username, site_group_name(loc->key, i),
                            "", "", priority++});
        }
    }
    rows.push_back(
        {Table::kRadusergroup, account.username, std::string(kDenyGroup), "", "", kDenyPriority});
}

std::string location_list(const Evaluation& ev) {
    if (ev.unrestricted) {
        return "*";
    }
    std::string out;
    for (const auto* l : ev.locations) {
        out += (out.empty() ? "" : ",") + l->key;
    }
    return out;
}

// Gives every granted member that needs one an address of their own: an explicit one from
// the member property the mapping names, else one from their company's or group's pool,
// stable across runs. Addresses other accounts hold (disabled ones until they are removed,
// and in a scoped run those outside the scope) are never handed out. A member who cannot get
// one is refused with the reason.
template <class Candidates, class RetentionOver>
void assign_member_addresses(Candidates& candidates, const config::Config& cfg, const Context& ctx,
                             const RetentionOver& retention_over) {
    const std::string& property = cfg.mapping.member_address_property;
    std::vector<detail::AddressRequest> requests;
    std::vector<typename Candidates::value_type*> requesters;
    std::set<std::string> requesting;
    for (auto& c : candidates) {
        if (!c.ev.granted || !c.refusal.empty()) {
            continue;
        }
        detail::AddressRequest r;
        r.member_id = c.member->id;
        if (!property.empty()) {
            if (const auto it = c.member->properties.find(property);
                it != c.member->properties.end() && !it->second.empty()) {
                r.fixed = core::parse_ipv4(it->second);
                r.fixed_source = "member property '" + property + "'";
                if (!r.fixed) {
                    c.refusal = "member property '" + property + "' is not an IPv4 address: '" +
                                it->second + "'";
                    c.problem = Decision::Problem::kNoAddress;
                    continue;
                }
            }
        }
        r.pool = c.ev.pool;
        r.pool_owner = c.ev.pool_owner;
        if (!r.fixed && !r.pool) {
            continue;
        }
        if (const auto acc = ctx.accounts.find(r.member_id); acc != ctx.accounts.end()) {
            r.current = core::parse_ipv4(acc->second.address);
        }
        requesting.insert(r.member_id);
        requests.push_back(std::move(r));
        requesters.push_back(&c);
    }
    std::map<std::uint32_t, std::string> held;
    for (const auto& [member_id, acc] : ctx.accounts) {
        if (requesting.count(member_id) == 0 && !retention_over(acc)) {
            if (const auto a = core::parse_ipv4(acc.address)) {
                held.emplace(*a, member_id);
            }
        }
    }
    for (const auto& [address, member_id] : ctx.addresses_in_use) {
        if (requesting.count(member_id) == 0 && ctx.accounts.count(member_id) == 0) {
            if (const auto a = core::parse_ipv4(address)) {
                held.emplace(*a, member_id);
            }
        }
    }
    const auto results = detail::assign_addresses(requests, held);
    for (std::size_t i = 0; i < results.size(); ++i) {
        auto& c = *requesters[i];
        if (results[i].address) {
            c.address = core::format_ipv4(*results[i].address);
        } else {
            c.refusal = results[i].refusal;
            c.problem = Decision::Problem::kNoAddress;
        }
    }
}

// A new guest's user name (derived_guest_username), or a random one when no key is at hand.
std::string guest_username(const std::string& key, const config::Guests& guests,
                           const Context& ctx) {
    if (ctx.keyed_hash) {
        if (auto derived = derived_guest_username(key, guests, ctx.keyed_hash); !derived.empty()) {
            return derived;
        }
    }
    return guest_name_from(ctx.generate_password(64), guests);
}

bool earlier_claim(const snapshot::Member* a, const snapshot::Member* b) {
    // Members created earlier keep a contested username; ids break ties deterministically.
    const auto ta = a->created_at.value_or(core::Instant::max());
    const auto tb = b->created_at.value_or(core::Instant::max());
    return std::tie(ta, a->id) < std::tie(tb, b->id);
}

}  // namespace

std::string guest_name_from(std::string_view entropy, const config::Guests& guests) {
    static constexpr std::string_view kAlphabet = "abcdefghjkmnpqrstuvwxyz23456789";
    // Bytes at or above the largest multiple of the alphabet's size are skipped: uniform.
    constexpr unsigned kLimit = 256 - (256 % kAlphabet.size());
    const std::size_t length =
        guests.username_prefix.size() + static_cast<std::size_t>(guests.username_length);
    std::string out = guests.username_prefix;
    for (char c : entropy) {
        const auto b = static_cast<unsigned char>(c);
        if (b < kLimit && out.size() < length) {
            out.push_back(kAlphabet[b % kAlphabet.size()]);
        }
    }
    return out.size() == length ? out : std::string();
}

std::string derived_guest_username(const std::string& key, const config::Guests& guests,
                                   const std::function<std::string(std::string_view)>& keyed_hash) {
    // The keyed hash ends in 64 hex digits (mapping::keyed_hash): 32 bytes of entropy.
    const std::string h = keyed_hash ? keyed_hash(key) : std::string();
    if (h.size() < 64) {
        return {};
    }
    const auto nibble = [](char c) -> int {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    std::string bytes;
    for (std::size_t i = h.size() - 64; i + 1 < h.size(); i += 2) {
        const int hi = nibble(h[i]);
        const int lo = nibble(h[i + 1]);
        if (hi < 0 || lo < 0) {
            return {};
        }
        bytes.push_back(static_cast<char>(hi * 16 + lo));
    }
    return guest_name_from(bytes, guests);
}

std::string plan_group_name(const std::string& access_group) {
    return std::string(kGroupPrefix) + "plan:" + access_group;
}

std::string site_group_name(const std::string& location_key, std::size_t index) {
    return std::string(kGroupPrefix) + "site:" + location_key + ":" + std::to_string(index);
}

const char* to_string(Decision::Outcome o) {
    switch (o) {
        case Decision::Outcome::kGranted:
            return "granted";
        case Decision::Outcome::kRevoked:
            return "revoked";
        case Decision::Outcome::kRemoved:
            return "removed";
        case Decision::Outcome::kNoAccess:
            return "no-access";
        case Decision::Outcome::kConflict:
            return "conflict";
    }
    return "unknown";
}

const char* to_string(Decision::Problem p) {
    switch (p) {
        case Decision::Problem::kNone:
            return "";
        case Decision::Problem::kConflict:
            return "conflict";
        case Decision::Problem::kNoUsername:
            return "username";
        case Decision::Problem::kUnusablePassword:
            return "password";
        case Decision::Problem::kUnmapped:
            return "unmapped";
        case Decision::Problem::kNoAddress:
            return "address";
    }
    return "unknown";
}

std::string candidate_username(const snapshot::Member& member, const config::Accounts& accounts) {
    auto login = login_name_for(member, accounts);
    return login ? radius_escape(*login) : std::string();
}

bool uses_addresses(const config::Mapping& mapping) {
    if (!mapping.member_address_property.empty()) {
        return true;
    }
    for (const auto& c : mapping.companies) {
        if (c.ip_pool) {
            return true;
        }
    }
    return std::any_of(mapping.groups.begin(), mapping.groups.end(),
                       [](const AccessGroup& g) { return g.ip_pool.has_value(); });
}

std::vector<RadRow> group_rows(const config::Config& cfg) {
    std::vector<RadRow> rows;
    auto reply = [&](const std::string& group, const std::string& attr, const std::string& op,
                     const std::string& value) {
        rows.push_back({Table::kRadgroupreply, group, attr, op, value, 0});
    };
    auto check = [&](const std::string& group, const std::string& attr, const std::string& op,
                     const std::string& value) {
        rows.push_back({Table::kRadgroupcheck, group, attr, op, value, 0});
    };
    const auto& bw = cfg.radius.bandwidth_attributes;
    const bool wispr =
        std::find(bw.begin(), bw.end(), config::BandwidthAttributes::kWispr) != bw.end();
    const bool mikrotik =
        std::find(bw.begin(), bw.end(), config::BandwidthAttributes::kMikrotik) != bw.end();

    for (const auto& g : cfg.mapping.groups) {
        if (!g.access) {
            continue;  // nobody is ever placed in an access: none group
        }
        const std::string name = plan_group_name(g.name);
        if (wispr && g.bandwidth_down_bps) {
            reply(name, "WISPr-Bandwidth-Max-Down", ":=", std::to_string(*g.bandwidth_down_bps));
        }
        if (wispr && g.bandwidth_up_bps) {
            reply(name, "WISPr-Bandwidth-Max-Up", ":=", std::to_string(*g.bandwidth_up_bps));
        }
        if (mikrotik && (g.bandwidth_down_bps || g.bandwidth_up_bps)) {
            // MikroTik reads "rx/tx" from the router's side: rx is the member's upload. 0 means
            // no limit in that direction.
            reply(name, "Mikrotik-Rate-Limit", ":=",
                  mikrotik_rate(g.bandwidth_up_bps.value_or(0)) + "/" +
                      mikrotik_rate(g.bandwidth_down_bps.value_or(0)));
        }
        if (g.session_timeout) {
            reply(name, "Session-Timeout", ":=", std::to_string(g.session_timeout->count()));
        }
        // Interim updates keep the accounting database's open sessions provably alive: one
        // that stops hearing them is closed as stale (session::stale_cutoff).
        if (!config::replies_set_interim_interval(g)) {
            reply(name, "Acct-Interim-Interval",
                  ":=", std::to_string(config::interim_interval_of(g, cfg.sessions).count()));
        }
        for (const auto& extra : g.reply) {
            reply(name, extra.attribute, extra.op, extra.value);
        }
        // Without Fall-Through the walk stops at the plan group and the site groups (VLAN,
        // location restriction) are never evaluated (freeradius.md §4.1).
        reply(name, "Fall-Through", "=", "Yes");
        if (g.simultaneous_use) {
            check(name, "Simultaneous-Use", ":=", std::to_string(*g.simultaneous_use));
        }
    }

    for (const auto& loc : cfg.mapping.locations) {
        std::size_t index = 0;
        auto site = [&](const std::string& attr, const std::string& op, const std::string& value) {
            const std::string name = site_group_name(loc.key, ++index);
            check(name, attr, op, value);
            if (loc.vlan) {
                // "=": a member's own VLAN (their company's) in radreply wins over the site's.
                reply(name, "Tunnel-Type", "=", "VLAN");
                reply(name, "Tunnel-Medium-Type", "=", "IEEE-802");
                reply(name, "Tunnel-Private-Group-Id", "=", std::to_string(*loc.vlan));
            }
        };
        for (const auto& id : loc.nas_identifiers) {
            site("NAS-Identifier", "==", id);
        }
        for (const auto& ssid : loc.ssids) {
            // Called-Station-Id is "AP-MAC:SSID"; the MAC differs per access point.
            site("Called-Station-Id", "=~", ":" + regex_escape(ssid) + "$");
        }
        for (const auto& ip : loc.nas_ip_addresses) {
            site("NAS-IP-Address", "==", ip);
        }
    }
    if (!cfg.mapping.locations.empty()) {
        const std::string deny(kDenyGroup);
        check(deny, "Auth-Type", ":=", "Reject");
        reply(deny, "Reply-Message", ":=", "Not allowed at this location");
    }
    return rows;
}

DesiredState map_snapshot(const snapshot::Snapshot& snap, const config::Config& cfg,
                          const Context& ctx) {
    DesiredState out;
    if (ctx.scope == nullptr) {
        out.rows = group_rows(cfg);
    }
    auto in_scope = [&](const std::string& member_id) {
        return ctx.scope == nullptr || ctx.scope->count(member_id) > 0;
    };
    Mapper mapper(snap, cfg, ctx);

    struct Candidate {
        const snapshot::Member* member;
        Evaluation ev;
        std::string login;     // empty if no username could be formed
        std::string username;  // escaped form, as stored
        std::string refusal;   // why a granted member still gets no account
        std::string note;      // a soft problem worth showing (kept previous username)
        Decision::Problem problem = Decision::Problem::kNone;  // why a refusal happened
        std::string address;  // the member's own Framed-IP-Address, if any
        bool guest = false;   // a booking's guest (member is the GuestEntry's person)
    };
    std::vector<Candidate> candidates;
    std::vector<const snapshot::Member*> members;  // to map, in id order
    if (ctx.scope != nullptr) {
        for (const auto& id : *ctx.scope) {  // a std::set: already in id order
            if (const auto* m = snapshot::find_member(snap, id)) {
                members.push_back(m);
            }
        }
    } else {
        members.reserve(snap.members.size());
        for (const auto& m : snap.members) {
            members.push_back(&m);
        }
    }
    candidates.reserve(members.size());
    for (const auto* mp : members) {
        const snapshot::Member& m = *mp;
        Candidate c{&m, mapper.evaluate(m), {}, {}, {}, {}, Decision::Problem::kNone, {}, false};
        if (c.ev.granted) {
            if (auto login = login_name_for(m, cfg.accounts); login) {
                c.login = *login;
                c.username = radius_escape(*login);
            } else {
                c.refusal = login.error().message;
                c.problem = Decision::Problem::kNoUsername;
            }
        } else if (c.ev.unmapped) {
            c.problem = Decision::Problem::kUnmapped;
        }
        candidates.push_back(std::move(c));
    }

    auto existing = [&](const std::string& member_id) -> const store::AccountRecord* {
        auto it = ctx.accounts.find(member_id);
        return it == ctx.accounts.end() ? nullptr : &it->second;
    };

    // Meeting-room guests, after the members: a guest keeps the name their account has.
    const std::vector<Mapper::GuestEntry> guests = mapper.guest_entries(ctx.scope);
    for (const auto& g : guests) {
        Candidate c{&g.person, mapper.evaluate_guest(g), {}, {},  {},
                    {},        Decision::Problem::kNone, {}, true};
        if (c.ev.granted) {
            const auto* acc = existing(g.person.id);
            c.username =
                acc ? acc->username : guest_username(g.person.id, *cfg.mapping.guests, ctx);
            c.login = c.username;
        } else if (c.ev.unmapped) {
            c.problem = Decision::Problem::kUnmapped;
        }
        candidates.push_back(std::move(c));
    }

    // Username claims: the member already holding a username keeps it; otherwise the earliest
    // created member wins. Losers are refused and told who holds the name: never merged.
    std::vector<Candidate*> claimants;
    for (auto& c : candidates) {
        if (c.ev.granted && c.refusal.empty()) {
            claimants.push_back(&c);
        }
    }
    std::sort(claimants.begin(), claimants.end(), [&](const Candidate* a, const Candidate* b) {
        const auto* ea = existing(a->member->id);
        const auto* eb = existing(b->member->id);
        const bool ha = ea && ea->username == a->username;
        const bool hb = eb && eb->username == b->username;
        if (ha != hb) {
            return ha;
        }
        return earlier_claim(a->member, b->member);
    });
    // When a disabled account is removed: after the retention, or for an account that had
    // access through passes alone, at the next pass sweep of its location.
    const auto removal_at = [&](const store::AccountRecord& acc) {
        if (acc.kind == store::AccountKind::kPass) {
            return mapper.pass_sweep_after(snapshot::find_member(snap, acc.member_id),
                                           acc.state_since);
        }
        return acc.state_since + cfg.sync.revoked_retention;
    };
    const auto retention_over = [&](const store::AccountRecord& acc) {
        return acc.state == store::AccountState::kRevoked && ctx.now >= removal_at(acc);
    };
    // Every account holds its username until it is finally removed: a disabled one for the whole
    // retention, so that a returning member gets their own name back and nobody else is handed
    // it meanwhile (a scoped run also counts every account outside its scope as a holder).
    std::map<std::string, std::string> claimed;  // username -> member id
    for (const auto& [member_id, acc] : ctx.accounts) {
        if (!in_scope(member_id) || !retention_over(acc)) {
            claimed.emplace(acc.username, member_id);
        }
    }
    const auto claimed_by = [&](const std::string& username) -> const std::string* {
        const auto it = claimed.find(username);
        return it == claimed.end() ? nullptr : &it->second;
    };
    std::set<std::string> claimant_ids;
    for (const auto* c : claimants) {
        claimant_ids.insert(c->member->id);
    }
    const auto held_by_text = [&](const std::string& login, const std::string& holder) {
        const auto* acc = existing(holder);
        // The holder has no access (any more, or from this run on): its disabled account keeps
        // the name until the retention ends.
        if (acc != nullptr &&
            (acc->state == store::AccountState::kRevoked || claimant_ids.count(holder) == 0)) {
            const auto since =
                acc->state == store::AccountState::kRevoked ? acc->state_since : ctx.now;
            const auto released =
                std::chrono::floor<std::chrono::days>(since + cfg.sync.revoked_retention);
            return "username '" + login + "' is held by member " + holder +
                   "'s disabled account until " + core::format_date(core::Date{released}) +
                   " (retention)";
        }
        return "username '" + login + "' is already used by member " + holder;
    };
    for (auto* c : claimants) {
        const std::string& self = c->member->id;
        const auto* acc = existing(self);
        std::string conflict;
        if (!(acc && acc->username == c->username) && ctx.foreign_usernames.count(c->username)) {
            conflict =
                "username '" + c->login + "' already has FreeRADIUS rows radsync does not own";
        } else if (const auto* holder = claimed_by(c->username); holder && *holder != self) {
            conflict = held_by_text(c->login, *holder);
        }
        if (conflict.empty()) {
            if (acc && acc->username != c->username) {
                // Moving to a new name gives the old one up.
                if (const auto* old_holder = claimed_by(acc->username);
                    old_holder && *old_holder == self) {
                    claimed.erase(acc->username);
                }
            }
            claimed[c->username] = self;
        } else if (acc && acc->username != c->username &&
                   (claimed_by(acc->username) == nullptr || *claimed_by(acc->username) == self) &&
                   ctx.foreign_usernames.count(acc->username) == 0) {
            // A member whose new name collides keeps the name they already have.
            c->note = conflict + "; keeping previous username";
            c->username = acc->username;
            claimed[c->username] = self;
        } else {
            c->refusal = conflict;
            c->problem = Decision::Problem::kConflict;
        }
    }

    // Members without (usable) access lose an existing account in two steps: disabled now,
    // deleted after the retention, so one who comes back keeps their credentials.
    auto disable_or_remove = [&](const store::AccountRecord& acc, Decision& d) {
        const auto* holder = claimed_by(acc.username);
        const bool name_taken = holder != nullptr && *holder != acc.member_id;
        if (acc.kind == store::AccountKind::kGuest) {
            // A guest's access ends with the booking: no disabled phase, no retention.
            if (d.outcome != Decision::Outcome::kConflict) {
                d.outcome = Decision::Outcome::kRemoved;
            }
            d.reason += "; guest account removed";
            return;
        }
        const bool pass = acc.kind == store::AccountKind::kPass;
        // A pass that ends exactly at its sweep time (midnight, by default) is swept at once.
        const bool swept_now =
            pass && acc.state != store::AccountState::kRevoked &&
            mapper.pass_sweep_after(snapshot::find_member(snap, acc.member_id), ctx.now) <= ctx.now;
        if (name_taken || retention_over(acc) || swept_now) {
            if (d.outcome != Decision::Outcome::kConflict) {
                d.outcome = Decision::Outcome::kRemoved;
            }
            d.reason += name_taken ? "; account removed, username now used by another member"
                        : pass     ? "; expired pass account swept"
                                   : "; account removed after retention";
            return;
        }
        store::AccountRecord rec = acc;
        if (rec.state != store::AccountState::kRevoked) {
            rec.state = store::AccountState::kRevoked;
            rec.state_since = ctx.now;
        }
        const auto removal = removal_at(rec);
        if (removal > ctx.now && (!d.next_change || removal < *d.next_change)) {
            d.next_change = removal;
            d.next_change_what = rec.kind == store::AccountKind::kPass
                                     ? "expired pass account swept"
                                     : "disabled account removed after retention";
        }
        rec.group.clear();
        rec.locations.clear();
        rec.expires.reset();
        rec.reason = d.reason;
        out.rows.push_back({Table::kRadcheck, rec.username, "Auth-Type", ":=", "Reject", 0});
        if (d.outcome != Decision::Outcome::kConflict) {
            d.outcome = Decision::Outcome::kRevoked;
        }
        d.account = std::move(rec);
    };

    assign_member_addresses(candidates, cfg, ctx, retention_over);

    std::set<std::string> seen_members;
    for (auto& c : candidates) {
        const snapshot::Member& m = *c.member;
        seen_members.insert(m.id);
        Decision d{m.id, m.name, m.email, Decision::Outcome::kNoAccess, c.ev.reason, std::nullopt};
        d.next_change = c.ev.next_change;
        d.next_change_what = c.ev.next_change_what;
        const auto* acc = existing(m.id);

        if (c.ev.granted && c.refusal.empty()) {
            auto password = c.guest
                                ? password_row(m, acc, cfg, ctx, cfg.mapping.guests->code_length)
                                : password_row(m, acc, cfg, ctx);
            if (!password) {
                c.refusal = password.error().message;
            }
            if (!c.refusal.empty()) {
                c.problem = Decision::Problem::kUnusablePassword;
            }
            if (c.refusal.empty()) {
                store::AccountRecord rec;
                rec.member_id = m.id;
                rec.username = c.username;
                rec.secret = password->value;
                rec.secret_attribute = password->attribute;
                rec.secret_mac = password->mac;
                rec.state = store::AccountState::kActive;
                const bool was_active = acc && acc->state == store::AccountState::kActive;
                rec.state_since = was_active ? acc->state_since : ctx.now;
                rec.group = c.ev.group->name;
                rec.locations = location_list(c.ev);
                rec.expires = c.ev.expires;
                rec.kind = c.guest          ? store::AccountKind::kGuest
                           : c.ev.pass_only ? store::AccountKind::kPass
                                            : store::AccountKind::kMember;
                rec.address = c.address;
                rec.reason = c.note.empty() ? c.ev.reason : c.ev.reason + "; " + c.note;
                if (!rec.address.empty()) {
                    rec.reason += "; address " + rec.address;
                }
                add_user_rows(rec, c.ev, out.rows);
                d.outcome = Decision::Outcome::kGranted;
                d.new_password = std::move(password->generated);
                d.valid_from = c.ev.valid_from;
                d.reason = rec.reason;
                d.account = std::move(rec);
                out.decisions.push_back(std::move(d));
                continue;
            }
        }
        d.problem = c.problem;
        if (c.ev.granted) {
            const bool conflict = c.problem == Decision::Problem::kConflict;
            d.outcome = conflict ? Decision::Outcome::kConflict : Decision::Outcome::kNoAccess;
            d.reason = c.ev.reason + "; refused: " + c.refusal;
        }
        if (acc) {
            disable_or_remove(*acc, d);
        }
        out.decisions.push_back(std::move(d));
    }

    // Accounts whose member is gone from OfficeRnD altogether.
    for (const auto& [member_id, acc] : ctx.accounts) {
        if (in_scope(member_id) && seen_members.count(member_id) == 0) {
            const bool guest = acc.kind == store::AccountKind::kGuest;
            Decision d{member_id,
                       "",
                       "",
                       Decision::Outcome::kNoAccess,
                       guest ? "booking, its resource or the guest is no longer in OfficeRnD (or "
                               "no longer gives guest access)"
                             : "member no longer in OfficeRnD",
                       std::nullopt};
            disable_or_remove(acc, d);
            out.decisions.push_back(std::move(d));
        }
    }

    std::sort(out.rows.begin(), out.rows.end());
    return out;
}

std::string find_member_id(const std::string& key, const snapshot::Snapshot& snap,
                           const std::map<std::string, store::AccountRecord>& accounts) {
    const std::string lowered = [&] {
        auto n = normalise_login_name(key, true);
        return n ? *n : key;
    }();
    std::string member_id;
    for (const auto& m : snap.members) {
        if (m.id == key || (!m.email.empty() && (m.email == key || m.email == lowered))) {
            member_id = m.id;
        }
    }
    for (const auto& [id, a] : accounts) {
        if (a.username == key || a.username == radius_escape(key) ||
            a.username == radius_escape(lowered) || id == key) {
            member_id = id;
        }
    }
    return member_id;
}

}  // namespace radsync::mapping
