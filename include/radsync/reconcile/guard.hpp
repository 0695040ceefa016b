#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "radsync/mapping/engine.hpp"
#include "radsync/store/records.hpp"

namespace radsync::reconcile {

/// The deletion guard's verdict on a full run (design.md principle 5: never mass-delete on bad
/// data). A truncated or broken poll looks like "everyone left"; the guard holds back the
/// removals of such a run until an operator approves them.
struct GuardVerdict {
    bool tripped = false;
    std::size_t removals = 0;            ///< active accounts the run would disable
    std::size_t limit = 0;               ///< removals allowed without approval
    std::string reason;                  ///< why it tripped, for the log and `status`
    std::set<std::string> held_members;  ///< members whose removal is held back
};

/// Counts the active accounts a run would take access from and compares with
/// max(min_count, share × active accounts). Also trips when the snapshot has no members at all
/// while active accounts exist. An account whose own end (`expires`) is at or before `now` is
/// not counted: the clock ended it (a pass, a booking, a membership's last day), not missing
/// data, and FreeRADIUS already refuses it. Pure.
[[nodiscard]] GuardVerdict deletion_guard(
    const std::vector<mapping::Decision>& decisions,
    const std::map<std::string, store::AccountRecord>& current, std::size_t snapshot_members,
    double share, int min_count, core::Instant now);

}  // namespace radsync::reconcile
