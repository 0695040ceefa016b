#include "radsync/cli/cli.hpp"

#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common.hpp"
#include "radsync/service/app.hpp"

namespace radsync::cli {

namespace {

// The word where a command was expected but none of its parent's is ("radsync stauts",
// "radsync accounts shwo"), with the commands that would do: CLI11 only says that a subcommand
// is required, or that an argument was not expected. Options and their values are skipped.
struct UnknownCommand {
    std::string word;
    std::string expected;
};
std::optional<UnknownCommand> unknown_command(CLI::App& app, int argc, char** argv) {
    CLI::App* at = &app;
    for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        if (word.rfind('-', 0) == 0) {
            const auto name = word.substr(0, word.find('='));
            const CLI::Option* option = nullptr;
            for (CLI::App* a = at; a != nullptr && option == nullptr; a = a->get_parent()) {
                option = a->get_option_no_throw(name);
            }
            if (option != nullptr && option->get_type_size() > 0 &&
                word.find('=') == std::string::npos) {
                ++i;  // its value
            }
            continue;
        }
        const auto subcommands = at->get_subcommands([](CLI::App*) { return true; });
        if (subcommands.empty()) {
            return std::nullopt;  // a leaf command's own argument
        }
        CLI::App* next = nullptr;
        std::string expected;
        for (CLI::App* sub : subcommands) {
            if (sub->check_name(word)) {
                next = sub;
            }
            expected += (expected.empty() ? "" : ", ") + sub->get_name();
        }
        if (next == nullptr) {
            return UnknownCommand{word, expected};
        }
        at = next;
    }
    return std::nullopt;
}

}  // namespace

int run(int argc, char** argv) {
    Options opt;
    CLI::App app{"radsync: keeps FreeRADIUS users in step with OfficeRnD", "radsync"};
    app.set_version_flag("--version", "radsync " RADSYNC_VERSION);
    app.set_help_all_flag("--help-all", "every command with its options");
    app.add_option("-c,--config", opt.config_file, "main configuration file")
        ->capture_default_str();
    app.require_subcommand(1);
    // `radsync status -c FILE` as well as `radsync -c FILE status`: a subcommand hands the
    // options it does not know to its parent (set before the subcommands, which inherit it).
    app.fallthrough();

    auto* serve = app.add_subcommand("serve", "run the daemon (webhooks, health and metrics)");
    serve
        ->add_flag("--no-processing-for-test", opt.no_processing,
                   "acknowledge and store webhooks without processing them (tests only)")
        ->group("");  // hidden: crash-recovery tests use it to kill between ack and apply
    serve
        ->add_option("--hold-after-accept-for-test", opt.hold_after_accept_ms,
                     "wait this many ms between the relay's 250 and its record (crash tests)")
        ->group("");  // hidden: the e-mail crash test kills radsync inside that window
    serve
        ->add_option("--stall-store-worker-for-test", opt.stall_store_worker_ms,
                     "keep the store worker busy this many ms, 2 s after READY (watchdog test)")
        ->group("");  // hidden: the watchdog test needs a worker stuck on purpose
    auto* check = app.add_subcommand("check-config", "validate configuration and exit");
    check->add_flag("--online", opt.online,
                    "also ask OfficeRnD whether the organization exists (with the token)");
    auto* migrate_cmd = app.add_subcommand("migrate", "create or upgrade the database schema");
    auto* reconcile = app.add_subcommand("reconcile", "map OfficeRnD data to FreeRADIUS rows");
    reconcile->add_option("--from-file", opt.snapshot_file,
                          "snapshot JSON file instead of OfficeRnD's API");
    reconcile->add_flag("--dry-run", opt.dry_run, "print the plan with reasons, write nothing");
    reconcile->add_flag("--allow-mass-removal", opt.allow_mass_removal,
                        "apply removals the deletion guard would hold back (exit code 3 = held)");
    reconcile->add_flag("--standalone", opt.standalone,
                        "run in this process, not through the daemon (refused while one runs)");
    reconcile->add_flag("-v,--verbose", opt.verbose, "print every change, not just the summary");
    reconcile->add_flag("--json", opt.json, "machine-readable report (every change)");
    auto* status_cmd =
        app.add_subcommand("status", "sync health: daemon, runs, webhooks, accounts");
    status_cmd->add_flag("--json", opt.json, "machine-readable output");
    auto* accounts = app.add_subcommand("accounts", "inspect WiFi accounts, reset a password");
    accounts->require_subcommand(1);
    auto* list = accounts->add_subcommand("list", "list every account");
    list->add_flag("--json", opt.json, "machine-readable output");
    auto* show = accounts->add_subcommand("show", "explain one member's access");
    show->add_option("key", opt.account_key, "username, e-mail or OfficeRnD member id")->required();
    show->add_flag("--json", opt.json, "machine-readable output");
    auto* reset = accounts->add_subcommand(
        "reset-password",
        "generate a new password for a member and e-mail it (or print it once with --print)");
    reset->add_option("key", opt.account_key, "username, e-mail or OfficeRnD member id")
        ->required();
    reset->add_flag("--print", opt.print,
                    "show the new password here once instead of e-mailing it (at the desk)");
    auto* profile = accounts->add_subcommand(
        "profile", "write an Apple WiFi profile (.mobileconfig) for one account");
    profile->add_option("key", opt.account_key, "username, e-mail or OfficeRnD member id")
        ->required();
    profile->add_option("-o,--output", opt.output_file, "file to write (default: stdout)");
    auto* outbox = app.add_subcommand("outbox", "e-mails with credentials: delivery and retries");
    outbox->require_subcommand(1);
    auto* outbox_list_cmd = outbox->add_subcommand("list", "list e-mails, newest first");
    outbox_list_cmd->add_option("--status", opt.status_filter,
                                "only pending, sending, sent, parked or cancelled ones");
    auto* outbox_requeue_cmd =
        outbox->add_subcommand("requeue", "make parked e-mails pending again");
    outbox_requeue_cmd->add_option("number", opt.event_id, "number of one parked e-mail");
    outbox_requeue_cmd->add_flag("--all", opt.all, "every parked e-mail");
    auto* mapping = app.add_subcommand("mapping", "the mapping against what OfficeRnD has");
    mapping->require_subcommand(1);
    auto* mapping_check_cmd = mapping->add_subcommand(
        "check",
        "list plans and locations the mapping does not cover, entries that match nothing and "
        "plans claimed twice (exit 1 if any)");
    mapping_check_cmd->add_option("--from-file", opt.snapshot_file,
                                  "snapshot JSON file instead of OfficeRnD's API (offline)");
    mapping_check_cmd->add_flag("--json", opt.json, "machine-readable output");
    auto* api = app.add_subcommand(
        "api", "one authorised, read-only OfficeRnD call, pretty-printed (troubleshooting)");
    api->add_option("method", opt.api_method, "GET (the only one: read-only)")->required();
    api->add_option("path", opt.api_target,
                    "path relative to the organisation, e.g. /members?email=ann@example.com")
        ->required();
    auto* sessions = app.add_subcommand("sessions", "who is on the air: open accounting sessions");
    sessions->require_subcommand(1);
    auto* sessions_list_cmd = sessions->add_subcommand(
        "list", "open sessions (of one user), from FreeRADIUS's accounting");
    sessions_list_cmd->add_option("user", opt.account_key, "username as FreeRADIUS records it");
    sessions_list_cmd->add_flag("--json", opt.json, "machine-readable output");
    auto* sessions_disconnect_cmd = sessions->add_subcommand(
        "disconnect", "send a Disconnect-Request for each open session of a user (RFC 5176)");
    sessions_disconnect_cmd->add_option("user", opt.account_key, "username")->required();
    auto* inbox = app.add_subcommand("inbox", "webhooks set aside after failing repeatedly");
    inbox->require_subcommand(1);
    auto* parked_cmd = inbox->add_subcommand("parked", "list parked webhooks with their errors");
    auto* requeue = inbox->add_subcommand("requeue", "make parked webhooks pending again");
    requeue->add_option("event", opt.event_id, "event id of one parked webhook");
    requeue->add_flag("--all", opt.all, "every parked webhook");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() != static_cast<int>(CLI::ExitCodes::Success)) {
            if (const auto unknown = unknown_command(app, argc, argv)) {
                std::cerr << "radsync: unknown command '" << unknown->word
                          << "' (expected one of: " << unknown->expected
                          << "; radsync --help lists them)\n";
                return e.get_exit_code();
            }
        }
        return app.exit(e);
    }

    try {
        if (serve->parsed()) {
            return service::serve({opt.config_file, !opt.no_processing,
                                   std::chrono::milliseconds{opt.hold_after_accept_ms},
                                   std::chrono::milliseconds{opt.stall_store_worker_ms}});
        }
        if (check->parsed()) {
            return check_config(opt);
        }
        if (migrate_cmd->parsed()) {
            return migrate(opt);
        }
        if (reconcile->parsed()) {
            return opt.snapshot_file.empty() ? reconcile_from_officernd(opt)
                                             : reconcile_from_file(opt);
        }
        if (status_cmd->parsed()) {
            return status(opt);
        }
        if (list->parsed()) {
            return accounts_list(opt);
        }
        if (show->parsed()) {
            return accounts_show(opt);
        }
        if (reset->parsed()) {
            return accounts_reset_password(opt);
        }
        if (profile->parsed()) {
            return accounts_profile(opt);
        }
        if (outbox_list_cmd->parsed()) {
            return outbox_list(opt);
        }
        if (outbox_requeue_cmd->parsed()) {
            return outbox_requeue(opt);
        }
        if (mapping_check_cmd->parsed()) {
            return mapping_check(opt);
        }
        if (api->parsed()) {
            return api_call(opt);
        }
        if (sessions_list_cmd->parsed()) {
            return sessions_list(opt);
        }
        if (sessions_disconnect_cmd->parsed()) {
            return sessions_disconnect(opt);
        }
        if (parked_cmd->parsed()) {
            return inbox_parked(opt);
        }
        if (requeue->parsed()) {
            return inbox_requeue(opt);
        }
    } catch (const std::exception& e) {
        // Only bugs get here: expected failures are values.
        std::cerr << "internal error: " << e.what() << "\n";
        return kExitFailure;
    }
    return kExitFailure;
}

}  // namespace radsync::cli
