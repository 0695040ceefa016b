#include <algorithm>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"
#include "radsync/snapshot/entities.hpp"

#include "property_text.hpp"

namespace radsync::snapshot {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxListedIds = 1000;
// RFC 5545 rules are short ("FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=..."); libical gets nothing longer.
constexpr std::size_t kMaxRruleBytes = 1024;

// A field error names the field; the caller adds which entity it was in.
struct FieldReader {
    const json& obj;
    std::string error;

    // First present, non-null key among `names`, as a string. Numbers are accepted too because
    // ids and codes occasionally arrive as numbers in hand-made data.
    std::string str(std::initializer_list<const char*> names) {
        for (const char* name : names) {
            auto it = obj.find(name);
            if (it == obj.end() || it->is_null()) {
                continue;
            }
            if (it->is_string()) {
                return it->get<std::string>();
            }
            if (it->is_number()) {
                return it->dump();
            }
            // v1 shapes reference other entities as populated objects: take their _id.
            if (it->is_object() && it->contains("_id") && (*it)["_id"].is_string()) {
                return (*it)["_id"].get<std::string>();
            }
            fail(std::string("field \"") + name + "\" must be a string");
            return {};
        }
        return {};
    }

    bool boolean(std::initializer_list<const char*> names) {
        for (const char* name : names) {
            auto it = obj.find(name);
            if (it == obj.end() || it->is_null()) {
                continue;
            }
            if (it->is_boolean()) {
                return it->get<bool>();
            }
            fail(std::string("field \"") + name + "\" must be a boolean");
            return false;
        }
        return false;
    }

    std::optional<long long> integer(std::initializer_list<const char*> names) {
        for (const char* name : names) {
            auto it = obj.find(name);
            if (it == obj.end() || it->is_null()) {
                continue;
            }
            if (it->is_number_integer()) {
                return it->get<long long>();
            }
            fail(std::string("field \"") + name + "\" must be an integer");
            return std::nullopt;
        }
        return std::nullopt;
    }

    std::optional<core::Instant> instant(std::initializer_list<const char*> names) {
        for (const char* name : names) {
            auto it = obj.find(name);
            if (it == obj.end() || it->is_null()) {
                continue;
            }
            const json* v = &*it;
            // v1 bookings: {"start": {"dateTime": "..."}}
            if (v->is_object() && v->contains("dateTime")) {
                v = &(*v)["dateTime"];
            }
            if (!v->is_string()) {
                fail(std::string("field \"") + name + "\" must be an ISO-8601 string");
                return std::nullopt;
            }
            auto t = core::parse_instant(v->get<std::string>());
            if (!t) {
                fail(std::string("field \"") + name + "\": " + t.error().message);
                return std::nullopt;
            }
            return *t;
        }
        return std::nullopt;
    }

    std::optional<core::Date> date(std::initializer_list<const char*> names) {
        for (const char* name : names) {
            auto it = obj.find(name);
            if (it == obj.end() || it->is_null()) {
                continue;
            }
            if (!it->is_string()) {
                fail(std::string("field \"") + name + "\" must be a date string");
                return std::nullopt;
            }
            if (it->get<std::string>().empty()) {
                return std::nullopt;
            }
            auto d = core::parse_calendar_date(it->get<std::string>());
            if (!d) {
                fail(std::string("field \"") + name + "\": " + d.error().message);
                return std::nullopt;
            }
            return *d;
        }
        return std::nullopt;
    }

    // A list of ids (strings, or v1's populated objects with an _id); bounded, since a
    // booking lists a room's worth of people, not thousands.
    std::vector<std::string> ids(const char* name) {
        std::vector<std::string> out;
        auto it = obj.find(name);
        if (it == obj.end() || it->is_null()) {
            return out;
        }
        if (!it->is_array() || it->size() > kMaxListedIds) {
            fail(std::string("field \"") + name + "\" must be an array of at most " +
                 std::to_string(kMaxListedIds) + " ids");
            return out;
        }
        for (const auto& v : *it) {
            if (v.is_string()) {
                out.push_back(v.get<std::string>());
            } else if (v.is_object() && v.contains("_id") && v["_id"].is_string()) {
                out.push_back(v["_id"].get<std::string>());
            } else {
                fail(std::string("field \"") + name + "\" must list ids");
                return {};
            }
        }
        return out;
    }

    // A list of ISO-8601 instants (a recurrence's exdates); bounded like ids().
    std::vector<core::Instant> instants(const char* name) {
        std::vector<core::Instant> out;
        auto it = obj.find(name);
        if (it == obj.end() || it->is_null()) {
            return out;
        }
        if (!it->is_array() || it->size() > kMaxListedIds) {
            fail(std::string("field \"") + name + "\" must be an array of at most " +
                 std::to_string(kMaxListedIds) + " dates");
            return out;
        }
        for (const auto& v : *it) {
            auto t = v.is_string()
                         ? core::parse_instant(v.get<std::string>())
                         : Result<core::Instant>(Error(Errc::kMalformedPayload, "not a string"));
            if (!t) {
                fail(std::string("field \"") + name + "\" must list ISO-8601 instants");
                return {};
            }
            out.push_back(*t);
        }
        return out;
    }

    Properties properties() {
        Properties out;
        auto it = obj.find("properties");
        if (it == obj.end() || it->is_null()) {
            return out;  // OfficeRnD omits the key when an entity has no custom properties
        }
        if (!it->is_object()) {
            fail("field \"properties\" must be an object");
            return out;
        }
        for (const auto& [key, value] : it->items()) {
            if (auto text = detail::property_text(value)) {
                out.emplace(key, std::move(*text));
            }
        }
        return out;
    }

    void fail(std::string message) {
        if (error.empty()) {
            error = std::move(message);
        }
    }
};

template <class Entity>
using Filler = std::function<void(FieldReader&, Entity&)>;

template <class Entity>
Result<Entity> parse_object(const json& obj, const Filler<Entity>& fill) {
    if (!obj.is_object()) {
        return Error(Errc::kMalformedPayload, "expected a JSON object");
    }
    FieldReader r{obj, {}};
    Entity e;
    e.id = r.str({"_id"});
    if (e.id.empty() && r.error.empty()) {
        r.fail("missing \"_id\"");
    }
    e.modified_at = r.instant({"modifiedAt"});
    e.created_at = r.instant({"createdAt"});
    fill(r, e);
    if (!r.error.empty()) {
        return Error(Errc::kMalformedPayload, r.error);
    }
    e.raw = obj.dump();
    return e;
}

const Filler<Member> kMember = [](FieldReader& r, Member& m) {
    m.name = r.str({"name"});
    m.email = r.str({"email"});
    // v1 has both `status` (possibly set by hand) and `calculatedStatus` (effective); v2 only
    // `status`. The effective one wins when present.
    m.status = r.str({"calculatedStatus", "status"});
    m.location = r.str({"location", "office"});
    m.company = r.str({"company", "team"});
    m.properties = r.properties();
};

const Filler<Company> kCompany = [](FieldReader& r, Company& c) {
    c.name = r.str({"name"});
    c.status = r.str({"calculatedStatus", "status"});
    c.location = r.str({"location", "office"});
    c.properties = r.properties();
};

const Filler<Membership> kMembership = [](FieldReader& r, Membership& m) {
    m.name = r.str({"name"});
    m.plan = r.str({"plan"});
    m.location = r.str({"location", "office"});
    m.member = r.str({"member"});
    m.company = r.str({"company", "team"});
    m.status = r.str({"status"});
    m.calculated_status = r.str({"calculatedStatus"});
    m.start_date = r.date({"startDate"});
    m.end_date = r.date({"endDate"});
    m.is_personal = r.boolean({"isPersonal"}) || !m.member.empty();
};

const Filler<Plan> kPlan = [](FieldReader& r, Plan& p) {
    p.name = r.str({"name"});
    p.code = r.str({"code"});
};

const Filler<Location> kLocation = [](FieldReader& r, Location& l) {
    l.name = r.str({"name"});
    l.code = r.str({"code"});
    l.timezone = r.str({"timezone"});
};

const Filler<Pass> kPass = [](FieldReader& r, Pass& p) {
    p.member = r.str({"member"});
    p.company = r.str({"company", "team"});
    p.location = r.str({"location", "office"});
    p.status = r.str({"status"});
    p.valid_from = r.instant({"validFrom"});
    p.valid_to = r.instant({"validTo"});
    p.is_personal = r.obj.contains("isPersonal") && !r.obj["isPersonal"].is_null()
                        ? r.boolean({"isPersonal"})
                        : !p.member.empty();
    p.grants_active_status = r.boolean({"shouldGrantActiveStatus"});
    p.count = r.integer({"count"});
    p.used_count = r.integer({"usedCount"});
    p.resource_type = r.str({"resourceType"});
};

const Filler<Booking> kBooking = [](FieldReader& r, Booking& b) {
    b.member = r.str({"member"});
    b.company = r.str({"company", "team"});
    b.location = r.str({"location", "office"});
    b.resource = r.str({"resource", "resourceId"});
    b.timezone = r.str({"timezone"});
    b.start = r.instant({"start"});
    b.end = r.instant({"end"});
    b.cancelled = r.boolean({"isCancelled", "canceled"});
    b.tentative = r.boolean({"isTentative", "tentative"});
    b.visitors = r.ids("visitors");
    b.members = r.ids("members");
    if (const auto it = r.obj.find("recurrence"); it != r.obj.end() && it->is_object()) {
        FieldReader inner{*it, {}};
        b.rrule = inner.str({"rrule"});
        if (b.rrule.size() > kMaxRruleBytes) {
            inner.fail("rrule longer than " + std::to_string(kMaxRruleBytes) + " bytes");
        }
        b.exdates = inner.instants("exdates");
        if (!inner.error.empty()) {
            r.fail("recurrence: " + inner.error);
        }
    }
};

const Filler<Resource> kResource = [](FieldReader& r, Resource& x) {
    x.name = r.str({"name"});
    x.type = r.str({"type"});
    x.location = r.str({"location", "office"});
};

const Filler<ResourceType> kResourceType = [](FieldReader& r, ResourceType& x) {
    x.title = r.str({"title"});
    x.type = r.str({"type"});
};

const Filler<Visitor> kVisitor = [](FieldReader& r, Visitor& x) {
    x.name = r.str({"name"});
    x.email = r.str({"email"});
    x.member = r.str({"member"});
    x.company = r.str({"company", "team"});
};

template <class Entity>
Result<Entity> parse_text(const std::string& text, const Filler<Entity>& fill) {
    auto obj = core::parse_json(text);
    if (!obj) {
        return obj.error();
    }
    return parse_object(*obj, fill);
}

template <class Entity>
void parse_list(const json& doc, const char* key, const Filler<Entity>& fill,
                std::vector<Entity>& out, std::vector<std::string>& errors) {
    auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) {
        return;
    }
    const json* list = &*it;
    if (list->is_object() && list->contains("results")) {
        list = &(*list)["results"];
    }
    if (!list->is_array()) {
        errors.push_back(std::string(key) + ": expected an array");
        return;
    }
    out.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
        auto e = parse_object((*list)[i], fill);
        if (!e) {
            errors.push_back(std::string(key) + "[" + std::to_string(i) +
                             "]: " + e.error().message);
            continue;
        }
        out.push_back(std::move(*e));
    }
}

template <class Entity>
void sort_by_id(std::vector<Entity>& v) {
    std::sort(v.begin(), v.end(), [](const Entity& a, const Entity& b) { return a.id < b.id; });
}

}  // namespace

const Member* find_member(const Snapshot& snap, const std::string& id) {
    auto it = std::lower_bound(snap.members.begin(), snap.members.end(), id,
                               [](const Member& m, const std::string& key) { return m.id < key; });
    return (it != snap.members.end() && it->id == id) ? &*it : nullptr;
}

void Snapshot::normalise() {
    sort_by_id(members);
    sort_by_id(companies);
    sort_by_id(memberships);
    sort_by_id(plans);
    sort_by_id(locations);
    sort_by_id(passes);
    sort_by_id(bookings);
    sort_by_id(resources);
    sort_by_id(resource_types);
    sort_by_id(visitors);
}

Result<Member> parse_member(const std::string& t) {
    return parse_text(t, kMember);
}
Result<Company> parse_company(const std::string& t) {
    return parse_text(t, kCompany);
}
Result<Membership> parse_membership(const std::string& t) {
    return parse_text(t, kMembership);
}
Result<Plan> parse_plan(const std::string& t) {
    return parse_text(t, kPlan);
}
Result<Location> parse_location(const std::string& t) {
    return parse_text(t, kLocation);
}
Result<Pass> parse_pass(const std::string& t) {
    return parse_text(t, kPass);
}
Result<Booking> parse_booking(const std::string& t) {
    return parse_text(t, kBooking);
}
Result<Resource> parse_resource(const std::string& t) {
    return parse_text(t, kResource);
}
Result<ResourceType> parse_resource_type(const std::string& t) {
    return parse_text(t, kResourceType);
}
Result<Visitor> parse_visitor(const std::string& t) {
    return parse_text(t, kVisitor);
}

Result<Snapshot> parse_snapshot(const std::string& json_text) {
    if (json_text.size() > kMaxSnapshotBytes) {
        return Error(Errc::kMalformedPayload,
                     "snapshot larger than " + std::to_string(kMaxSnapshotBytes) + " bytes");
    }
    auto parsed = core::parse_json(json_text);
    if (!parsed) {
        return Error(Errc::kMalformedPayload, "snapshot: " + parsed.error().message);
    }
    const json& doc = *parsed;
    if (!doc.is_object()) {
        return Error(Errc::kMalformedPayload, "snapshot must be a JSON object of entity lists");
    }
    static const char* const kKnown[] = {"members",        "companies", "memberships", "plans",
                                         "locations",      "passes",    "bookings",    "resources",
                                         "resource-types", "visitors"};
    std::vector<std::string> errors;
    for (const auto& item : doc.items()) {
        const std::string& key = item.key();
        if (std::find_if(std::begin(kKnown), std::end(kKnown),
                         [&key](const char* k) { return key == k; }) == std::end(kKnown)) {
            errors.push_back("unknown list \"" + key + "\"");
        }
    }
    Snapshot s;
    parse_list(doc, "members", kMember, s.members, errors);
    parse_list(doc, "companies", kCompany, s.companies, errors);
    parse_list(doc, "memberships", kMembership, s.memberships, errors);
    parse_list(doc, "plans", kPlan, s.plans, errors);
    parse_list(doc, "locations", kLocation, s.locations, errors);
    parse_list(doc, "passes", kPass, s.passes, errors);
    parse_list(doc, "bookings", kBooking, s.bookings, errors);
    parse_list(doc, "resources", kResource, s.resources, errors);
    parse_list(doc, "resource-types", kResourceType, s.resource_types, errors);
    parse_list(doc, "visitors", kVisitor, s.visitors, errors);
    if (!errors.empty()) {
        std::string message;
        for (const auto& e : errors) {
            message += (message.empty() ? "" : "; ") + e;
        }
        return Error(Errc::kMalformedPayload, message);
    }
    s.normalise();
    return s;
}

}  // namespace radsync::snapshot
