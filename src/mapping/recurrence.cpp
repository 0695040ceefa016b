#include "recurrence.hpp"

#include <algorithm>
#include <memory>

#include <libical/ical.h>

namespace radsync::mapping::detail {

namespace {

// Iterations one expansion may take, whatever the rule: a rule that never reaches `to` (a
// minutely one started years ago, say) costs bounded time.
constexpr std::size_t kMaxSteps = 100'000;

struct IteratorFree {
    void operator()(icalrecur_iterator* it) const { icalrecur_iterator_free(it); }
};

icaltimetype floating(core::Instant wall) {
    // Floating (no zone): libical then repeats the wall-clock time as written.
    icaltimetype t = icaltime_from_timet_with_zone(wall.time_since_epoch().count(), 0, nullptr);
    t.zone = nullptr;
    return t;
}

core::Instant wall_of(const icaltimetype& t) {
    // A floating time read back as if it were UTC: the wall-clock time it stands for.
    return core::Instant{
        std::chrono::seconds{icaltime_as_timet_with_zone(t, icaltimezone_get_utc_timezone())}};
}

}  // namespace

Result<std::vector<Occurrence>> occurrences(const std::string& rrule, core::Instant first_start,
                                            core::Instant first_end, const core::TimeZone& zone,
                                            const std::vector<core::Instant>& exdates,
                                            core::Instant from, core::Instant to,
                                            std::size_t limit) {
    const icalrecurrencetype recur = icalrecurrencetype_from_string(rrule.c_str());
    if (recur.freq == ICAL_NO_RECURRENCE) {
        icalerror_clear_errno();
        return Error(Errc::kMalformedPayload, "recurrence rule \"" + rrule + "\" is not valid");
    }
    const auto length = first_end - first_start;
    std::unique_ptr<icalrecur_iterator, IteratorFree> it(
        icalrecur_iterator_new(recur, floating(zone.wall_clock(first_start))));
    if (!it) {
        icalerror_clear_errno();
        return Error(Errc::kMalformedPayload, "recurrence rule \"" + rrule + "\" is not valid");
    }
    std::vector<Occurrence> out;
    for (std::size_t step = 0; step < kMaxSteps && out.size() < limit; ++step) {
        const icaltimetype next = icalrecur_iterator_next(it.get());
        if (icaltime_is_null_time(next)) {
            break;
        }
        const core::Instant start = zone.from_wall_clock(wall_of(next));
        if (start >= to) {
            break;
        }
        const core::Instant end = start + length;
        if (end <= from || std::find(exdates.begin(), exdates.end(), start) != exdates.end()) {
            continue;
        }
        out.push_back({start, end});
    }
    return out;
}

}  // namespace radsync::mapping::detail
