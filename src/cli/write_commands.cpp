#include <iostream>
#include <set>

#include "common.hpp"
#include "radsync/control/instance_lock.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/mapping/credentials.hpp"
#include "radsync/mapping/engine.hpp"
#include "radsync/reconcile/reconciler.hpp"
#include "radsync/reconcile/vanished.hpp"
#include "radsync/service/app.hpp"
#include "radsync/service/officernd_fetch.hpp"
#include "radsync/snapshot/entities.hpp"
#include "radsync/store/accounting.hpp"

// The commands that change state. Each one goes through a running daemon's control socket
// (its one writer applies it, and its memory stays true); with no daemon it runs here, under
// the instance lock.

namespace radsync::cli {

namespace {

/// A reconcile can take minutes on a large account (and waits for a run in progress).
constexpr std::chrono::seconds kReconcileTimeout{30 * 60};

control::Request reconcile_request(const Options& opt, std::string source) {
    control::Request req;
    req.command = control::Command::kReconcile;
    req.dry_run = opt.dry_run;
    req.allow_mass_removal = opt.allow_mass_removal;
    req.source = std::move(source);
    req.json = opt.json;
    return req;
}

std::function<int(const control::Answer&)> report_printer(const Options& opt) {
    return [&opt](const control::Answer& a) {
        std::cerr << a.err;
        return a.exit_code != kExitOk ? a.exit_code : print_report(a.out, opt);
    };
}

/// Last step before a full run: may adjust the snapshot and options against the store.
using PrepareRun =
    std::function<Status(store::StateStore&, snapshot::Snapshot&, reconcile::RunOptions&)>;

// A full run in this process (no daemon involved): open, map, diff, apply, print. A dry run
// plans against an in-memory copy of the database: it neither creates nor migrates the file.
int apply_full(const config::Config& cfg, snapshot::Snapshot snap, const char* mode,
               const std::string& source, const Options& opt, const PrepareRun& prepare = {}) {
    auto st = opt.dry_run
                  ? store::open_sqlite_stores_scratch_copy(paths_of(cfg), open_options_of(cfg))
                  : store::open_sqlite_stores(paths_of(cfg), open_options_of(cfg));
    if (!st) {
        return fail(st.error());
    }
    const core::SystemClock clock;
    reconcile::Environment env{*st->state, *st->radius, clock, mapping::generate_password};
    reconcile::RunOptions run;
    run.dry_run = opt.dry_run;
    run.mode = mode;
    run.source = source;
    run.allow_mass_removal = opt.allow_mass_removal;
    if (prepare) {
        if (auto s = prepare(*st->state, snap, run); !s) {
            return fail(s.error());
        }
    }
    auto report = reconcile::reconcile_full(env, cfg, std::move(snap), run);
    if (!report) {
        return fail(report.error());
    }
    return print_report(opt.json ? reconcile::report_json(*report) : reconcile::describe(*report),
                        opt);
}

// Fetches every list from OfficeRnD and applies it here (no daemon runs).
int reconcile_here(const config::Config& cfg, const Options& opt) {
    core::SystemClock clock;
    auto access = service::make_officernd_access(cfg, clock, [] { return false; });
    if (!access) {
        return fail(access.error());
    }
    auto snap = access->fetch();
    if (!snap) {
        return fail(snap.error());
    }
    // As the daemon does: whatever vanished from the lists since the stored snapshot is
    // confirmed by id before anyone loses access over it.
    const auto settle = [&](store::StateStore& st, snapshot::Snapshot& fetched,
                            reconcile::RunOptions& run) -> Status {
        auto previous = st.load_snapshot();
        if (!previous) {
            return previous.error();
        }
        auto accounts = st.load_accounts();
        if (!accounts) {
            return accounts.error();
        }
        std::set<std::string> active;
        for (const auto& [id, acc] : *accounts) {
            if (acc.state == store::AccountState::kActive) {
                active.insert(id);
            }
        }
        fetched.normalise();
        run.vanished = reconcile::settle_vanished(
            fetched, reconcile::find_vanished(*previous, fetched, active), access->confirm,
            static_cast<std::size_t>(cfg.sync.confirm_vanished), opt.allow_mass_removal);
        return {};
    };
    return apply_full(cfg, std::move(*snap), "full", "officernd", opt, settle);
}

int requeue_here(const config::Config& cfg, const Options& opt) {
    auto st = store::open_sqlite_stores(paths_of(cfg), open_options_of(cfg));
    if (!st) {
        return fail(st.error());
    }
    auto n = st->state->inbox_requeue_parked(opt.all ? std::nullopt
                                                     : std::optional<std::string>(opt.event_id));
    if (!n) {
        return fail(n.error());
    }
    if (*n == 0) {
        std::cerr << (opt.all ? "no parked webhooks\n"
                              : "no parked webhook " + opt.event_id + "\n");
        return kExitFailure;
    }
    std::cout << *n << " webhook(s) pending again; the next `radsync serve` applies them\n";
    return kExitOk;
}
}  // namespace

int migrate(const Options& opt) {
    auto cfg = load_config_for_command(opt);
    if (!cfg) {
        return kExitFailure;
    }
    // A running daemon migrated at its start, and must not see its schema change under it.
    auto lock = control::InstanceLock::try_acquire(cfg->state_database);
    if (!lock) {
        if (lock.error().code == Errc::kConflict) {
            std::cerr << "error: a radsync daemon is running (it migrates when it starts); stop "
                         "it to migrate by hand\n";
            return kExitFailure;
        }
        return fail(lock.error());
    }
    auto status = store::migrate_sqlite(paths_of(*cfg), open_options_of(*cfg));
    if (!status) {
        return fail(status.error());
    }
    // FreeRADIUS's accounting file: created here so FreeRADIUS finds its tables at its start.
    auto accounting_before = store::accounting_schema_status(cfg->accounting_database);
    if (!accounting_before) {
        return fail(accounting_before.error());
    }
    if (auto accounting = store::open_accounting_store(cfg->accounting_database); !accounting) {
        return fail(accounting.error());
    }
    std::cout << cfg->radius_database << ": schema version " << status->radius_version << " -> "
              << status->radius_binary_version << "\n"
              << cfg->state_database << ": schema version " << status->state_version << " -> "
              << status->state_binary_version << "\n"
              << cfg->accounting_database << ": schema version " << accounting_before->first
              << " -> " << accounting_before->second << "\n";
    return kExitOk;
}

int reconcile_from_file(const Options& opt) {
    auto cfg = load_config_for_command(opt);
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
    Write w;
    w.request = reconcile_request(opt, opt.snapshot_file);
    w.request.payload_bytes = text->size();
    w.payload = std::move(*text);
    w.timeout = kReconcileTimeout;
    w.standalone = opt.standalone;
    w.read_only = opt.dry_run;
    w.answered = report_printer(opt);
    w.run_here = [&] { return apply_full(*cfg, std::move(*snap), "file", opt.snapshot_file, opt); };
    return write_through_daemon_or_here(*cfg, w);
}

int reconcile_from_officernd(const Options& opt) {
    auto cfg = load_config_for_command(opt);
    if (!cfg) {
        return kExitFailure;
    }
    if (cfg->officernd.org_slug.empty()) {
        std::cerr << "error: " << opt.config_file
                  << " has no officernd section; use --from-file SNAPSHOT.json\n";
        return kExitFailure;
    }
    Write w;
    w.request = reconcile_request(opt, "");
    w.timeout = kReconcileTimeout;
    w.standalone = opt.standalone;
    w.read_only = opt.dry_run;
    w.answered = report_printer(opt);
    w.run_here = [&] { return reconcile_here(*cfg, opt); };
    return write_through_daemon_or_here(*cfg, w);
}

int inbox_requeue(const Options& opt) {
    if (opt.event_id.empty() == !opt.all) {
        std::cerr << "name one event id, or --all for every parked event\n";
        return kExitFailure;
    }
    auto cfg = load_config_for_command(opt);
    if (!cfg) {
        return kExitFailure;
    }
    Write w;
    w.request.command = control::Command::kInboxRequeue;
    w.request.event_id = opt.event_id;
    w.request.all = opt.all;
    w.run_here = [&] { return requeue_here(*cfg, opt); };
    return write_through_daemon_or_here(*cfg, w);
}

int accounts_reset_password(const Options& opt) {
    auto cfg = load_config_for_command(opt);
    if (!cfg) {
        return kExitFailure;
    }
    Write w;
    w.request.command = control::Command::kResetPassword;
    w.request.member = opt.account_key;
    w.request.print = opt.print;
    w.run_here = [&]() -> int {
        auto st = store::open_sqlite_stores(paths_of(*cfg), open_options_of(*cfg));
        if (!st) {
            return fail(st.error());
        }
        auto snap = st->state->load_snapshot();
        if (!snap) {
            return fail(snap.error());
        }
        const core::SystemClock clock;
        reconcile::Environment env{*st->state, *st->radius, clock, mapping::generate_password};
        auto d = reconcile::reset_password(env, *cfg, *snap, opt.account_key, opt.print);
        if (!d) {
            return fail(d.error());
        }
        std::cout << service::reset_password_text(*d);
        if (!d->emailed_to.empty()) {
            std::cout << "(no daemon runs: the e-mail waits in the outbox until it starts)\n";
        }
        return kExitOk;
    };
    return write_through_daemon_or_here(*cfg, w);
}

}  // namespace radsync::cli
