#include "radsync/webhook/envelope.hpp"

#include <array>
#include <iterator>
#include <utility>

#include <openssl/evp.h>
#include <boost/algorithm/hex.hpp>
#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"

namespace radsync::webhook {

namespace {

using nlohmann::json;

// Entity prefixes radsync keeps a snapshot of. OfficeRnD has no team.* events (companies are
// company.*), and no events for plans or locations; those arrive by polling. None are known
// for resources or visitors either (officernd-api.md 2); should they come, they are kept.
constexpr std::array<std::pair<std::string_view, snapshot::Kind>, 7> kHandled = {{
    {"member", snapshot::Kind::kMember},
    {"company", snapshot::Kind::kCompany},
    {"membership", snapshot::Kind::kMembership},
    {"pass", snapshot::Kind::kPass},
    {"booking", snapshot::Kind::kBooking},
    {"resource", snapshot::Kind::kResource},
    {"visitor", snapshot::Kind::kVisitor},
}};

std::string body_digest(std::string_view body) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(body.data(), body.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
        len = 0;  // cannot happen with the default provider; an empty digest still dedupes
    }
    std::string out = "sha256:";
    boost::algorithm::hex_lower(digest, digest + len, std::back_inserter(out));
    return out;
}

}  // namespace

Result<Envelope> parse_envelope(std::string_view body) {
    auto parsed = core::parse_json(body);
    if (!parsed) {
        return Error(Errc::kMalformedPayload, "body: " + parsed.error().message);
    }
    const json& doc = *parsed;
    if (!doc.is_object()) {
        return Error(Errc::kMalformedPayload, "body is not a JSON object");
    }
    Envelope e;
    const auto type = doc.find("eventType");
    if (type == doc.end() || !type->is_string() || type->get<std::string>().empty()) {
        return Error(Errc::kMalformedPayload, "missing eventType");
    }
    e.event_type = type->get<std::string>();
    if (e.event_type.size() > 128) {
        return Error(Errc::kMalformedPayload, "eventType too long");
    }
    const auto id = doc.find("event");
    if (id != doc.end() && id->is_string() && !id->get<std::string>().empty() &&
        id->get<std::string>().size() <= 128) {
        e.event_id = id->get<std::string>();
    } else {
        // No event id: the body identifies the event. Not the signature's t: a redelivery is
        // signed afresh, and the same event with a new t must not be applied twice.
        e.event_id = body_digest(body);
    }

    const auto dot = e.event_type.rfind('.');
    const std::string prefix = e.event_type.substr(0, dot == std::string::npos ? 0 : dot);
    const std::string verb = dot == std::string::npos ? "" : e.event_type.substr(dot + 1);
    for (const auto& [name, kind] : kHandled) {
        if (prefix == name) {
            e.kind = kind;
            if (verb == "created" || verb == "updated") {
                e.action = Action::kUpsert;
            } else if (verb == "removed") {
                e.action = Action::kRemove;
            }
        }
    }
    // Each occurrence of a (recurring) booking also comes as an occupancy slot. radsync
    // expands the booking's own recurrence rule, so a slot is only a hint: re-map that
    // booking's guests.
    const bool slot = prefix == "occupancyslot" && (verb == "created" || verb == "removed");
    if (slot) {
        e.action = Action::kHint;
        e.kind = snapshot::Kind::kBooking;
    }
    if (e.action == Action::kIgnore) {
        return e;
    }
    const auto data = doc.find("data");
    if (data == doc.end() || !data->is_object()) {
        return Error(Errc::kMalformedPayload, "missing data");
    }
    const auto object = data->find("object");
    if (object == data->end() || !object->is_object()) {
        return Error(Errc::kMalformedPayload, "missing data.object");
    }
    const auto oid = object->find("_id");
    if (oid == object->end() || !oid->is_string() || oid->get<std::string>().empty()) {
        return Error(Errc::kMalformedPayload, "data.object has no _id");
    }
    e.object_id = oid->get<std::string>();
    e.object_json = object->dump();
    if (slot) {
        // The slot's booking: an id, or (v1) a populated object with one.
        const auto booking = object->find("booking");
        if (booking != object->end() && booking->is_string()) {
            e.object_id = booking->get<std::string>();
        } else if (booking != object->end() && booking->is_object() && booking->contains("_id") &&
                   (*booking)["_id"].is_string()) {
            e.object_id = (*booking)["_id"].get<std::string>();
        } else {
            return Error(Errc::kMalformedPayload, "occupancy slot without its booking");
        }
        if (e.object_id.empty() || e.object_id.size() > 128) {
            return Error(Errc::kMalformedPayload, "occupancy slot without its booking");
        }
    }
    return e;
}

}  // namespace radsync::webhook
