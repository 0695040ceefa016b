// The operator's troubleshooting commands: `mapping check` (the mapping against what OfficeRnD
// has) and `api GET /path` (one authorised, read-only OfficeRnD call).

#include <algorithm>
#include <cctype>
#include <iostream>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "radsync/core/json.hpp"
#include "radsync/mapping/coverage.hpp"
#include "radsync/service/officernd_fetch.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::cli {

namespace {

std::string where(const config::Origin& o) {
    return o.file + ":" + std::to_string(o.line) + ":" + std::to_string(o.column);
}

std::string named(const mapping::Coverage::Object& o) {
    std::string text = "\"" + o.name + "\" id " + o.id;
    if (!o.code.empty()) {
        text += " code " + o.code;
    }
    return text;
}

nlohmann::json object_json(const mapping::Coverage::Object& o) {
    return {{"id", o.id}, {"name", o.name}, {"code", o.code}};
}

nlohmann::json origin_json(const config::Origin& o) {
    return {{"file", o.file}, {"line", o.line}, {"column", o.column}};
}

std::string coverage_json(const mapping::Coverage& c, const std::string& source) {
    nlohmann::json j = {{"source", source},
                        {"clean", c.clean()},
                        {"officernd",
                         {{"plans", c.plans},
                          {"locations", c.locations},
                          {"companies", c.companies},
                          {"resource_types", c.resource_types}}},
                        {"uncovered_plans", nlohmann::json::array()},
                        {"uncovered_locations", nlohmann::json::array()},
                        {"dead_entries", nlohmann::json::array()},
                        {"contested_plans", nlohmann::json::array()}};
    for (const auto& o : c.uncovered_plans) {
        j["uncovered_plans"].push_back(object_json(o));
    }
    for (const auto& o : c.uncovered_locations) {
        j["uncovered_locations"].push_back(object_json(o));
    }
    for (const auto& d : c.dead_entries) {
        j["dead_entries"].push_back(
            {{"section", d.section}, {"match", d.match}, {"origin", origin_json(d.origin)}});
    }
    for (const auto& p : c.contested_plans) {
        nlohmann::json origins = nlohmann::json::array();
        for (const auto& o : p.origins) {
            origins.push_back(origin_json(o));
        }
        j["contested_plans"].push_back(
            {{"plan", object_json(p.plan)}, {"groups", p.groups}, {"origins", origins}});
    }
    return core::to_output(j);
}

void print_coverage(const mapping::Coverage& c, const std::string& source) {
    std::cout << "OfficeRnD (" << source << "): " << c.plans << " plans, " << c.locations
              << " locations, " << c.companies << " companies, " << c.resource_types
              << " resource types\n";
    const auto section = [](const char* title, std::size_t n) {
        if (n > 0) {
            std::cout << title << " (" << n << "):\n";
        }
    };
    section(
        "plans no mapping entry covers (members on them get no access; map them, to a group "
        "with access: none if need be)",
        c.uncovered_plans.size());
    for (const auto& o : c.uncovered_plans) {
        std::cout << "  " << named(o) << "\n";
    }
    section("locations no mapping entry covers (nobody can log in there)",
            c.uncovered_locations.size());
    for (const auto& o : c.uncovered_locations) {
        std::cout << "  " << named(o) << "\n";
    }
    section("mapping entries that match nothing in OfficeRnD", c.dead_entries.size());
    for (const auto& d : c.dead_entries) {
        std::cout << "  " << where(d.origin) << ": " << d.section << ": " << d.match << "\n";
    }
    section("plans claimed by several groups (the first entry wins)", c.contested_plans.size());
    for (const auto& p : c.contested_plans) {
        std::cout << "  " << named(p.plan) << ":";
        for (std::size_t i = 0; i < p.groups.size(); ++i) {
            std::cout << (i ? "," : "") << " " << p.groups[i] << " (" << where(p.origins[i]) << ")";
        }
        std::cout << "\n";
    }
    std::cout << (c.clean() ? "mapping check: every plan and location is mapped, every entry "
                              "matches, no plan is claimed twice\n"
                            : "mapping check: problems found\n");
}

}  // namespace

int mapping_check(const Options& opt) {
    auto cfg = load_config_for_command(opt);
    if (!cfg) {
        return kExitFailure;
    }
    Result<snapshot::Snapshot> snap = Error(Errc::kConfigInvalid, "no source");
    std::string source;
    if (!opt.snapshot_file.empty()) {
        source = opt.snapshot_file;
        auto text = read_bounded(opt.snapshot_file, snapshot::kMaxSnapshotBytes);
        if (!text) {
            return fail(text.error());
        }
        snap = snapshot::parse_snapshot(*text);
        if (!snap) {
            std::cerr << "error: " << opt.snapshot_file << ": " << snap.error().message << "\n";
            return kExitFailure;
        }
    } else {
        if (cfg->officernd.org_slug.empty()) {
            std::cerr << "error: " << opt.config_file
                      << " has no officernd section; use --from-file SNAPSHOT.json\n";
            return kExitFailure;
        }
        source = "organization " + cfg->officernd.org_slug;
        const core::SystemClock clock;
        auto access = service::make_officernd_access(*cfg, clock, [] { return false; });
        if (!access) {
            return fail(access.error());
        }
        snap = access->fetch();
        if (!snap) {
            return fail(snap.error());
        }
    }
    const auto coverage = mapping::check_coverage(cfg->mapping, *snap);
    if (opt.json) {
        std::cout << coverage_json(coverage, source);
    } else {
        print_coverage(coverage, source);
    }
    return coverage.clean() ? kExitOk : kExitFailure;
}

int api_call(const Options& opt) {
    std::string method = opt.api_method;
    std::transform(method.begin(), method.end(), method.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
    if (method != "GET") {
        std::cerr << "error: radsync api is read-only: only GET (got " << opt.api_method << ")\n";
        return kExitFailure;
    }
    auto cfg = load_config_for_command(opt);
    if (!cfg) {
        return kExitFailure;
    }
    if (cfg->officernd.org_slug.empty()) {
        std::cerr << "error: " << opt.config_file << " has no officernd section\n";
        return kExitFailure;
    }
    const core::SystemClock clock;
    auto access = service::make_officernd_access(*cfg, clock, [] { return false; });
    if (!access) {
        return fail(access.error());
    }
    auto body = access->get(opt.api_target);
    if (!body) {
        return fail(body.error());
    }
    auto parsed = core::parse_json(*body);
    std::cout << (parsed ? core::to_output(*parsed) : *body + "\n");
    return kExitOk;
}

}  // namespace radsync::cli
