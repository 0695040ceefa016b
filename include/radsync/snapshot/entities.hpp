#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/core/timezone.hpp"

namespace radsync::snapshot {

/// Custom properties as OfficeRnD sends them, flattened to strings (numbers and booleans are
/// rendered as JSON text; nested objects are skipped).
using Properties = std::map<std::string, std::string>;

/// Fields every snapshot entity shares.
struct EntityBase {
    std::string id;                            ///< `_id`
    std::optional<core::Instant> modified_at;  ///< `modifiedAt`, decides which copy is newer
    std::optional<core::Instant> created_at;   ///< `createdAt`
    std::string raw;                           ///< the JSON object as received, for storage
};

struct Member : EntityBase {
    std::string name;
    std::string email;
    std::string status;    ///< v2 `status`, or v1 `calculatedStatus` when present
    std::string location;  ///< home location id (`location`, v1 `office`)
    std::string company;   ///< company id (`company`, v1 `team`); empty for individuals
    Properties properties;
};

struct Company : EntityBase {
    std::string name;
    std::string status;
    std::string location;
    Properties properties;  ///< e.g. the company's VLAN (mapping company_vlan_property)
};

struct Membership : EntityBase {
    std::string name;
    std::string plan;
    std::string location;           ///< `location`, v1 `office`
    std::string member;             ///< empty for company memberships
    std::string company;            ///< `company`, v1 `team`
    std::string status;             ///< approval: approved | not_approved
    std::string calculated_status;  ///< not_started | active | expired | not_approved
    std::optional<core::Date> start_date;
    std::optional<core::Date> end_date;  ///< absent = open-ended
    bool is_personal = false;
};

struct Plan : EntityBase {
    std::string name;
    std::string code;
};

struct Location : EntityBase {
    std::string name;
    std::string code;
    std::string timezone;  ///< IANA name; may be empty
};

/// A set of day passes (officernd-api.md §5.8).
struct Pass : EntityBase {
    std::string member;    ///< empty for a company pass nobody was assigned
    std::string company;   ///< `company`, v1 `team`
    std::string location;  ///< not documented for passes; read when present (`location`/`office`)
    std::string status;    ///< used | valid | expired | pending
    std::optional<core::Instant> valid_from;
    std::optional<core::Instant> valid_to;  ///< absent = ends per mapping passes.open_end
    bool is_personal = true;                ///< absent counts as personal when `member` is set
    bool grants_active_status = false;      ///< `shouldGrantActiveStatus`
    std::optional<long long> count;         ///< passes in the set
    std::optional<long long> used_count;    ///< `usedCount`
    std::string resource_type;              ///< `resourceType`, e.g. hotdesk
};

/// A booking of a resource (officernd-api.md §5.6); a recurring one has `rrule`, and then
/// `start`/`end` are its first occurrence.
struct Booking : EntityBase {
    std::string member;    ///< who booked
    std::string company;   ///< `company`, v1 `team`
    std::string location;  ///< `location`, v1 `office`
    std::string resource;  ///< `resource`, v1 `resourceId`
    std::string timezone;  ///< the booking's zone (recurrences repeat in it)
    std::optional<core::Instant> start;
    std::optional<core::Instant> end;
    bool cancelled = false;              ///< `isCancelled`, v1 `canceled`
    bool tentative = false;              ///< `isTentative`, v1 `tentative`
    std::vector<std::string> visitors;   ///< external visitor ids
    std::vector<std::string> members;    ///< members added to the booking
    std::string rrule;                   ///< `recurrence.rrule` (RFC 5545), empty if one-off
    std::vector<core::Instant> exdates;  ///< `recurrence.exdates`: occurrences left out
};

/// A bookable resource (§5.7): a meeting room, a desk...
struct Resource : EntityBase {
    std::string name;
    std::string type;  ///< a resource type key (meeting_room, team_room...) or its id
    std::string location;
};

/// A resource type (§5.7): `type` is its key, e.g. meeting_room.
struct ResourceType : EntityBase {
    std::string title;
    std::string type;
};

/// Someone a member invited (§5.9).
struct Visitor : EntityBase {
    std::string name;
    std::string email;
    std::string member;  ///< who they visit
    std::string company;
};

/// Everything radsync knows about an OfficeRnD account at one moment. Entities are sorted by
/// id so iteration order, and therefore every derived plan, is deterministic.
struct Snapshot {
    std::vector<Member> members;
    std::vector<Company> companies;
    std::vector<Membership> memberships;
    std::vector<Plan> plans;
    std::vector<Location> locations;
    std::vector<Pass> passes;
    std::vector<Booking> bookings;
    std::vector<Resource> resources;
    std::vector<ResourceType> resource_types;
    std::vector<Visitor> visitors;

    /// Sorts every list by id.
    void normalise();
};

/// Binary search in a normalised snapshot; nullptr if absent.
[[nodiscard]] const Member* find_member(const Snapshot& snap, const std::string& id);

/// Entity kinds, as named in the snapshot file and in webhook event types.
enum class Kind {
    kMember,
    kCompany,
    kMembership,
    kPlan,
    kLocation,
    kPass,
    kBooking,
    kResource,
    kResourceType,
    kVisitor,
};

/// Parses one entity object. Accepts v2 and v1 field names (`location`/`office`,
/// `company`/`team`, `calculatedStatus`, `resourceId`, `canceled`, `start.dateTime`); a
/// missing `properties` is an empty map. Errc::kMalformedPayload when `_id` is missing or a
/// field has the wrong type. `json_text` must be a JSON object.
[[nodiscard]] Result<Member> parse_member(const std::string& json_text);
[[nodiscard]] Result<Company> parse_company(const std::string& json_text);
[[nodiscard]] Result<Membership> parse_membership(const std::string& json_text);
[[nodiscard]] Result<Plan> parse_plan(const std::string& json_text);
[[nodiscard]] Result<Location> parse_location(const std::string& json_text);
[[nodiscard]] Result<Pass> parse_pass(const std::string& json_text);
[[nodiscard]] Result<Booking> parse_booking(const std::string& json_text);
[[nodiscard]] Result<Resource> parse_resource(const std::string& json_text);
[[nodiscard]] Result<ResourceType> parse_resource_type(const std::string& json_text);
[[nodiscard]] Result<Visitor> parse_visitor(const std::string& json_text);

/// Parses a snapshot document: an object with the lists "members", "companies", "memberships",
/// "plans", "locations", "passes", "bookings", "resources", "resource-types", "visitors"
/// (each optional, each an array of v2-shaped
/// objects, or a v2 list envelope {"results": [...]}). This is the fixture format
/// `reconcile --from-file` reads and the OfficeRnD simulator serves. Every malformed entity is
/// reported (by list and index); nothing partial is returned.
[[nodiscard]] Result<Snapshot> parse_snapshot(const std::string& json_text);

/// Bound on a snapshot document's size: larger files are refused before parsing.
inline constexpr std::size_t kMaxSnapshotBytes = 512ULL * 1024 * 1024;

}  // namespace radsync::snapshot
