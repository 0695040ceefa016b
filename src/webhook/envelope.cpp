#include "radsync/webhook/envelope.hpp"

#include <array>
#include <utility>

#include <openssl/evp.h>
#include <nlohmann/json.hpp>

namespace radsync::webhook {

namespace {

using nlohmann::json;

// Entity prefixes radsync keeps a snapshot of. OfficeRnD has no team.* events (companies are
// company.*), and no events for plans or locations; those arrive by polling.
constexpr std::array<std::pair<std::string_view, snapshot::Kind>, 5> kHandled = {{
    {"member", snapshot::Kind::kMember},
    {"company", snapshot::Kind::kCompany},
    {"membership", snapshot::Kind::kMembership},
    {"pass", snapshot::Kind::kPass},
    {"booking", snapshot::Kind::kBooking},
}};

std::string body_digest(std::string_view body, std::string_view t) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    EVP_DigestUpdate(ctx, body.data(), body.size());
    EVP_DigestUpdate(ctx, ".", 1);
    EVP_DigestUpdate(ctx, t.data(), t.size());
    EVP_DigestFinal_ex(ctx, digest, &len);
    EVP_MD_CTX_free(ctx);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(kHex[digest[i] >> 4]);
        out.push_back(kHex[digest[i] & 0x0F]);
    }
    return out;
}

}  // namespace

Result<Envelope> parse_envelope(std::string_view body, std::string_view t) {
    const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
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
        // No event id: the signed bytes themselves identify a delivery; a redelivery of the
        // same request dedupes, a genuinely new event differs in body or t.
        e.event_id = body_digest(body, t);
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
    return e;
}

}  // namespace radsync::webhook
