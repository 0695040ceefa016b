#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::snapshot {

/// The version of one stored entity copy, for ordering concurrent or reordered updates.
struct Version {
    std::optional<core::Instant> modified_at;
    bool removed = false;
    std::string raw;
};

/// Whether `incoming` should replace `held`. Newer `modifiedAt` wins. On a tie a removal beats
/// an update, then the larger raw text wins: a total order, so replaying any set of events in
/// any order ends in the same state. An incoming copy without `modifiedAt` is applied (events
/// are hints; the next poll repairs a wrong guess), except that it never undoes a removal
/// that carried a timestamp.
[[nodiscard]] bool supersedes(const Version& incoming, const std::optional<Version>& held);

/// Removed entities still matter for ordering: a late update older than the removal must not
/// bring the entity back. Keyed by kind and id.
using Tombstones = std::map<std::pair<Kind, std::string>, Version>;

/// One entity change to persist alongside the RADIUS rows it causes.
struct EntityWrite {
    Kind kind = Kind::kMember;
    std::string id;
    Version version;
};

enum class MergeOutcome { kApplied, kStale };

/// Applies a webhook's `data.object` to the in-memory snapshot (and tombstones) if it is newer
/// than what is held. `remove` tombstones the entity (its last state is kept in the write).
/// Errc::kMalformedPayload if the object does not parse as that kind.
[[nodiscard]] Result<std::pair<MergeOutcome, EntityWrite>> merge_event(
    Snapshot& snap, Tombstones& tombstones, Kind kind, const std::string& object_json, bool remove);

/// Puts one entity, parsed from `object_json` as `kind`, into `snap` (replacing a copy with the
/// same id), keeping the lists sorted; no ordering rules apply. Errc::kMalformedPayload if the
/// object does not parse as that kind.
[[nodiscard]] Status put_entity(Snapshot& snap, Kind kind, const std::string& object_json);

/// The stored JSON of entity (kind, id) as `snap` holds it; nullopt if it holds none.
[[nodiscard]] std::optional<std::string> raw_of(const Snapshot& snap, Kind kind,
                                                const std::string& id);

/// Adds the members whose access may depend on entity (kind, id) as `snap` holds it now:
/// a member itself; a personal membership's member or every member of a company
/// membership's company; every member of a company; a pass's member (a company pass: the
/// company's members); a booking's member and its guests' account keys (guest_key); a
/// visitor's guest accounts. Call it
/// before and after merging an event, so both the old and the new owner are re-mapped.
void collect_affected_members(const Snapshot& snap, Kind kind, const std::string& id,
                              std::set<std::string>& out);

/// A poll lists only the bookings that start inside its window (officernd::booking_window), so
/// a recurring booking whose series began before `window_start` is missing from it although
/// it still runs. Copies into `fetched` every such booking `held` has and `fetched` lacks (a
/// series that is removed comes as booking.removed, or ends by its own rule); returns how many.
std::size_t keep_running_series(const Snapshot& held, Snapshot& fetched,
                                core::Instant window_start);

/// The account key of a booking's guest (a visitor, or a member added to the booking):
/// "guest:<booking id>:<person id>". Accounts are keyed by member id otherwise; member ids are
/// 24-hex ObjectIds and never start with this prefix.
inline constexpr std::string_view kGuestKeyPrefix = "guest:";
[[nodiscard]] std::string guest_key(const std::string& booking_id, const std::string& person_id);

[[nodiscard]] const char* to_string(Kind k);
/// The plural name of a kind's list, as in a snapshot file and OfficeRnD's API paths
/// ("members", "companies", ...).
[[nodiscard]] const char* list_name(Kind k);

}  // namespace radsync::snapshot
