#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::webhook {

/// What an event asks of the snapshot.
/// kHint: nothing to store, but the members and guests of entity (kind, object_id) are
/// re-mapped (an occupancy slot names its booking).
enum class Action { kUpsert, kRemove, kIgnore, kHint };

/// A verified OfficeRnD webhook, reduced to what processing needs (officernd-api.md §1.8).
struct Envelope {
    std::string event_id;    ///< `event`; or "sha256:<hex of the body>" when OfficeRnD sent none
    std::string event_type;  ///< e.g. "membership.removed"
    Action action = Action::kIgnore;
    snapshot::Kind kind = snapshot::Kind::kMember;  ///< meaningful unless action is kIgnore
    std::string object_json;  ///< data.object re-serialised, for the snapshot parser
    std::string object_id;    ///< data.object._id; for a hint, the entity it points at
};

/// Parses the body of a request whose signature already verified: exactly one JSON document,
/// nested at most core::kMaxJsonDepth deep. Errc::kMalformedPayload if it is not a JSON object with
/// a string `eventType` and, for event types radsync handles, a `data.object` with an `_id`. Event
/// types radsync does not handle (invoices, fees, check-ins...) parse fine with action kIgnore, so
/// they can be acknowledged.
[[nodiscard]] Result<Envelope> parse_envelope(std::string_view body);

}  // namespace radsync::webhook
