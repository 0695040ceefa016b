#include "radsync/sched/watchdog.hpp"

#include <fmt/format.h>

namespace radsync::sched {

std::vector<std::string> stalled(std::span<const Pulse> pulses, Heartbeat::Clock::time_point now) {
    std::vector<std::string> out;
    for (const auto& p : pulses) {
        const auto quiet = now - p.last;
        if (!p.handed_off && quiet > p.limit) {
            out.push_back(
                fmt::format("{} for {} s", p.name,
                            std::chrono::duration_cast<std::chrono::seconds>(quiet).count()));
        }
    }
    return out;
}

std::chrono::microseconds ping_interval(std::chrono::microseconds watchdog_usec) {
    return watchdog_usec / 2;
}

}  // namespace radsync::sched
