#include "radsync/officernd/backoff.hpp"

#include <algorithm>

namespace radsync::officernd {

using std::chrono::milliseconds;

milliseconds delay(int attempt, milliseconds base, milliseconds max, double jitter01) {
    if (base.count() <= 0 || max.count() <= 0) {
        return milliseconds{0};
    }
    milliseconds nominal = std::min(base, max);
    for (int i = 1; i < attempt && nominal < max; ++i) {
        nominal = nominal > max / 2 ? max : nominal * 2;
    }
    const double j = std::clamp(jitter01, 0.0, 1.0);
    const auto half = nominal / 2;
    const auto spread = static_cast<double>((nominal - half).count()) * j;
    return std::min(nominal, half + milliseconds(static_cast<milliseconds::rep>(spread)));
}

}  // namespace radsync::officernd
