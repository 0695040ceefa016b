#pragma once

#include <chrono>

namespace radsync::sched {

/// When the next full reconcile runs. Pure: the caller supplies the jitter draw.
struct Policy {
    std::chrono::seconds interval{15 * 60};
    /// Spread of each wait around `interval` (±10 %), so many daemons polling one OfficeRnD
    /// account never line up.
    double jitter_fraction = 0.10;
    /// After a failed run: retry_base, doubling per consecutive failure, never beyond interval.
    std::chrono::seconds retry_base{30};

    /// Wait before the next run. `consecutive_failures` counts failed runs since the last
    /// success; `jitter01` is a uniform draw from [0, 1).
    [[nodiscard]] std::chrono::milliseconds next_delay(int consecutive_failures,
                                                       double jitter01) const;
};

}  // namespace radsync::sched
