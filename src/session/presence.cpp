#include "radsync/session/presence.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <tuple>
#include <utility>

#include "radsync/mapping/match.hpp"

namespace radsync::session {

namespace {

constexpr std::array<std::pair<CheckinState, const char*>, 5> kStateNames = {{
    {CheckinState::kPending, "pending"},
    {CheckinState::kOpen, "open"},
    {CheckinState::kAdopted, "adopted"},
    {CheckinState::kClosed, "closed"},
    {CheckinState::kFailed, "failed"},
}};

// A location's local day, as instants: [start, end).
struct Day {
    std::string name;
    core::Instant start{};
    core::Instant end{};
};

Day day_of(const core::TimeZone& zone, core::Date date) {
    const core::Date next{std::chrono::sys_days{date} + std::chrono::days{1}};
    return {core::format_date(date), zone.start_of(date), zone.start_of(next)};
}

// One member's sessions at one location, over one day.
struct DayPresence {
    bool present = false;
    bool open = false;  // a session still open within the day
    core::Instant first{};
    std::optional<core::Instant> last_stop;
};

DayPresence presence_on(const std::vector<const PresenceSession*>& sessions, const Day& day,
                        core::Instant now) {
    DayPresence p;
    for (const auto* s : sessions) {
        const core::Instant until = s->stop.value_or(now);
        // A session from an earlier day counts once heard of within this one: a device that
        // sent nothing since is no sign anyone is there.
        if (s->start >= day.end || until < day.start ||
            std::max({s->start, s->last_heard, s->stop.value_or(s->start)}) < day.start) {
            continue;
        }
        const core::Instant from = std::max(s->start, day.start);
        if (!p.present || from < p.first) {
            p.first = from;
        }
        p.present = true;
        if (!s->stop || *s->stop >= day.end) {
            p.open = true;
        } else if (!p.last_stop || *s->stop > *p.last_stop) {
            p.last_stop = *s->stop;
        }
    }
    return p;
}

bool ends_with(const std::string& text, const std::string& tail) {
    return text.size() >= tail.size() &&
           std::equal(tail.rbegin(), tail.rend(), text.rbegin(), [](char a, char b) {
               auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
               return lower(a) == lower(b);
           });
}

using MemberAt = std::pair<std::string, std::string>;  // member id, location id

}  // namespace

const char* to_string(CheckinState s) {
    for (const auto& [state, name] : kStateNames) {
        if (state == s) {
            return name;
        }
    }
    return "pending";
}

std::optional<CheckinState> checkin_state_from(const std::string& text) {
    for (const auto& [state, name] : kStateNames) {
        if (text == name) {
            return state;
        }
    }
    return std::nullopt;
}

std::vector<PresenceSite> presence_sites(const config::Config& cfg,
                                         const snapshot::Snapshot& snap) {
    auto zone_named = [](const std::string& name, const core::TimeZone& otherwise) {
        auto z = core::TimeZone::locate(name);
        return z ? *z : otherwise;
    };
    const core::TimeZone fallback = zone_named(cfg.default_timezone, core::TimeZone::utc());
    std::vector<PresenceSite> out;
    for (const auto& rule : cfg.mapping.locations) {
        if (rule.nas_ip_addresses.empty() && rule.ssids.empty()) {
            continue;
        }
        for (const auto& loc : snap.locations) {
            if (!mapping::matches(rule.match, loc.id, loc.name, loc.code)) {
                continue;
            }
            const std::string zone = rule.timezone.value_or(loc.timezone);
            out.push_back({loc.id, zone.empty() ? fallback : zone_named(zone, fallback),
                           rule.nas_ip_addresses, rule.ssids});
        }
    }
    return out;
}

const PresenceSite* site_of(const PresenceSession& s, const std::vector<PresenceSite>& sites) {
    for (const auto& site : sites) {
        if (std::find(site.nas_ip_addresses.begin(), site.nas_ip_addresses.end(), s.nas_ip) !=
            site.nas_ip_addresses.end()) {
            return &site;
        }
        // Called-Station-Id is "AP-MAC:SSID", as the mapping's site groups match it.
        for (const auto& ssid : site.ssids) {
            if (ends_with(s.called_station_id, ":" + ssid)) {
                return &site;
            }
        }
    }
    return nullptr;
}

std::vector<CheckinAction> plan_checkins(const PresenceInput& in) {
    std::map<MemberAt, std::vector<const PresenceSession*>> sessions;
    std::map<MemberAt, const PresenceSite*> site_for;
    for (const auto& s : in.sessions) {
        auto member = in.members.find(s.username);
        const PresenceSite* site = member == in.members.end() ? nullptr : site_of(s, in.sites);
        if (site == nullptr) {
            continue;
        }
        const MemberAt key{member->second, site->location_id};
        sessions[key].push_back(&s);
        site_for.emplace(key, site);
    }
    static const std::vector<const PresenceSession*> kNone;
    auto sessions_of = [&](const MemberAt& key) -> const std::vector<const PresenceSession*>& {
        auto it = sessions.find(key);
        return it == sessions.end() ? kNone : it->second;
    };

    std::vector<CheckinAction> check_outs;
    std::vector<CheckinAction> check_ins;
    std::set<MemberAt> still_open;  // an earlier day's check-in not ended yet
    std::set<std::tuple<std::string, std::string, std::string>> recorded;
    for (const auto& r : in.records) {
        recorded.insert({r.member_id, r.location_id, r.day});
        auto site = std::find_if(in.sites.begin(), in.sites.end(), [&](const PresenceSite& s) {
            return s.location_id == r.location_id;
        });
        auto date = core::parse_calendar_date(r.day);
        if (site == in.sites.end() || !date) {
            continue;
        }
        const Day day = day_of(site->zone, *date);
        const MemberAt key{r.member_id, r.location_id};
        if (r.state == CheckinState::kPending) {
            check_ins.push_back({CheckinAction::Kind::kCheckIn, r.member_id, r.location_id, r.day,
                                 r.start, day.start, day.end, ""});
            continue;
        }
        if (r.state != CheckinState::kOpen) {
            continue;
        }
        const DayPresence p = presence_on(sessions_of(key), day, in.now);
        std::optional<core::Instant> end;
        if (in.now >= day.end) {
            // The day is over: the last Stop, or its last second while a session ran past it.
            end = p.open ? day.end - std::chrono::seconds{1} : p.last_stop.value_or(r.start);
            still_open.insert(key);
        } else if (!p.open && p.last_stop && in.now - *p.last_stop >= in.checkout_after) {
            end = p.last_stop;
        }
        if (end) {
            check_outs.push_back({CheckinAction::Kind::kCheckOut, r.member_id, r.location_id, r.day,
                                  std::max(*end, r.start), day.start, day.end, r.checkin_id});
        }
    }
    for (const auto& [key, list] : sessions) {
        const PresenceSite& site = *site_for.at(key);
        const Day today = day_of(site.zone, site.zone.local_date(in.now));
        if (still_open.count(key) > 0 || recorded.count({key.first, key.second, today.name}) > 0) {
            continue;  // one check-in a day, and none while yesterday's is being ended
        }
        if (const DayPresence p = presence_on(list, today, in.now); p.present) {
            check_ins.push_back({CheckinAction::Kind::kCheckIn, key.first, key.second, today.name,
                                 p.first, today.start, today.end, ""});
        }
    }
    check_outs.insert(check_outs.end(), check_ins.begin(), check_ins.end());
    return check_outs;
}

}  // namespace radsync::session
