#include "radsync/sched/processing.hpp"

#include <algorithm>

namespace radsync::sched {

ProcessingPolicy::Decision ProcessingPolicy::decide(const Input& in) const {
    if (!in.oldest_waiting) {
        return {false, Clock::time_point::max()};
    }
    const auto overdue_at = *in.oldest_waiting + max_defer;
    if (in.now >= overdue_at) {
        return {true, in.now};
    }
    if (!in.burst_marker) {
        return {true, in.now};
    }
    // The burst is over once the marker falls out of the window (no newer arrival moved it).
    const auto burst_ends_at = *in.burst_marker + burst_window;
    if (in.now >= burst_ends_at) {
        return {true, in.now};
    }
    return {false, std::min(burst_ends_at, overdue_at)};
}

}  // namespace radsync::sched
