#pragma once

// What to tell the access points when a run changed someone's access (design.md "Sessions"):
// pure functions from the RADIUS row changes a run applied to the sessions that must end or
// get new limits, and from an open session and its NAS to the RFC 5176 request. No I/O.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "radsync/config/config.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/radius/dynauth.hpp"
#include "radsync/reconcile/diff.hpp"
#include "radsync/store/accounting.hpp"
#include "radsync/store/records.hpp"

namespace radsync::session {

/// What a user's open sessions need after a run.
struct AccessChange {
    enum class Kind {
        kEnd,          ///< access revoked, removed, a location or a network setting lost
        kChangeLimits  ///< a new plan's limits: CoA, or Disconnect where the NAS has no CoA
    };
    std::string username;  ///< as FreeRADIUS stores it (and radacct records it)
    Kind kind = Kind::kEnd;
    std::string why;  ///< one line for logs and `sessions` output
    /// kChangeLimits: the new plan group's reply rows that a CoA-Request can carry.
    std::vector<store::RadRow> limits;
};

/// The access changes a run's row changes imply, one per user at most (an end wins over a
/// change of limits). `group_rows` are every group row radsync writes (mapping::group_rows),
/// from which a new plan's limits are read.
/// * revoked (Auth-Type := Reject), removed (password row gone) or password changed: end;
/// * a location group lost, or the member's own address or VLAN changed: end (neither can be
///   changed in a running session);
/// * a plan group exchanged for one with other limits: change limits;
/// * a location lost: end. A location group removed while another of the same location stays
///   (the mapping dropped one of its matchers) ends nothing;
/// * a group's own rows changed (a reload), for its members in `memberships` (radusergroup
///   rows; see group_rows_changed): a location's new VLAN ends their sessions, a plan's new
///   limits change them.
[[nodiscard]] std::vector<AccessChange> access_changes(
    const std::vector<reconcile::RowChange>& changes, const std::vector<store::RadRow>& group_rows,
    const std::vector<store::RadRow>& memberships = {});

/// Whether `changes` alter a plan's limits or a location's reply rows (then access_changes needs
/// the memberships).
[[nodiscard]] bool group_rows_changed(const std::vector<reconcile::RowChange>& changes);

/// The reply attributes radsync can send in a CoA-Request, by name, with their encoding:
/// Session-Timeout, Acct-Interim-Interval, WISPr-Bandwidth-Max-Down/-Up, Mikrotik-Rate-Limit.
/// Others (a group's extra `reply` attributes) are left out; nullopt for them.
[[nodiscard]] std::optional<radius::Attribute> limit_attribute(const std::string& name,
                                                               const std::string& value);

/// The request for one open session: Disconnect for kEnd, or for kChangeLimits at a NAS that
/// cannot do CoA; else CoA with the limits. The session is named by the attributes the NAS
/// entry asks for, each present only when the session recorded it.
struct PlannedRequest {
    radius::Code code = radius::Code::kDisconnectRequest;
    std::vector<radius::Attribute> attributes;
};
[[nodiscard]] PlannedRequest plan_request(const AccessChange& change, const store::Session& s,
                                          const config::Nas& nas);

/// The NAS a session belongs to: the entry whose address is the session's NAS-IP-Address.
[[nodiscard]] const config::Nas* nas_for(const store::Session& s, const config::Sessions& cfg);

/// The moment before which a session that heard no accounting update is stale: the longest
/// Acct-Interim-Interval any group sends, times `stale_after_intervals`, before `now`. Longest,
/// so a live session of a slow-interval group is never closed early.
[[nodiscard]] core::Instant stale_cutoff(core::Instant now, const config::Config& cfg);

/// Back-off before the `attempt`-th resend (1-based) of a request: the timeout doubled each
/// time, at most 8×.
[[nodiscard]] std::chrono::milliseconds resend_wait(std::chrono::milliseconds timeout, int attempt);

}  // namespace radsync::session
