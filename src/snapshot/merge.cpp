#include "radsync/snapshot/merge.hpp"

#include <algorithm>
#include <tuple>

namespace radsync::snapshot {

namespace {

// Works on const and mutable lists alike.
template <class List>
auto find(List& v, const std::string& id) -> decltype(&*v.begin()) {
    auto it = std::lower_bound(v.begin(), v.end(), id,
                               [](const auto& e, const std::string& key) { return e.id < key; });
    return (it != v.end() && it->id == id) ? &*it : nullptr;
}

template <class Entity>
void upsert(std::vector<Entity>& v, Entity e) {
    auto it = std::lower_bound(v.begin(), v.end(), e.id,
                               [](const Entity& x, const std::string& key) { return x.id < key; });
    if (it != v.end() && it->id == e.id) {
        *it = std::move(e);
    } else {
        v.insert(it, std::move(e));
    }
}

template <class Entity>
void erase(std::vector<Entity>& v, const std::string& id) {
    auto it = std::lower_bound(v.begin(), v.end(), id,
                               [](const Entity& x, const std::string& key) { return x.id < key; });
    if (it != v.end() && it->id == id) {
        v.erase(it);
    }
}

template <class Entity>
Result<std::pair<MergeOutcome, EntityWrite>> merge_into(std::vector<Entity>& list,
                                                        Tombstones& tombstones, Kind kind,
                                                        Result<Entity> parsed, bool remove) {
    if (!parsed) {
        return parsed.error();
    }
    Entity incoming = std::move(*parsed);
    const auto key = std::make_pair(kind, incoming.id);
    std::optional<Version> held;
    if (const Entity* current = find(list, incoming.id)) {
        held = Version{current->modified_at, false, current->raw};
    } else if (auto t = tombstones.find(key); t != tombstones.end()) {
        held = t->second;
    }
    Version version{incoming.modified_at, remove, incoming.raw};
    if (remove && !version.modified_at && held) {
        // A removal without a timestamp (OfficeRnD's member.removed sample carries little
        // more than _id) takes the held copy's, so a later, newer update can still win.
        version.modified_at = held->modified_at;
    }
    if (!supersedes(version, held)) {
        return std::make_pair(MergeOutcome::kStale, EntityWrite{kind, incoming.id, version});
    }
    if (remove) {
        erase(list, incoming.id);
        tombstones[key] = version;
    } else {
        tombstones.erase(key);
        upsert(list, std::move(incoming));
    }
    return std::make_pair(MergeOutcome::kApplied, EntityWrite{kind, key.second, version});
}

}  // namespace

bool supersedes(const Version& incoming, const std::optional<Version>& held) {
    if (!held) {
        return true;
    }
    if (!incoming.modified_at) {
        return !(held->removed && held->modified_at);
    }
    if (!held->modified_at) {
        return true;
    }
    return std::tie(*incoming.modified_at, incoming.removed, incoming.raw) >
           std::tie(*held->modified_at, held->removed, held->raw);
}

namespace {

// The one place a Kind picks its list and parser: fn(list, parse) for the list of that kind.
template <class Snap, class Fn>
auto visit_list(Snap& snap, Kind kind, Fn&& fn) {
    switch (kind) {
        case Kind::kMember:
            return fn(snap.members, &parse_member);
        case Kind::kCompany:
            return fn(snap.companies, &parse_company);
        case Kind::kMembership:
            return fn(snap.memberships, &parse_membership);
        case Kind::kPlan:
            return fn(snap.plans, &parse_plan);
        case Kind::kLocation:
            return fn(snap.locations, &parse_location);
        case Kind::kPass:
            return fn(snap.passes, &parse_pass);
        case Kind::kBooking:
            return fn(snap.bookings, &parse_booking);
        case Kind::kResource:
            return fn(snap.resources, &parse_resource);
        case Kind::kResourceType:
            return fn(snap.resource_types, &parse_resource_type);
        case Kind::kVisitor:
            break;
    }
    return fn(snap.visitors, &parse_visitor);
}

}  // namespace

Result<std::pair<MergeOutcome, EntityWrite>> merge_event(Snapshot& snap, Tombstones& tombstones,
                                                         Kind kind, const std::string& json,
                                                         bool remove) {
    return visit_list(snap, kind, [&](auto& list, auto parse) {
        return merge_into(list, tombstones, kind, parse(json), remove);
    });
}

Status put_entity(Snapshot& snap, Kind kind, const std::string& json) {
    return visit_list(snap, kind, [&](auto& list, auto parse) -> Status {
        auto parsed = parse(json);
        if (!parsed) {
            return parsed.error();
        }
        upsert(list, std::move(*parsed));
        return {};
    });
}

std::optional<std::string> raw_of(const Snapshot& snap, Kind kind, const std::string& id) {
    return visit_list(snap, kind, [&](const auto& list, auto) -> std::optional<std::string> {
        const auto* e = find(list, id);
        return e ? std::optional<std::string>(e->raw) : std::nullopt;
    });
}

void collect_affected_members(const Snapshot& snap, Kind kind, const std::string& id,
                              std::set<std::string>& out) {
    auto company_members = [&](const std::string& company) {
        if (company.empty()) {
            return;
        }
        for (const auto& m : snap.members) {
            if (m.company == company) {
                out.insert(m.id);
            }
        }
    };
    switch (kind) {
        case Kind::kMember:
            out.insert(id);
            break;
        case Kind::kMembership:
            if (const auto* ms = find(snap.memberships, id)) {
                if (!ms->member.empty()) {
                    out.insert(ms->member);
                } else {
                    company_members(ms->company);
                }
            }
            break;
        case Kind::kCompany:
            company_members(id);
            break;
        case Kind::kPass:
            if (const auto* p = find(snap.passes, id)) {
                if (!p->member.empty()) {
                    out.insert(p->member);
                } else {
                    company_members(p->company);  // a company pass may cover them all
                }
            }
            break;
        case Kind::kBooking:
            if (const auto* b = find(snap.bookings, id)) {
                if (!b->member.empty()) {
                    out.insert(b->member);
                }
                for (const auto& person : b->visitors) {
                    out.insert(guest_key(b->id, person));
                }
                for (const auto& person : b->members) {
                    out.insert(guest_key(b->id, person));
                }
            }
            break;
        case Kind::kVisitor:
            // A visitor's name or e-mail is on their guest accounts.
            for (const auto& b : snap.bookings) {
                if (std::find(b.visitors.begin(), b.visitors.end(), id) != b.visitors.end()) {
                    out.insert(guest_key(b.id, id));
                }
            }
            break;
        case Kind::kPlan:
        case Kind::kLocation:
        case Kind::kResource:
        case Kind::kResourceType:
            // These change rows or guests for many accounts: left to full runs.
            break;
    }
}

const char* to_string(Kind k) {
    switch (k) {
        case Kind::kMember:
            return "member";
        case Kind::kCompany:
            return "company";
        case Kind::kMembership:
            return "membership";
        case Kind::kPlan:
            return "plan";
        case Kind::kLocation:
            return "location";
        case Kind::kPass:
            return "pass";
        case Kind::kBooking:
            return "booking";
        case Kind::kResource:
            return "resource";
        case Kind::kResourceType:
            return "resource-type";
        case Kind::kVisitor:
            return "visitor";
    }
    return "unknown";
}

std::size_t keep_running_series(const Snapshot& held, Snapshot& fetched,
                                core::Instant window_start) {
    std::size_t kept = 0;
    for (const auto& b : held.bookings) {
        if (b.rrule.empty() || !b.start || *b.start >= window_start ||
            find(fetched.bookings, b.id) != nullptr) {
            continue;
        }
        upsert(fetched.bookings, Booking(b));
        ++kept;
    }
    return kept;
}

std::string guest_key(const std::string& booking_id, const std::string& person_id) {
    return std::string(kGuestKeyPrefix) + booking_id + ":" + person_id;
}

const char* list_name(Kind k) {
    switch (k) {
        case Kind::kMember:
            return "members";
        case Kind::kCompany:
            return "companies";
        case Kind::kMembership:
            return "memberships";
        case Kind::kPlan:
            return "plans";
        case Kind::kLocation:
            return "locations";
        case Kind::kPass:
            return "passes";
        case Kind::kBooking:
            return "bookings";
        case Kind::kResource:
            return "resources";
        case Kind::kResourceType:
            return "resource-types";
        case Kind::kVisitor:
            return "visitors";
    }
    return "unknown";
}

}  // namespace radsync::snapshot
