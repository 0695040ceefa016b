#include "radsync/cli/cli.hpp"

#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common.hpp"
#include "radsync/service/app.hpp"

namespace radsync::cli {

int run(int argc, char** argv) {
    Options opt;
    CLI::App app{"radsync: keeps FreeRADIUS users in step with OfficeRnD", "radsync"};
    app.set_version_flag("--version", "radsync " RADSYNC_VERSION);
    app.add_option("-c,--config", opt.config_file, "main configuration file")
        ->capture_default_str();
    app.require_subcommand(1);

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
    auto* status_cmd =
        app.add_subcommand("status", "sync health: daemon, runs, webhooks, accounts");
    auto* accounts = app.add_subcommand("accounts", "inspect WiFi accounts, reset a password");
    accounts->require_subcommand(1);
    auto* list = accounts->add_subcommand("list", "list every account");
    list->add_flag("--json", opt.json, "machine-readable output");
    auto* show = accounts->add_subcommand("show", "explain one member's access");
    show->add_option("key", opt.account_key, "username, e-mail or OfficeRnD member id")->required();
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
    auto* inbox = app.add_subcommand("inbox", "webhooks set aside after failing repeatedly");
    inbox->require_subcommand(1);
    auto* parked_cmd = inbox->add_subcommand("parked", "list parked webhooks with their errors");
    auto* requeue = inbox->add_subcommand("requeue", "make parked webhooks pending again");
    requeue->add_option("event", opt.event_id, "event id of one parked webhook");
    requeue->add_flag("--all", opt.all, "every parked webhook");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
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
