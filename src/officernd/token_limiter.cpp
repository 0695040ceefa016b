#include "radsync/officernd/token_limiter.hpp"

#include <algorithm>
#include <vector>

namespace radsync::officernd {

using std::chrono::seconds;

namespace {
// See the class comment: whole-second instants, so a request holds its slot one second longer.
constexpr seconds kHold = TokenRateLimiter::kWindow + seconds{1};
}  // namespace

std::size_t TokenRateLimiter::in_window(core::Instant now) const {
    return static_cast<std::size_t>(std::count_if(
        sent_.begin(), sent_.end(), [&](core::Instant t) { return now - t < kHold; }));
}

bool TokenRateLimiter::can_request(core::Instant now) const {
    return in_window(now) < kMaxRequests;
}

void TokenRateLimiter::record(core::Instant now) {
    sent_.push_back(now);
    while (!sent_.empty() && now - sent_.front() >= kHold) {
        sent_.pop_front();
    }
    // A clock stepped backwards could leave stale entries behind newer ones; bound the list.
    constexpr std::size_t kKeep = 4 * kMaxRequests;
    while (sent_.size() > kKeep) {
        sent_.pop_front();
    }
}

seconds TokenRateLimiter::wait_needed(core::Instant now) const {
    std::vector<core::Instant> live;
    for (auto t : sent_) {
        if (now - t < kHold) {
            live.push_back(t);
        }
    }
    if (live.size() < kMaxRequests) {
        return seconds{0};
    }
    std::sort(live.begin(), live.end());
    // Once this many of the oldest have left the window, one more request fits.
    const auto must_expire = live.size() - kMaxRequests;
    return live[must_expire] + kHold - now;
}

}  // namespace radsync::officernd
