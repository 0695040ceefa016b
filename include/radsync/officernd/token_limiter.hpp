#pragma once

// The client-side view of OfficeRnD's token endpoint rate limit, over Clock instants the caller
// passes.

#include <chrono>
#include <cstddef>
#include <deque>

#include "radsync/core/clock.hpp"

namespace radsync::officernd {

/// OfficeRnD's token endpoint allows 5 requests per rolling minute, counting failures too
/// (officernd-api.md §3). This limiter tracks what we sent, in whole-second Clock instants.
/// Because instants are truncated to seconds, a request recorded at second t is treated as
/// occupying the window until t + 61 s: the real send may have happened up to a second later
/// than t, and the server's window is measured in real time.
class TokenRateLimiter {
public:
    static constexpr std::size_t kMaxRequests = 5;
    static constexpr std::chrono::seconds kWindow{60};

    /// True when one more token request now stays within the limit.
    [[nodiscard]] bool can_request(core::Instant now) const;
    /// Notes a token request sent at `now` (call it for every request, whatever its outcome).
    void record(core::Instant now);
    /// How long until can_request() turns true; zero when it already is.
    [[nodiscard]] std::chrono::seconds wait_needed(core::Instant now) const;

private:
    [[nodiscard]] std::size_t in_window(core::Instant now) const;
    std::deque<core::Instant> sent_;  // oldest first; at most kMaxRequests + a few kept
};

}  // namespace radsync::officernd
