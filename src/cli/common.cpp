#include "common.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "radsync/control/channel.hpp"
#include "radsync/control/instance_lock.hpp"
#include "radsync/core/json.hpp"
#include "radsync/log/log.hpp"

namespace radsync::cli {

void print_problems(const std::vector<config::Problem>& problems, const char* kind) {
    for (const auto& p : problems) {
        std::cerr << kind << ": " << p.to_string() << "\n";
    }
}

std::optional<config::Config> load_config(const Options& opt, const config::LoadOptions& load) {
    auto loaded = config::load(opt.config_file, load);
    print_problems(loaded.warnings, "warning");
    if (!loaded.config) {
        print_problems(loaded.problems, "error");
        std::cerr << opt.config_file << ": " << loaded.problems.size()
                  << " problem(s); nothing was changed\n";
        return std::nullopt;
    }
    log::setup(loaded.config->log_level, loaded.config->log_modules);
    return std::move(loaded.config);
}

int fail(const Error& e) {
    std::cerr << "error: " << e.message << "\n";
    return kExitFailure;
}

store::StorePaths paths_of(const config::Config& cfg) {
    return {cfg.radius_database, cfg.state_database};
}

store::OpenOptions open_options_of(const config::Config& cfg) {
    store::OpenOptions o;
    o.secret_properties = cfg.accounts.secret_properties();
    return o;
}

std::optional<config::Config> load_config_for_command(const Options& opt) {
    config::LoadOptions load;
    load.check_secret_files = false;
    return load_config(opt, load);
}

std::optional<ConfiguredStore> open_for_reading(const Options& opt) {
    auto cfg = load_config_for_command(opt);
    if (!cfg) {
        return std::nullopt;
    }
    auto st = store::open_sqlite_stores_read_only(paths_of(*cfg));
    if (!st) {
        fail(st.error());
        return std::nullopt;
    }
    return ConfiguredStore{std::move(*cfg), std::move(*st)};
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

int print_report(const std::string& text, const Options& opt) {
    if (opt.json) {
        std::cout << text;
        const auto j = core::parse_json(text);
        const bool guarded =
            j && j->is_object() && j->contains("guard") && !(*j)["guard"].is_null();
        return guarded && !opt.dry_run ? kExitGuarded : kExitOk;
    }
    const bool guarded = text.find("deletion guard:") != std::string::npos;
    if (opt.dry_run || opt.verbose) {
        std::cout << text;
    } else {
        std::istringstream lines(text);
        std::string line;
        bool in_change = false;
        while (std::getline(lines, line)) {
            if (line.rfind("account ", 0) == 0 || line.rfind("row ", 0) == 0) {
                in_change = true;
                continue;
            }
            if (in_change && line.rfind("    ", 0) == 0) {
                continue;  // the reason line under an account change
            }
            in_change = false;
            std::cout << line << "\n";
        }
    }
    return guarded && !opt.dry_run ? kExitGuarded : kExitOk;
}

namespace {

int print_answer(const control::Answer& a) {
    std::cout << a.out;
    std::cerr << a.err;
    return a.exit_code;
}

}  // namespace

int write_through_daemon_or_here(const config::Config& cfg, const Write& w) {
    const auto& socket = cfg.control.socket;
    if (!w.standalone) {
        auto answer = control::call(socket, w.request, w.payload, w.timeout);
        if (answer) {
            std::cerr << "(done by the radsync daemon, through " << socket << ")\n";
            return w.answered ? w.answered(*answer) : print_answer(*answer);
        }
        if (answer.error().kind == control::Unreached::kFailed) {
            std::cerr << "error: " << answer.error().message << "\n";
            return kExitFailure;
        }
    }
    if (w.read_only) {
        return w.run_here();
    }
    // No daemon answers: run here, holding the lock a starting daemon waits for.
    auto lock = control::InstanceLock::try_acquire(cfg.state_database);
    if (!lock) {
        if (lock.error().code == Errc::kConflict) {
            std::cerr << "error: a radsync daemon holds the lock on "
                      << control::InstanceLock::directory_of(cfg.state_database)
                      << (w.standalone ? "; without --standalone the command goes through it"
                                       : " but does not answer on " + socket +
                                             " (starting or stopping?); try again")
                      << "\n";
            return kExitFailure;
        }
        return fail(lock.error());
    }
    return w.run_here();
}

}  // namespace radsync::cli
