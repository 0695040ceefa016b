#pragma once

// Presence to OfficeRnD check-ins (design.md "Sessions"): from the accounting sessions and the
// check-ins radsync has recorded, which member to check in or out where. Pure; no I/O.
//
// A member is present at a location on a local day when one of their sessions at one of the
// location's access points (the location rule's nas_ip_addresses and ssids, as radacct records
// them) overlaps that day. The first presence of the day creates one check-in; it is checked
// out at the last Stop once no session has been open there for `checkout_after`, or at the end
// of the day in the location's zone. At most one check-in per member, location and day: a
// member who comes back after being checked out is not checked in again that day.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "radsync/config/config.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/core/timezone.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::session {

/// A location check-ins are made for, and how its sessions are recognised.
struct PresenceSite {
    std::string location_id;  ///< OfficeRnD location id
    core::TimeZone zone = core::TimeZone::utc();
    std::vector<std::string> nas_ip_addresses;  ///< radacct nasipaddress equals one
    std::vector<std::string> ssids;             ///< radacct calledstationid ends in ":<ssid>"
};

/// One accounting session, as far as presence needs it.
struct PresenceSession {
    std::string username;  ///< as radacct records it
    std::string nas_ip;
    std::string called_station_id;
    core::Instant start{};
    /// The last Start or Interim-Update. A session running since an earlier day counts for a
    /// day only once it has been heard of within it.
    core::Instant last_heard{};
    /// None while open. For a session radsync closed as stale, its last_heard: the device was
    /// gone from then on, not from when the sweep noticed.
    std::optional<core::Instant> stop;
};

enum class CheckinState {
    kPending,  ///< decided, not yet confirmed by OfficeRnD (a crash or an error in between)
    kOpen,     ///< created by radsync, not checked out yet
    kAdopted,  ///< OfficeRnD already had one that day (reception, the app): never checked out
    kClosed,   ///< checked out by radsync
    kFailed,   ///< OfficeRnD refused it, or it failed too often; left alone
};

[[nodiscard]] const char* to_string(CheckinState s);
[[nodiscard]] std::optional<CheckinState> checkin_state_from(const std::string& text);

/// What radsync recorded about one member's check-in at one location on one local day.
struct CheckinRecord {
    std::string member_id;
    std::string location_id;
    std::string day;  ///< the local date, "YYYY-MM-DD"
    CheckinState state = CheckinState::kPending;
    core::Instant start{};             ///< the check-in's start
    std::optional<core::Instant> end;  ///< set when checked out
    std::string checkin_id;            ///< OfficeRnD's _id, once known
    int attempts = 0;                  ///< failed calls so far
    std::string error;                 ///< the last failure, for logs

    bool operator==(const CheckinRecord&) const = default;
};

struct CheckinAction {
    enum class Kind {
        kCheckIn,   ///< GET the day's check-ins first; POST one if none (its day not over)
        kCheckOut,  ///< POST the check-out with `at` as its end (GET first after a failure)
    };
    Kind kind = Kind::kCheckIn;
    std::string member_id;
    std::string location_id;
    std::string day;
    core::Instant at{};  ///< the check-in's start, or the check-out's end
    core::Instant day_start{};
    core::Instant day_end{};  ///< the next day's start
    std::string checkin_id;   ///< kCheckOut: the check-in being ended
};

struct PresenceInput {
    std::vector<PresenceSession> sessions;       ///< open, or stopped within the last days
    std::map<std::string, std::string> members;  ///< radacct username -> member id
    std::vector<PresenceSite> sites;             ///< first match wins
    std::vector<CheckinRecord> records;          ///< what radsync recorded, recent days
    core::Instant now{};
    std::chrono::seconds checkout_after{1800};
};

/// The sites of `cfg`'s location rules that name nas_ip_addresses or ssids: one for each
/// OfficeRnD location in `snap` the rule matches, in the rule's zone, else the location's, else
/// cfg.default_timezone (an unknown zone name falls back the same way).
[[nodiscard]] std::vector<PresenceSite> presence_sites(const config::Config& cfg,
                                                       const snapshot::Snapshot& snap);

/// The site a session is at, if any.
[[nodiscard]] const PresenceSite* site_of(const PresenceSession& s,
                                          const std::vector<PresenceSite>& sites);

/// What to do now, in a stable order: check-outs first, so that yesterday's check-in is ended
/// before today's begins (a check-out names no check-in; OfficeRnD ends the open one), and no
/// check-in while an earlier day's is still open. A pending record is retried (read first)
/// whatever its day: one whose day is over is resolved from what OfficeRnD has, never POSTed.
/// Sessions of unknown users (guests, operators' own accounts) or at no site are ignored, and
/// so is a record whose location is no longer a site (it waits until it is one again).
[[nodiscard]] std::vector<CheckinAction> plan_checkins(const PresenceInput& in);

}  // namespace radsync::session
