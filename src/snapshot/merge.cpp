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

Result<std::pair<MergeOutcome, EntityWrite>> merge_event(Snapshot& snap, Tombstones& tombstones,
                                                         Kind kind, const std::string& json,
                                                         bool remove) {
    switch (kind) {
        case Kind::kMember:
            return merge_into(snap.members, tombstones, kind, parse_member(json), remove);
        case Kind::kCompany:
            return merge_into(snap.companies, tombstones, kind, parse_company(json), remove);
        case Kind::kMembership:
            return merge_into(snap.memberships, tombstones, kind, parse_membership(json), remove);
        case Kind::kPlan:
            return merge_into(snap.plans, tombstones, kind, parse_plan(json), remove);
        case Kind::kLocation:
            return merge_into(snap.locations, tombstones, kind, parse_location(json), remove);
        case Kind::kPass:
            return merge_into(snap.passes, tombstones, kind, parse_pass(json), remove);
        case Kind::kBooking:
            return merge_into(snap.bookings, tombstones, kind, parse_booking(json), remove);
    }
    return Error(Errc::kMalformedPayload, "unknown entity kind");
}

namespace {

template <class Entity>
Status put_into(std::vector<Entity>& list, Result<Entity> parsed) {
    if (!parsed) {
        return parsed.error();
    }
    upsert(list, std::move(*parsed));
    return {};
}

}  // namespace

Status put_entity(Snapshot& snap, Kind kind, const std::string& json) {
    switch (kind) {
        case Kind::kMember:
            return put_into(snap.members, parse_member(json));
        case Kind::kCompany:
            return put_into(snap.companies, parse_company(json));
        case Kind::kMembership:
            return put_into(snap.memberships, parse_membership(json));
        case Kind::kPlan:
            return put_into(snap.plans, parse_plan(json));
        case Kind::kLocation:
            return put_into(snap.locations, parse_location(json));
        case Kind::kPass:
            return put_into(snap.passes, parse_pass(json));
        case Kind::kBooking:
            return put_into(snap.bookings, parse_booking(json));
    }
    return Error(Errc::kMalformedPayload, "unknown entity kind");
}

std::optional<std::string> raw_of(const Snapshot& snap, Kind kind, const std::string& id) {
    auto raw = [](const auto* e) { return e ? std::optional<std::string>(e->raw) : std::nullopt; };
    switch (kind) {
        case Kind::kMember:
            return raw(find(snap.members, id));
        case Kind::kCompany:
            return raw(find(snap.companies, id));
        case Kind::kMembership:
            return raw(find(snap.memberships, id));
        case Kind::kPlan:
            return raw(find(snap.plans, id));
        case Kind::kLocation:
            return raw(find(snap.locations, id));
        case Kind::kPass:
            return raw(find(snap.passes, id));
        case Kind::kBooking:
            return raw(find(snap.bookings, id));
    }
    return std::nullopt;
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
            if (const auto* p = find(snap.passes, id); p && !p->member.empty()) {
                out.insert(p->member);
            }
            break;
        case Kind::kBooking:
            if (const auto* b = find(snap.bookings, id); b && !b->member.empty()) {
                out.insert(b->member);
            }
            break;
        case Kind::kPlan:
        case Kind::kLocation:
            // Plans and locations change group/site rows for many members: left to full runs.
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
    }
    return "unknown";
}

}  // namespace radsync::snapshot
