#pragma once

#include <chrono>
#include <cstddef>
#include <optional>

namespace radsync::sched {

/// When the store worker applies committed webhook events, and how many at a time. Pure: the
/// caller supplies the times.
///
/// Acknowledging comes first. Applying an event costs several times what committing it to the
/// inbox costs, so during a burst (a bulk import in OfficeRnD) the worker commits deliveries as
/// fast as they arrive and applies them once the burst is over — but never later than
/// `max_defer` after the oldest one was acknowledged. Outside a burst events are applied at
/// once, in slices small enough that a delivery arriving meanwhile is not kept waiting long.
struct ProcessingPolicy {
    using Clock = std::chrono::steady_clock;

    /// A burst: `burst_events` deliveries within `burst_window` (8 in 10 ms = 800 events/s).
    std::chrono::milliseconds burst_window{10};
    std::size_t burst_events = 8;
    /// The longest an acknowledged event waits to be applied because of a burst.
    std::chrono::milliseconds max_defer{1000};
    /// Events per processing transaction.
    std::size_t slice = 64;
    /// An event whose processing failed on its own this many times is parked (set aside with
    /// its error) so the events behind it are not blocked; the next full poll repairs
    /// whatever it would have changed.
    int max_attempts = 5;
    /// Pause after a failed processing run, so a broken disk is not hammered.
    std::chrono::milliseconds retry_after{5000};

    struct Input {
        Clock::time_point now;
        /// Arrival of the `burst_events`-th most recent delivery; empty if fewer have arrived.
        std::optional<Clock::time_point> burst_marker;
        /// When the oldest unapplied event was acknowledged; empty if none is waiting. An
        /// event of unknown age (left by an earlier run) counts as overdue.
        std::optional<Clock::time_point> oldest_waiting;
    };

    struct Decision {
        bool process_now = false;
        /// When to ask again if not processing now; time_point::max() when nothing is waiting.
        Clock::time_point ask_again_at{};
    };

    [[nodiscard]] Decision decide(const Input& in) const;
    /// Whether an event that has now failed `attempts` times on its own is set aside.
    [[nodiscard]] bool park(int attempts) const { return attempts >= max_attempts; }
};

}  // namespace radsync::sched
