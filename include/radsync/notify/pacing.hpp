#pragma once

#include <algorithm>
#include <chrono>

namespace radsync::notify {

/// Spaces messages evenly so that at most `per_minute` reach the relay in any minute: each
/// reservation gets the next free slot, 60 s / per_minute after the previous one. No bursts,
/// so a bulk import of 5,000 members never trips a relay's per-minute limit. Not thread-safe
/// (the mailer holds a lock around it).
class SendPacer {
public:
    using Clock = std::chrono::steady_clock;

    explicit SendPacer(int per_minute)
        : interval_(std::chrono::duration_cast<Clock::duration>(std::chrono::minutes{1}) /
                    std::max(per_minute, 1)) {}

    /// The moment the caller may send, at `now` or later; the slot is taken.
    Clock::time_point reserve(Clock::time_point now) {
        const auto slot = std::max(now, next_);
        next_ = slot + interval_;
        return slot;
    }

    [[nodiscard]] Clock::duration interval() const { return interval_; }

private:
    Clock::duration interval_;
    Clock::time_point next_{};
};

/// Capped exponential back-off: `first` after the first failed attempt, doubling, at most
/// `cap`.
[[nodiscard]] inline std::chrono::seconds retry_delay(int attempts, std::chrono::seconds first,
                                                      std::chrono::seconds cap) {
    std::chrono::seconds d = first;
    for (int i = 1; i < attempts && d < cap; ++i) {
        d *= 2;
    }
    return std::min(d, cap);
}

}  // namespace radsync::notify
