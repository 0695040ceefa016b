#include "radsync/cli/cli.hpp"

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "radsync/config/loader.hpp"
#include "radsync/core/timezone.hpp"
#include "radsync/log/log.hpp"
#include "radsync/mapping/credentials.hpp"
#include "radsync/mapping/engine.hpp"
#include "radsync/reconcile/reconciler.hpp"
#include "radsync/service/app.hpp"
#include "radsync/snapshot/entities.hpp"
#include "radsync/store/store.hpp"

namespace radsync::cli {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;

struct Options {
    std::string config_file = "/etc/radsync/radsync.yaml";
    std::string snapshot_file;
    bool dry_run = false;
    bool verbose = false;
    bool json = false;
    bool show_password = false;
    std::string account_key;
    bool no_processing = false;
};

void print_problems(const std::vector<config::Problem>& problems, const char* kind) {
    for (const auto& p : problems) {
        std::cerr << kind << ": " << p.to_string() << "\n";
    }
}

// Loads and validates the configuration; prints every problem. Empty optional on failure.
std::optional<config::Config> load_config(const Options& opt) {
    auto loaded = config::load(opt.config_file);
    print_problems(loaded.warnings, "warning");
    if (!loaded.config) {
        print_problems(loaded.problems, "error");
        std::cerr << opt.config_file << ": " << loaded.problems.size()
                  << " problem(s); nothing was changed\n";
        return std::nullopt;
    }
    log::setup(loaded.config->log_level);
    return std::move(loaded.config);
}

int fail(const Error& e) {
    std::cerr << "error: " << e.message << "\n";
    return kExitFailure;
}

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
        // The database: an existing one must be readable at a schema this binary understands;
        // a missing one must be creatable.
        if (std::filesystem::exists(cfg.database)) {
            // An older schema is fine (serve and migrate upgrade it); a newer one or an
            // unreadable file is not.
            auto status = store::read_schema_status(cfg.database);
            if (!status) {
                problems.push_back({{cfg.source_file, 0, 0}, "database", status.error().message});
            } else if (status->database_version > status->binary_version) {
                problems.push_back({{cfg.source_file, 0, 0},
                                    "database",
                                    cfg.database + " has schema version " +
                                        std::to_string(status->database_version) +
                                        ", newer than this radsync knows (" +
                                        std::to_string(status->binary_version) + ")"});
            }
        } else {
            const auto dir = std::filesystem::path(cfg.database).parent_path();
            if (!dir.empty() && !std::filesystem::is_directory(dir)) {
                problems.push_back({{cfg.source_file, 0, 0},
                                    "database",
                                    "directory " + dir.string() + " does not exist"});
            }
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
    return kExitOk;
}

int migrate(const Options& opt) {
    auto cfg = load_config(opt);
    if (!cfg) {
        return kExitFailure;
    }
    auto status = store::migrate_sqlite(cfg->database);
    if (!status) {
        return fail(status.error());
    }
    std::cout << cfg->database << ": schema version " << status->database_version << " -> "
              << status->binary_version << "\n";
    return kExitOk;
}

Result<std::string> read_bounded(const std::string& path, std::size_t limit) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) {
        return Error(Errc::kIoFailed, "cannot read " + path + ": " + ec.message());
    }
    if (size > limit) {
        return Error(Errc::kMalformedPayload,
                     path + " is larger than " + std::to_string(limit) + " bytes");
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
        return Error(Errc::kIoFailed, "cannot read " + path);
    }
    return text.str();
}

int reconcile_from_file(const Options& opt) {
    auto cfg = load_config(opt);
    if (!cfg) {
        return kExitFailure;
    }
    auto text = read_bounded(opt.snapshot_file, snapshot::kMaxSnapshotBytes);
    if (!text) {
        return fail(text.error());
    }
    auto snap = snapshot::parse_snapshot(*text);
    if (!snap) {
        std::cerr << "error: " << opt.snapshot_file << ": " << snap.error().message << "\n";
        return kExitFailure;
    }
    auto st = store::open_sqlite_store(cfg->database);
    if (!st) {
        return fail(st.error());
    }
    core::SystemClock clock;
    reconcile::RunOptions run{opt.dry_run, "file", opt.snapshot_file, std::nullopt};
    auto report = reconcile::reconcile_full(**st, *cfg, std::move(*snap), clock,
                                            mapping::generate_password, run);
    if (!report) {
        return fail(report.error());
    }
    const std::string text_report = reconcile::describe(*report);
    if (opt.dry_run || opt.verbose) {
        std::cout << text_report;
    } else {
        // Summary lines only: the last three lines of the full description.
        std::istringstream lines(text_report);
        std::string line;
        std::vector<std::string> all;
        while (std::getline(lines, line)) {
            all.push_back(line);
        }
        for (std::size_t i = all.size() >= 2 ? all.size() - 2 : 0; i < all.size(); ++i) {
            std::cout << all[i] << "\n";
        }
    }
    return kExitOk;
}

std::string format_expiry(const std::optional<core::Instant>& t) {
    return t ? core::format_instant(*t) : "never";
}

int accounts_list(const Options& opt) {
    auto cfg = load_config(opt);
    if (!cfg) {
        return kExitFailure;
    }
    auto st = store::open_sqlite_store_read_only(cfg->database);
    if (!st) {
        return fail(st.error());
    }
    auto accounts = (*st)->load_accounts();
    if (!accounts) {
        return fail(accounts.error());
    }
    if (opt.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& [id, a] : *accounts) {
            out.push_back({{"member_id", id},
                           {"username", a.username},
                           {"state", store::to_string(a.state)},
                           {"group", a.group},
                           {"locations", a.locations},
                           {"expires", a.expires ? nlohmann::json(core::format_instant(*a.expires))
                                                 : nlohmann::json(nullptr)},
                           {"reason", a.reason}});
        }
        std::cout << out.dump(2) << "\n";
        return kExitOk;
    }
    std::printf("%-40s %-26s %-8s %-16s %-20s %s\n", "USERNAME", "MEMBER", "STATE", "GROUP",
                "LOCATIONS", "EXPIRES");
    for (const auto& [id, a] : *accounts) {
        std::printf("%-40s %-26s %-8s %-16s %-20s %s\n", a.username.c_str(), id.c_str(),
                    store::to_string(a.state), a.group.c_str(), a.locations.c_str(),
                    format_expiry(a.expires).c_str());
    }
    std::printf("%zu account(s)\n", accounts->size());
    return kExitOk;
}

int accounts_show(const Options& opt) {
    auto cfg = load_config(opt);
    if (!cfg) {
        return kExitFailure;
    }
    auto st = store::open_sqlite_store_read_only(cfg->database);
    if (!st) {
        return fail(st.error());
    }
    auto& store = **st;
    auto snap = store.load_snapshot();
    auto accounts = store.load_accounts();
    auto owned = store.load_owned_rows();
    auto foreign = store.foreign_usernames();
    if (!snap || !accounts || !owned || !foreign) {
        return fail(!snap       ? snap.error()
                    : !accounts ? accounts.error()
                    : !owned    ? owned.error()
                                : foreign.error());
    }

    // The key may be a member id, an e-mail, a login name or its escaped FreeRADIUS form.
    const std::string key = opt.account_key;
    const std::string lowered = [&] {
        auto n = mapping::normalise_login_name(key, true);
        return n ? *n : key;
    }();
    std::string member_id;
    for (const auto& m : snap->members) {
        if (m.id == key || (!m.email.empty() && (m.email == key || m.email == lowered))) {
            member_id = m.id;
        }
    }
    for (const auto& [id, a] : *accounts) {
        if (a.username == key || a.username == mapping::radius_escape(key) ||
            a.username == mapping::radius_escape(lowered) || id == key) {
            member_id = id;
        }
    }
    if (member_id.empty()) {
        std::cerr << "no member or account matches '" << key << "'\n";
        return kExitFailure;
    }

    // Re-run the mapping read-only to explain the current decision, even for members without
    // an account. The generator is never used for the output (no password is shown for
    // members who have none yet).
    mapping::Context ctx{core::SystemClock().now(), *accounts, *foreign,
                         [](int) { return std::string("(not yet generated)"); }};
    const auto desired = mapping::map_snapshot(*snap, *cfg, ctx);
    const mapping::Decision* decision = nullptr;
    for (const auto& d : desired.decisions) {
        if (d.member_id == member_id) {
            decision = &d;
        }
    }
    const auto stored = accounts->find(member_id);
    std::cout << "member:    " << member_id;
    if (decision != nullptr && !decision->member_name.empty()) {
        std::cout << " (" << decision->member_name << ")";
    }
    std::cout << "\n";
    if (stored != accounts->end()) {
        const auto& a = stored->second;
        std::cout << "username:  " << a.username << "\n"
                  << "state:     " << store::to_string(a.state) << " since "
                  << core::format_instant(a.state_since) << "\n"
                  << "group:     " << (a.group.empty() ? "-" : a.group) << "\n"
                  << "locations: " << (a.locations.empty() ? "-" : a.locations) << "\n"
                  << "expires:   " << format_expiry(a.expires) << "\n"
                  << "password:  "
                  << (a.password.empty()  ? "(from OfficeRnD custom property)"
                      : opt.show_password ? a.password
                                          : "(hidden; --show-password to reveal)")
                  << "\n"
                  << "reason:    " << a.reason << "\n";
    } else {
        std::cout << "account:   none\n";
    }
    if (decision != nullptr) {
        std::cout << "now:       " << mapping::to_string(decision->outcome) << ": "
                  << decision->reason << "\n";
    }
    if (stored != accounts->end()) {
        std::cout << "rows:\n";
        for (const auto& o : *owned) {
            if (o.row.name != stored->second.username) {
                continue;
            }
            const auto& r = o.row;
            const bool secret = r.attribute.find("Password") != std::string::npos;
            std::cout << "  " << store::to_string(r.table) << " " << r.attribute << " "
                      << (r.table == store::Table::kRadusergroup
                              ? "priority " + std::to_string(r.priority)
                              : r.op + " " + (secret ? std::string("(secret)") : r.value))
                      << "\n";
        }
        auto audit = store.audit(10, stored->second.username);
        if (audit && !audit->empty()) {
            std::cout << "recent changes:\n";
            for (const auto& e : *audit) {
                std::cout << "  " << core::format_instant(e.at) << " run " << e.run_id << " "
                          << e.op << " " << e.table << " " << e.attribute << "\n";
            }
        }
    }
    return kExitOk;
}

}  // namespace

int run(int argc, char** argv) {
    Options opt;
    CLI::App app{"radsync: keeps FreeRADIUS users in step with OfficeRnD", "radsync"};
    app.set_version_flag("--version", "radsync 0.1.0");
    app.add_option("-c,--config", opt.config_file, "main configuration file")
        ->capture_default_str();
    app.require_subcommand(1);

    auto* serve = app.add_subcommand("serve", "run the daemon (webhooks, health and metrics)");
    serve
        ->add_flag("--no-processing-for-test", opt.no_processing,
                   "acknowledge and store webhooks without processing them (tests only)")
        ->group("");  // hidden: crash-recovery tests use it to kill between ack and apply
    auto* check = app.add_subcommand("check-config", "validate configuration and exit");
    auto* migrate_cmd = app.add_subcommand("migrate", "create or upgrade the database schema");
    auto* reconcile = app.add_subcommand("reconcile", "map OfficeRnD data to FreeRADIUS rows");
    reconcile->add_option("--from-file", opt.snapshot_file, "snapshot JSON file")->required();
    reconcile->add_flag("--dry-run", opt.dry_run, "print the plan with reasons, write nothing");
    reconcile->add_flag("-v,--verbose", opt.verbose, "print every change, not just the summary");
    auto* accounts = app.add_subcommand("accounts", "inspect WiFi accounts");
    accounts->require_subcommand(1);
    auto* list = accounts->add_subcommand("list", "list every account");
    list->add_flag("--json", opt.json, "machine-readable output");
    auto* show = accounts->add_subcommand("show", "explain one member's access");
    show->add_option("key", opt.account_key, "username, e-mail or OfficeRnD member id")->required();
    show->add_flag("--show-password", opt.show_password, "print the generated password");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    try {
        if (serve->parsed()) {
            return service::serve({opt.config_file, !opt.no_processing});
        }
        if (check->parsed()) {
            return check_config(opt);
        }
        if (migrate_cmd->parsed()) {
            return migrate(opt);
        }
        if (reconcile->parsed()) {
            return reconcile_from_file(opt);
        }
        if (list->parsed()) {
            return accounts_list(opt);
        }
        if (show->parsed()) {
            return accounts_show(opt);
        }
    } catch (const std::exception& e) {
        // Only bugs get here: expected failures are values.
        std::cerr << "internal error: " << e.what() << "\n";
        return kExitFailure;
    }
    return kExitFailure;
}

}  // namespace radsync::cli
