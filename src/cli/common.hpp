#pragma once

// What every `radsync` command shares: its options, loading the configuration, opening the
// databases, and the rule for commands that write (through the daemon when one runs, else
// here under the instance lock).

#include <chrono>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "radsync/config/config.hpp"
#include "radsync/config/loader.hpp"
#include "radsync/control/protocol.hpp"
#include "radsync/core/error.hpp"
#include "radsync/store/store.hpp"

namespace radsync::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
/// Exit code of a reconcile whose removals the deletion guard held back.
inline constexpr int kExitGuarded = 3;

struct Options {
    std::string config_file = "/etc/radsync/radsync.yaml";
    std::string snapshot_file;
    bool dry_run = false;
    bool verbose = false;
    bool json = false;
    bool online = false;
    std::string account_key;
    bool no_processing = false;
    bool allow_mass_removal = false;
    bool standalone = false;
    std::string event_id;
    bool all = false;
    bool print = false;             ///< accounts reset-password: show it instead of e-mailing
    std::string status_filter;      ///< outbox list --status
    std::string output_file;        ///< accounts profile -o
    int hold_after_accept_ms = 0;   ///< serve: crash tests only
    int stall_store_worker_ms = 0;  ///< serve: watchdog test only
    std::string api_method;         ///< api METHOD PATH
    std::string api_target;
};

void print_problems(const std::vector<config::Problem>& problems, const char* kind);

/// Loads and validates the configuration; prints every problem. Empty optional on failure.
std::optional<config::Config> load_config(const Options& opt, const config::LoadOptions& load = {});

/// load_config without checking that secret files exist: every command but check-config and
/// serve. They read a secret only when they use it (a fetch run here), and a daemon that does
/// the work has its own; systemd's credential files exist only while the service runs.
std::optional<config::Config> load_config_for_command(const Options& opt);

int fail(const Error& e);

store::StorePaths paths_of(const config::Config& cfg);
store::OpenOptions open_options_of(const config::Config& cfg);

struct ConfiguredStore {
    config::Config cfg;
    store::Stores stores;
};

/// The configuration (load_config_for_command) and its databases, read-only; prints what went
/// wrong otherwise.
std::optional<ConfiguredStore> open_for_reading(const Options& opt);

/// A file of at most `limit` bytes.
Result<std::string> read_bounded(const std::string& path, std::size_t limit);

/// Prints a reconcile report: every change with --verbose / --dry-run; otherwise everything
/// but the per-change lines. kExitGuarded when the deletion guard held removals back.
int print_report(const std::string& text, const Options& opt);

/// A command that changes state. `request` is what the daemon is asked; `run_here` does the
/// same in this process and is called only with no daemon running, while this process holds
/// the instance lock (so a daemon that starts meanwhile waits). `answered` turns the daemon's
/// answer into the exit code (default: print it and use its code).
struct Write {
    control::Request request;
    std::string payload;
    std::chrono::seconds timeout{60};
    std::function<int()> run_here;
    std::function<int(const control::Answer&)> answered;
    /// Run here without asking the daemon (refused while one holds the lock).
    bool standalone = false;
    /// Needs no lock when run here (a dry run writes nothing).
    bool read_only = false;
};
int write_through_daemon_or_here(const config::Config& cfg, const Write& w);

// The commands.
int check_config(const Options& opt);
int migrate(const Options& opt);
int reconcile_from_file(const Options& opt);
int reconcile_from_officernd(const Options& opt);
int status(const Options& opt);
int inbox_parked(const Options& opt);
int inbox_requeue(const Options& opt);
int accounts_list(const Options& opt);
int accounts_show(const Options& opt);
int accounts_reset_password(const Options& opt);
int accounts_profile(const Options& opt);
int outbox_list(const Options& opt);
int outbox_requeue(const Options& opt);
int mapping_check(const Options& opt);
int api_call(const Options& opt);
int sessions_list(const Options& opt);
int sessions_disconnect(const Options& opt);
/// The user's open sessions from the accounting database, for `accounts show` (text and the
/// "sessions" field of its JSON).
void describe_open_sessions(const config::Config& cfg, const std::string& username,
                            std::ostream& out, nlohmann::json& j);
/// One line per message (`outbox list`, `accounts show`, `status`).
void print_messages(const std::vector<store::OutboxMessage>& messages, const char* indent,
                    std::ostream& out = std::cout);

}  // namespace radsync::cli
