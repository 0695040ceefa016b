#include "radsync/reconcile/guard.hpp"

#include <algorithm>
#include <cmath>

namespace radsync::reconcile {

GuardVerdict deletion_guard(const std::vector<mapping::Decision>& decisions,
                            const std::map<std::string, store::AccountRecord>& current,
                            std::size_t snapshot_members, double share, int min_count,
                            core::Instant now) {
    GuardVerdict v;
    std::size_t active = 0;
    for (const auto& [id, account] : current) {
        active += account.state == store::AccountState::kActive ? 1 : 0;
    }
    for (const auto& d : decisions) {
        auto it = current.find(d.member_id);
        const bool was_active =
            it != current.end() && it->second.state == store::AccountState::kActive;
        const bool ran_out =
            it != current.end() && it->second.expires && *it->second.expires <= now;
        if (was_active && !ran_out && d.outcome != mapping::Decision::Outcome::kGranted) {
            v.held_members.insert(d.member_id);
        }
    }
    v.removals = v.held_members.size();
    const auto by_share = static_cast<std::size_t>(std::floor(share * static_cast<double>(active)));
    v.limit = std::max(static_cast<std::size_t>(std::max(min_count, 0)), by_share);
    if (snapshot_members == 0 && active > 0) {
        v.tripped = true;
        v.reason = "OfficeRnD returned no members while " + std::to_string(active) +
                   " accounts are active";
    } else if (v.removals > v.limit) {
        v.tripped = true;
        v.reason = "run would disable " + std::to_string(v.removals) + " of " +
                   std::to_string(active) + " active accounts (limit " + std::to_string(v.limit) +
                   ")";
    }
    if (!v.tripped) {
        v.held_members.clear();
    }
    return v;
}

}  // namespace radsync::reconcile
