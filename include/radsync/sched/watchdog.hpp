#pragma once

#include <atomic>
#include <chrono>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace radsync::sched {

/// A thread's sign of life for the systemd watchdog: the thread beats whenever it gets through
/// a step of its loop (an idle thread's bounded wait is a step too), so a thread that stops
/// beating is stuck inside something, not merely waiting for work. Written by its thread, read
/// by the io thread's watchdog tick; lock-free.
class Heartbeat {
public:
    using Clock = std::chrono::steady_clock;

    Heartbeat() { beat(); }
    void beat() { last_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed); }
    [[nodiscard]] Clock::time_point last() const {
        return Clock::time_point{Clock::duration{last_.load(std::memory_order_relaxed)}};
    }
    /// True while the thread waits for another thread that has a heartbeat of its own (the
    /// poller for the store worker's run): that one's pulse says whether the wait moves.
    [[nodiscard]] bool handed_off() const { return handed_off_.load(std::memory_order_relaxed); }

    /// For the length of a wait on another supervised thread.
    class HandOff {
    public:
        explicit HandOff(Heartbeat& h) : h_(h) { h_.handed_off_ = true; }
        ~HandOff() {
            h_.beat();
            h_.handed_off_ = false;
        }
        HandOff(const HandOff&) = delete;
        HandOff& operator=(const HandOff&) = delete;

    private:
        Heartbeat& h_;
    };

private:
    std::atomic<Clock::rep> last_{0};
    std::atomic<bool> handed_off_{false};
};

/// One thread as the watchdog sees it: its last beat, and how long it may go without one (its
/// longest legitimate step: a store transaction, an OfficeRnD request with its timeout).
struct Pulse {
    std::string name;
    Heartbeat::Clock::time_point last;
    std::chrono::milliseconds limit;
    bool handed_off = false;  ///< waiting on another supervised thread: not judged
};

/// A thread that made no progress within its limit, and for how long.
struct Stall {
    std::string name;
    std::chrono::seconds quiet;
    bool operator==(const Stall&) const = default;
};

/// The threads that made no progress within their limit. Empty: every thread moves, and
/// systemd may be told WATCHDOG=1.
[[nodiscard]] std::vector<Stall> stalled(std::span<const Pulse> pulses,
                                         Heartbeat::Clock::time_point now);

/// How often to tell systemd: half its WatchdogSec (sd_watchdog_enabled), as sd_notify(3)
/// recommends, so one late tick does not cost a restart.
[[nodiscard]] std::chrono::microseconds ping_interval(std::chrono::microseconds watchdog_usec);

}  // namespace radsync::sched
