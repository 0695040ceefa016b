#pragma once

// An operator's world in memory for mapping-engine tests: the configuration, a snapshot and a
// context with a pinned clock. Shared by the engine and schedule tests.

#include <algorithm>
#include <stdexcept>
#include <string>

#include "radsync/mapping/engine.hpp"

namespace radsync::mapping::test_world {

using namespace std::chrono;

inline core::Instant at(const char* iso) {
    return core::parse_instant(iso).value();
}

inline core::Date date(const char* iso) {
    return core::parse_calendar_date(iso).value();
}

inline config::Match by_name(const char* n) {
    return config::Match{std::nullopt, std::string(n), std::nullopt};
}

// A coworking operator in Berlin with two sites and three plans (the e2e scenario, in memory).
struct World {
    config::Config cfg;
    snapshot::Snapshot snap;
    Context ctx;
    int generated = 0;

    World() {
        cfg.default_timezone = "Europe/Berlin";
        config::AccessGroup pro;
        pro.name = "pro";
        pro.rank = 20;
        pro.bandwidth_down_bps = 50'000'000;
        pro.bandwidth_up_bps = 10'000'000;
        pro.session_timeout = seconds{8 * 3600};
        config::AccessGroup basic;
        basic.name = "basic";
        basic.rank = 10;
        basic.bandwidth_down_bps = 10'000'000;
        config::AccessGroup vo;
        vo.name = "virtual-office";
        vo.rank = 99;  // ranks high on purpose: groups without access never win
        vo.access = false;
        cfg.mapping.groups = {pro, basic, vo};
        cfg.mapping.plans = {{by_name("Hot Desk"), "basic", std::nullopt, {}},
                             {by_name("Dedicated Desk"), "pro", config::Roaming::kAll, {}},
                             {by_name("Virtual Office"), "virtual-office", std::nullopt, {}}};
        config::LocationRule downtown;
        downtown.match = by_name("Downtown");
        downtown.key = "downtown";
        downtown.vlan = 100;
        downtown.nas_identifiers = {"downtown"};
        config::LocationRule uptown;
        uptown.match = by_name("Uptown");
        uptown.key = "uptown";
        uptown.vlan = 200;
        uptown.nas_identifiers = {"uptown"};
        uptown.ssids = {"CoWork.Uptown"};
        config::LocationRule tokyo;
        tokyo.match = by_name("Tokyo");
        tokyo.key = "tokyo";
        tokyo.nas_identifiers = {"tokyo"};
        cfg.mapping.locations = {downtown, uptown, tokyo};

        snap.plans = {plan("p-hot", "Hot Desk"), plan("p-ded", "Dedicated Desk"),
                      plan("p-vo", "Virtual Office"), plan("p-x", "Meeting Credits")};
        snap.locations = {location("l-down", "Downtown", "Europe/Berlin"),
                          location("l-up", "Uptown", "Europe/Berlin"),
                          location("l-tokyo", "Tokyo", "Asia/Tokyo"),
                          location("l-elsewhere", "Elsewhere", "Europe/Berlin")};
        ctx.now = at("2026-11-22T12:00:00Z");
        ctx.generate_password = [this](int length) {
            return "gen" + std::to_string(++generated) +
                   std::string(static_cast<std::size_t>(length) - 4, 'x');
        };
    }

    static snapshot::Plan plan(const char* id, const char* name) {
        snapshot::Plan p;
        p.id = id;
        p.name = name;
        return p;
    }
    static snapshot::Location location(const char* id, const char* name, const char* tz) {
        snapshot::Location l;
        l.id = id;
        l.name = name;
        l.timezone = tz;
        return l;
    }
    snapshot::Member& member(const std::string& id, const std::string& status = "active",
                             const std::string& home = "l-down", const std::string& company = "") {
        snapshot::Member m;
        m.id = id;
        m.name = id;
        m.email = id + "@cowork.test";
        m.status = status;
        m.location = home;
        m.company = company;
        m.created_at = at("2025-01-01T00:00:00Z");
        snap.members.push_back(m);
        return snap.members.back();
    }
    snapshot::Membership& membership(const std::string& member_id, const std::string& plan_id,
                                     const char* start = "2026-01-01",
                                     std::optional<const char*> end = std::nullopt,
                                     const std::string& location = "l-down") {
        snapshot::Membership ms;
        ms.id = "ms-" + member_id + "-" + plan_id + "-" + std::to_string(snap.memberships.size());
        ms.name = plan_id;
        ms.plan = plan_id;
        ms.member = member_id;
        ms.location = location;
        ms.status = "approved";
        ms.calculated_status = "active";
        ms.start_date = date(start);
        if (end) {
            ms.end_date = date(*end);
        }
        ms.is_personal = true;
        snap.memberships.push_back(ms);
        return snap.memberships.back();
    }
    /// A company membership; the company itself is added to the snapshot if it is not there.
    snapshot::Membership& company_membership(const std::string& company,
                                             const std::string& plan_id) {
        if (std::none_of(snap.companies.begin(), snap.companies.end(),
                         [&](const snapshot::Company& c) { return c.id == company; })) {
            snapshot::Company c;
            c.id = company;
            c.name = company;
            c.status = "active";
            snap.companies.push_back(c);
        }
        auto& ms = membership("", plan_id);
        ms.member.clear();
        ms.company = company;
        ms.is_personal = false;
        return ms;
    }

    /// Day passes through group "day-pass" (rank 5, 5M down, 2h sessions).
    void enable_passes() {
        config::AccessGroup day;
        day.name = "day-pass";
        day.rank = 5;
        day.bandwidth_down_bps = 5'000'000;
        day.session_timeout = seconds{2 * 3600};
        cfg.mapping.groups.push_back(day);
        config::Passes passes;
        passes.group = "day-pass";
        cfg.mapping.passes = passes;
    }
    snapshot::Pass& pass(const std::string& member_id, const char* valid_from,
                         std::optional<const char*> valid_to = std::nullopt,
                         const std::string& location = "", const std::string& status = "valid") {
        snapshot::Pass p;
        p.id = "pass-" + member_id + "-" + std::to_string(snap.passes.size());
        p.member = member_id;
        p.location = location;
        p.status = status;
        p.valid_from = at(valid_from);
        if (valid_to) {
            p.valid_to = at(*valid_to);
        }
        p.is_personal = !member_id.empty();
        p.resource_type = "hotdesk";
        snap.passes.push_back(p);
        return snap.passes.back();
    }

    /// Meeting-room guests through group "guest" (rank 1, 2M down), for rooms of type
    /// meeting_room; graces of 15 minutes.
    void enable_guests() {
        config::AccessGroup guest;
        guest.name = "guest";
        guest.rank = 1;
        guest.bandwidth_down_bps = 2'000'000;
        cfg.mapping.groups.push_back(guest);
        config::Guests guests;
        guests.group = "guest";
        cfg.mapping.guests = guests;
        snapshot::Resource room;
        room.id = "r-room";
        room.name = "Board room";
        room.type = "meeting_room";
        snapshot::Resource desk;
        desk.id = "r-desk";
        desk.type = "hotdesk";
        snap.resources = {room, desk};
    }
    snapshot::Booking& booking(const std::string& id, const char* start, const char* end,
                               std::vector<std::string> visitors,
                               const std::string& location = "l-down",
                               const std::string& resource = "r-room") {
        snapshot::Booking b;
        b.id = id;
        b.member = "host";
        b.location = location;
        b.resource = resource;
        b.start = at(start);
        b.end = at(end);
        b.visitors = std::move(visitors);
        b.created_at = at("2026-01-01T00:00:00Z");
        snap.bookings.push_back(b);
        return snap.bookings.back();
    }
    snapshot::Visitor& visitor(const std::string& id, const std::string& name,
                               const std::string& email) {
        snapshot::Visitor v;
        v.id = id;
        v.name = name;
        v.email = email;
        snap.visitors.push_back(v);
        return snap.visitors.back();
    }

    DesiredState map() {
        snap.normalise();
        return map_snapshot(snap, cfg, ctx);
    }
};

inline const Decision& decision_for(const DesiredState& s, const std::string& member_id) {
    auto it = std::find_if(s.decisions.begin(), s.decisions.end(),
                           [&](const Decision& d) { return d.member_id == member_id; });
    if (it == s.decisions.end()) {
        throw std::runtime_error("no decision for " + member_id);
    }
    return *it;
}

inline std::vector<store::RadRow> rows_of(const DesiredState& s, const std::string& name) {
    std::vector<store::RadRow> out;
    std::copy_if(s.rows.begin(), s.rows.end(), std::back_inserter(out),
                 [&](const store::RadRow& r) { return r.name == name; });
    return out;
}

}  // namespace radsync::mapping::test_world
