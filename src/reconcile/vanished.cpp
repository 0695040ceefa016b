#include "radsync/reconcile/vanished.hpp"

#include <algorithm>

#include "radsync/snapshot/merge.hpp"

namespace radsync::reconcile {

namespace {

using snapshot::Kind;
using Presence = Confirmation::Presence;

template <class Entity>
bool listed(const std::vector<Entity>& sorted, const std::string& id) {
    const auto it =
        std::lower_bound(sorted.begin(), sorted.end(), id,
                         [](const Entity& e, const std::string& key) { return e.id < key; });
    return it != sorted.end() && it->id == id;
}

// Entities of `previous_list` missing from `fetched_list` and relevant to someone's access.
template <class Entity, class Relevant>
void collect(Kind kind, const std::vector<Entity>& previous_list,
             const std::vector<Entity>& fetched_list, Relevant relevant,
             std::vector<Vanished>& out) {
    for (const auto& e : previous_list) {
        if (relevant(e) && !listed(fetched_list, e.id)) {
            out.push_back({kind, e.id, e.raw});
        }
    }
}

}  // namespace

std::vector<Vanished> find_vanished(const snapshot::Snapshot& previous,
                                    const snapshot::Snapshot& fetched,
                                    const std::set<std::string>& active_members) {
    // Companies whose members would lose access with them.
    std::set<std::string> active_companies;
    for (const auto& m : previous.members) {
        if (!m.company.empty() && active_members.count(m.id) > 0) {
            active_companies.insert(m.company);
        }
    }
    std::vector<Vanished> out;
    collect(
        Kind::kMember, previous.members, fetched.members,
        [&](const snapshot::Member& m) { return active_members.count(m.id) > 0; }, out);
    collect(
        Kind::kCompany, previous.companies, fetched.companies,
        [&](const snapshot::Company& c) { return active_companies.count(c.id) > 0; }, out);
    collect(
        Kind::kMembership, previous.memberships, fetched.memberships,
        [&](const snapshot::Membership& ms) {
            return ms.member.empty() ? active_companies.count(ms.company) > 0
                                     : active_members.count(ms.member) > 0;
        },
        out);
    return out;
}

VanishedReport settle_vanished(snapshot::Snapshot& fetched, const std::vector<Vanished>& vanished,
                               const Confirm& confirm, std::size_t max_confirm,
                               bool allow_mass_removal) {
    VanishedReport report;
    report.vanished = vanished.size();
    if (vanished.empty()) {
        return report;
    }
    auto keep_previous = [&](const Vanished& v, const std::string& why) {
        // Stored copies parsed before; one that no longer does is left out rather than guessed.
        if (snapshot::put_entity(fetched, v.kind, v.previous_raw)) {
            ++report.kept;
            report.notes.push_back(std::string(snapshot::to_string(v.kind)) + " " + v.id +
                                   ": kept, " + why);
        } else {
            ++report.gone;
        }
    };
    if (vanished.size() > max_confirm && !allow_mass_removal) {
        report.hold_reason = std::to_string(vanished.size()) +
                             " members, companies or memberships vanished from OfficeRnD's lists, "
                             "more than the " +
                             std::to_string(max_confirm) + " radsync confirms one by one per run";
        for (const auto& v : vanished) {
            keep_previous(v, "held back with the others");
        }
        return report;
    }
    std::size_t asked = 0;
    for (const auto& v : vanished) {
        if (asked == max_confirm) {
            ++report.gone;  // beyond the bound, and the operator approved mass removal
            continue;
        }
        ++asked;
        const Confirmation answer = confirm(v.kind, v.id);
        switch (answer.presence) {
            case Presence::kGone:
                ++report.gone;
                break;
            case Presence::kPresent:
                if (snapshot::put_entity(fetched, v.kind, answer.object_json)) {
                    ++report.listed_late;
                    report.notes.push_back(std::string(snapshot::to_string(v.kind)) + " " + v.id +
                                           ": missing from the list but found by id; kept");
                } else {
                    keep_previous(v, "its single GET did not parse");
                }
                break;
            case Presence::kUnknown:
                keep_previous(v, "not confirmed gone (" + answer.error + "); asked again next run");
                break;
        }
    }
    return report;
}

std::string describe(const VanishedReport& report) {
    return "vanished from the lists: " + std::to_string(report.vanished) + " (" +
           std::to_string(report.gone) + " gone, " + std::to_string(report.listed_late) +
           " listed late, " + std::to_string(report.kept) + " kept)";
}

}  // namespace radsync::reconcile
