#pragma once

// The pinned "now" of the officernd unit tests (Retry-After, token limiter and refresh, booking
// window): Sun, 01 Mar 2026 08:00:00 GMT.

#include <chrono>

#include "radsync/core/clock.hpp"

namespace radsync::officernd::test_clock {

inline constexpr core::Instant kNow =
    std::chrono::sys_days{std::chrono::year{2026} / 3 / 1} + std::chrono::hours{8};

}  // namespace radsync::officernd::test_clock
