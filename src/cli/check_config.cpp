#include <filesystem>
#include <iostream>

#include "common.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/service/officernd_fetch.hpp"

namespace radsync::cli {

namespace {

/// --online gives OfficeRnD this long, and this many attempts per request, to answer.
constexpr std::chrono::seconds kOnlineBudget{30};
constexpr int kOnlineAttempts = 3;

// Asks OfficeRnD whether the configured organization exists, with the configured token: the
// mistakes a file check cannot see (a wrong slug, a revoked token, no route to the API).
bool check_online(const config::Config& cfg) {
    if (cfg.officernd.org_slug.empty()) {
        std::cout << "online: no officernd section, nothing to ask\n";
        return true;
    }
    const auto deadline = std::chrono::steady_clock::now() + kOnlineBudget;
    const core::SystemClock clock;
    auto access = service::make_officernd_access(
        cfg, clock, [deadline] { return std::chrono::steady_clock::now() > deadline; }, nullptr,
        kOnlineAttempts);
    if (!access) {
        std::cerr << "error: online: " << access.error().message << "\n";
        return false;
    }
    if (auto checked = access->check(); !checked) {
        std::cerr << "error: online: " << checked.error().message << "\n";
        return false;
    }
    std::cout << "online: OfficeRnD organization " << cfg.officernd.org_slug << " found\n";
    return true;
}

}  // namespace

int check_config(const Options& opt) {
    auto loaded = config::load(opt.config_file);
    print_problems(loaded.warnings, "warning");
    std::vector<config::Problem> problems = loaded.problems;
    if (loaded.config) {
        const auto& cfg = *loaded.config;
        if (auto dict = config::Dictionary::load(cfg.radius.dictionary); dict) {
            auto unknown = config::check_attributes(cfg, *dict);
            problems.insert(problems.end(), unknown.begin(), unknown.end());
        } else {
            std::cerr << "warning: " << dict.error().message
                      << "; attribute names not checked against FreeRADIUS\n";
        }
        // The databases: existing ones must be readable at a schema this binary understands;
        // missing ones must be creatable.
        if (std::filesystem::exists(cfg.radius_database)) {
            // An older schema is fine (serve and migrate upgrade it, splitting a one-file
            // database); a newer one or an unreadable file is not.
            auto status = store::read_schema_status(paths_of(cfg));
            if (!status) {
                problems.push_back(
                    {{cfg.source_file, 0, 0}, "radius_database", status.error().message});
            } else {
                const auto too_new = [&](const char* key, const std::string& path, int version,
                                         int known) {
                    if (version > known) {
                        problems.push_back({{cfg.source_file, 0, 0},
                                            key,
                                            path + " has schema version " +
                                                std::to_string(version) +
                                                ", newer than this radsync knows (" +
                                                std::to_string(known) + ")"});
                    }
                };
                too_new("radius_database", cfg.radius_database, status->radius_version,
                        status->radius_binary_version);
                too_new("state_database", cfg.state_database, status->state_version,
                        status->state_binary_version);
            }
        }
        for (const auto& [key, path] : {std::pair{"radius_database", &cfg.radius_database},
                                        std::pair{"state_database", &cfg.state_database}}) {
            const auto dir = std::filesystem::path(*path).parent_path();
            if (!std::filesystem::exists(*path) && !dir.empty() &&
                !std::filesystem::is_directory(dir)) {
                problems.push_back({{cfg.source_file, 0, 0},
                                    key,
                                    "directory " + dir.string() + " does not exist"});
            }
        }
        if (!cfg.webhook && cfg.officernd.org_slug.empty()) {
            std::cerr << "warning: " << cfg.source_file
                      << ": neither a webhook nor an officernd section: `serve` refuses to start, "
                         "only `reconcile --from-file` can change anything\n";
        }
        if (cfg.accounts.password_storage == config::PasswordStorage::kCleartext) {
            std::cerr << "warning: " << cfg.source_file
                      << ": accounts.password.storage is cleartext: passwords are kept in clear "
                         "in both databases, and the RADIUS one is readable by FreeRADIUS's "
                         "group\n";
        }
    }
    if (!problems.empty()) {
        print_problems(problems, "error");
        std::cerr << opt.config_file << ": " << problems.size() << " problem(s)\n";
        return kExitFailure;
    }
    std::cout << opt.config_file << ": OK (" << loaded.config->mapping.groups.size() << " groups, "
              << loaded.config->mapping.plans.size() << " plans, "
              << loaded.config->mapping.locations.size() << " locations)\n";
    if (opt.online && !check_online(*loaded.config)) {
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace radsync::cli
