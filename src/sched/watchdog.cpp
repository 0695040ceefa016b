#include "radsync/sched/watchdog.hpp"

namespace radsync::sched {

std::vector<Stall> stalled(std::span<const Pulse> pulses, Heartbeat::Clock::time_point now) {
    std::vector<Stall> out;
    for (const auto& p : pulses) {
        const auto quiet = now - p.last;
        if (!p.handed_off && quiet > p.limit) {
            out.push_back({p.name, std::chrono::duration_cast<std::chrono::seconds>(quiet)});
        }
    }
    return out;
}

std::chrono::microseconds ping_interval(std::chrono::microseconds watchdog_usec) {
    return watchdog_usec / 2;
}

}  // namespace radsync::sched
