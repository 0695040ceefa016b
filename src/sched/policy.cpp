#include "radsync/sched/policy.hpp"

#include <algorithm>

namespace radsync::sched {

std::chrono::milliseconds Policy::next_delay(int consecutive_failures, double jitter01) const {
    using std::chrono::milliseconds;
    const double spread = 1.0 + (2.0 * std::clamp(jitter01, 0.0, 1.0) - 1.0) * jitter_fraction;
    const auto interval_ms = std::chrono::duration_cast<milliseconds>(interval);
    milliseconds base = interval_ms;
    if (consecutive_failures > 0) {
        // Doubling, with the exponent capped so the shift cannot overflow.
        const int doublings = std::min(consecutive_failures - 1, 20);
        const milliseconds backoff = std::chrono::duration_cast<milliseconds>(retry_base) *
                                     (milliseconds::rep{1} << doublings);
        base = std::min(interval_ms, backoff);
    }
    return milliseconds{static_cast<milliseconds::rep>(static_cast<double>(base.count()) * spread)};
}

}  // namespace radsync::sched
