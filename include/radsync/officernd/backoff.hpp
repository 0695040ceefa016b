#pragma once

// How long the OfficeRnD client waits before sending a failed request again: a pure function
// of the attempt number and a jitter draw the caller makes (style.md c.1 rule 2).

#include <chrono>

namespace radsync::officernd {

/// Wait before retry number `attempt` (1 = the wait before the first retry). The nominal wait
/// doubles per attempt from `base` and is capped at `max`; the jitter draw `jitter01` in [0, 1)
/// spreads the result over [nominal/2, nominal), so retries never hit the server in lockstep
/// and never collapse to zero. `attempt` < 1 counts as 1.
[[nodiscard]] std::chrono::milliseconds delay(int attempt, std::chrono::milliseconds base,
                                              std::chrono::milliseconds max, double jitter01);

}  // namespace radsync::officernd
