#include "radsync/mapping/coverage.hpp"

#include <algorithm>

#include "radsync/mapping/match.hpp"

namespace radsync::mapping {

namespace {

template <class Entity>
Coverage::Object object_of(const Entity& e) {
    if constexpr (requires { e.code; }) {
        return {e.id, e.name, e.code};
    } else {
        return {e.id, e.name, ""};
    }
}

template <class Entity>
bool entry_matches(const config::Match& m, const Entity& e) {
    const auto o = object_of(e);
    return matches(m, o.id, o.name, o.code);
}

// Entries of one section that match none of `entities`.
template <class Rule, class Entity>
void dead_entries(const char* section, const std::vector<Rule>& rules,
                  const std::vector<Entity>& entities, std::vector<Coverage::DeadEntry>& out) {
    for (const auto& rule : rules) {
        const bool any = std::any_of(entities.begin(), entities.end(),
                                     [&](const Entity& e) { return entry_matches(rule.match, e); });
        if (!any) {
            out.push_back({section, describe(rule.match), rule.origin});
        }
    }
}

// The guests section lists resource types by the resource's `type`, or a resource type's key,
// title or id (mapping engine, booking_counts).
bool resource_type_exists(const std::string& listed, const snapshot::Snapshot& snap) {
    const auto named = [&](const std::string& v) { return !v.empty() && v == listed; };
    return std::any_of(snap.resource_types.begin(), snap.resource_types.end(),
                       [&](const snapshot::ResourceType& t) {
                           return named(t.type) || named(t.title) || named(t.id);
                       }) ||
           std::any_of(snap.resources.begin(), snap.resources.end(),
                       [&](const snapshot::Resource& r) { return named(r.type); });
}

}  // namespace

Coverage check_coverage(const config::Mapping& mapping, const snapshot::Snapshot& snap) {
    Coverage c;
    c.plans = snap.plans.size();
    c.locations = snap.locations.size();
    c.companies = snap.companies.size();
    c.resource_types = snap.resource_types.size();
    for (const auto& plan : snap.plans) {
        Coverage::Contested claim{object_of(plan), {}, {}};
        for (const auto& rule : mapping.plans) {
            if (entry_matches(rule.match, plan)) {
                claim.groups.push_back(rule.group);
                claim.origins.push_back(rule.origin);
            }
        }
        if (claim.groups.empty()) {
            c.uncovered_plans.push_back(claim.plan);
        } else if (claim.groups.size() > 1) {
            c.contested_plans.push_back(std::move(claim));
        }
    }
    for (const auto& location : snap.locations) {
        const bool covered = std::any_of(
            mapping.locations.begin(), mapping.locations.end(),
            [&](const config::LocationRule& rule) { return entry_matches(rule.match, location); });
        if (!covered) {
            c.uncovered_locations.push_back(object_of(location));
        }
    }
    dead_entries("plans", mapping.plans, snap.plans, c.dead_entries);
    dead_entries("locations", mapping.locations, snap.locations, c.dead_entries);
    dead_entries("companies", mapping.companies, snap.companies, c.dead_entries);
    if (mapping.guests) {
        for (const auto& listed : mapping.guests->resource_types) {
            if (!resource_type_exists(listed, snap)) {
                c.dead_entries.push_back(
                    {"guests.resource_types", "\"" + listed + "\"", mapping.guests->origin});
            }
        }
    }
    return c;
}

}  // namespace radsync::mapping
