#include "radsync/reconcile/reconciler.hpp"

#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"
#include "radsync/log/log.hpp"
#include "radsync/notify/plan.hpp"

namespace radsync::reconcile {

namespace {

std::vector<store::AccountChange> account_changes(
    const std::vector<mapping::Decision>& decisions,
    const std::map<std::string, store::AccountRecord>& current) {
    std::vector<store::AccountChange> out;
    for (const auto& d : decisions) {
        auto it = current.find(d.member_id);
        if (d.account) {
            if (it == current.end() || !(it->second == *d.account)) {
                out.push_back({store::AccountChange::Op::kUpsert, *d.account});
            }
        } else if (it != current.end()) {
            out.push_back({store::AccountChange::Op::kDelete, it->second});
        }
    }
    return out;
}

// Members who would have access but get none, by kind of problem: counts, then the first few
// of each with their reasons. A run that quietly leaves members out ("changed=0" while a
// template's property is missing) is the worst kind of silence for an operator.
void describe_problems(const std::vector<mapping::Decision>& decisions, std::ostream& out) {
    using Problem = mapping::Decision::Problem;
    constexpr std::size_t kShownPerKind = 5;
    constexpr Problem kKinds[] = {Problem::kConflict, Problem::kNoUsername,
                                  Problem::kUnusablePassword, Problem::kUnmapped,
                                  Problem::kNoAddress};
    std::map<Problem, std::vector<const mapping::Decision*>> by_kind;
    for (const auto& d : decisions) {
        if (d.problem != Problem::kNone) {
            by_kind[d.problem].push_back(&d);
        }
    }
    if (by_kind.empty()) {
        return;
    }
    out << "problems:";
    const char* sep = " ";
    for (const Problem p : kKinds) {
        if (auto it = by_kind.find(p); it != by_kind.end()) {
            out << sep << it->second.size() << " " << mapping::to_string(p);
            sep = ", ";
        }
    }
    out << " (members refused an account or left without access)\n";
    for (const Problem p : kKinds) {
        const auto it = by_kind.find(p);
        if (it == by_kind.end()) {
            continue;
        }
        const auto& list = it->second;
        for (std::size_t i = 0; i < list.size() && i < kShownPerKind; ++i) {
            const auto& d = *list[i];
            out << "  " << mapping::to_string(p) << " member=" << d.member_id;
            if (!d.member_email.empty()) {
                out << " <" << d.member_email << ">";
            }
            out << ": " << d.reason << "\n";
        }
        if (list.size() > kShownPerKind) {
            out << "  ... and " << list.size() - kShownPerKind << " more " << mapping::to_string(p)
                << " (radsync accounts show MEMBER explains each)\n";
        }
    }
}

}  // namespace

Result<RunReport> reconcile(const Environment& env, const config::Config& cfg,
                            const snapshot::Snapshot& snap, const RunOptions& options,
                            SnapshotChanges&& changes) {
    auto log = log::get("reconcile");
    store::StateStore& state = env.state;
    store::RadiusStore& radius = env.radius;
    const core::Clock& clock = env.clock;
    mapping::Context ctx;
    auto through = state.evaluated_through();
    if (!through) {
        return through.error();
    }
    ctx.now = evaluation_time(clock.now(), *through);
    if (*through && ctx.now == **through && clock.now() < **through) {
        log->warn("clock is {}s behind the last evaluation; access is evaluated at {}",
                  (**through - clock.now()).count(), core::format_instant(ctx.now));
    } else if (*through && clock.now() + kMaxClockStepBack < **through) {
        log->error("clock is {}s behind the last evaluation, more than {}h: taking the clock",
                   (**through - clock.now()).count(), kMaxClockStepBack.count());
    }
    ctx.generate_password = env.generator;
    ctx.keyed_hash = [&state](std::string_view v) { return state.keyed_hash(v); };
    ctx.reset_passwords = options.reset_passwords;

    Result<std::vector<store::OwnedRow>> owned = std::vector<store::OwnedRow>{};
    std::optional<std::set<std::string>> scope = options.scope;
    if (scope) {
        // A webhook run reads only what its members can touch, so its cost follows the event,
        // not the size of the account. That is: the scoped members' accounts, every username
        // they have or would get, and every other account holding one of those names (decided
        // in the same run, or a disabled account's Reject row could shadow a new member).
        auto mine = state.load_accounts_for(*scope, {});
        if (!mine) {
            return mine.error();
        }
        std::set<std::string> names;
        for (const auto& id : *scope) {
            if (const auto* m = snapshot::find_member(snap, id)) {
                if (auto n = mapping::candidate_username(*m, cfg.accounts); !n.empty()) {
                    names.insert(std::move(n));
                }
            } else if (cfg.mapping.guests && id.starts_with(snapshot::kGuestKeyPrefix)) {
                if (auto n =
                        mapping::derived_guest_username(id, *cfg.mapping.guests, ctx.keyed_hash);
                    !n.empty()) {
                    names.insert(std::move(n));
                }
            }
        }
        for (const auto& [id, acc] : *mine) {
            names.insert(acc.username);
        }
        auto accounts = state.load_accounts_for(*scope, names);
        if (!accounts) {
            return accounts.error();
        }
        for (const auto& [id, acc] : *accounts) {
            scope->insert(id);
        }
        ctx.accounts = std::move(*accounts);
        owned = radius.load_owned_user_rows(names);
        auto foreign = radius.foreign_among(names);
        if (!foreign) {
            return foreign.error();
        }
        ctx.foreign_usernames = std::move(*foreign);
        ctx.scope = &*scope;
        if (mapping::uses_addresses(cfg.mapping)) {
            auto addresses = state.addresses_in_use();
            if (!addresses) {
                return addresses.error();
            }
            ctx.addresses_in_use = std::move(*addresses);
        }
    } else {
        auto accounts = state.load_accounts();
        if (!accounts) {
            return accounts.error();
        }
        ctx.accounts = std::move(*accounts);
        owned = radius.load_owned_rows();
        auto foreign = radius.foreign_usernames();
        if (!foreign) {
            return foreign.error();
        }
        ctx.foreign_usernames = std::move(*foreign);
    }
    if (!owned) {
        return owned.error();
    }
    const auto& accounts = ctx.accounts;

    mapping::DesiredState desired = mapping::map_snapshot(snap, cfg, ctx);

    RunReport report;
    report.dry_run = options.dry_run;
    report.row_changes = diff_rows(desired.rows, *owned);
    // The changes hold their own copies; a full run's desired rows (~90k for 20k members) and
    // owned rows need not stay alive through the write.
    std::vector<store::RadRow>().swap(desired.rows);
    std::vector<store::OwnedRow>().swap(*owned);
    report.account_changes = account_changes(desired.decisions, accounts);

    if (!scope) {
        auto verdict = deletion_guard(desired.decisions, accounts, snap.members.size(),
                                      cfg.sync.deletion_guard_share,
                                      cfg.sync.deletion_guard_min_count, ctx.now);
        if (verdict.tripped && !options.allow_mass_removal) {
            // Apply everything else; leave the held members' rows and accounts as they are.
            std::set<std::string> held_usernames;
            for (const auto& id : verdict.held_members) {
                held_usernames.insert(accounts.at(id).username);
            }
            std::erase_if(report.row_changes, [&](const RowChange& c) {
                const auto& row = c.after ? *c.after : *c.before;
                return held_usernames.count(row.name) > 0;
            });
            std::erase_if(report.account_changes, [&](const store::AccountChange& c) {
                return verdict.held_members.count(c.record.member_id) > 0;
            });
            log->error(
                "deletion guard tripped: {}; removals held back, approve with "
                "`radsync reconcile --allow-mass-removal`",
                verdict.reason);
            report.guarded = std::move(verdict);
        }
        if (options.vanished && options.vanished->hold_reason) {
            // Their previous copies are already back in `snap`: nothing to hold in the changes,
            // but the run must say that removals wait for an operator.
            const std::string& hold = *options.vanished->hold_reason;
            log->error(
                "{}; their access is kept, approve with "
                "`radsync reconcile --allow-mass-removal`",
                hold);
            if (report.guarded) {
                report.guarded->reason += "; " + hold;
            } else {
                GuardVerdict held;
                held.tripped = true;
                held.reason = hold;
                report.guarded = std::move(held);
            }
        }
    }
    report.vanished = options.vanished;

    if (!options.dry_run) {
        store::WriteSet writes;
        writes.run_mode = options.mode;
        writes.source = options.source;
        writes.result = report.guarded ? "guarded" : "ok";
        if (report.guarded) {
            writes.error = report.guarded->reason;
        }
        // `snap` may live in changes.replace (reconcile_full): not used from here on.
        writes.replace_snapshot = std::move(changes.replace);
        writes.entities = std::move(changes.entities);
        writes.processed_events = std::move(changes.processed_events);
        // Lent to the write set and taken back afterwards: no second copy of every change.
        writes.accounts = std::move(report.account_changes);
        writes.rows = std::move(report.row_changes);
        writes.evaluated_at = ctx.now;
        if (scope) {
            writes.schedule_subjects.assign(scope->begin(), scope->end());
        } else {
            writes.schedule_replace_all = true;
        }
        for (const auto& d : desired.decisions) {
            if (d.next_change) {
                writes.schedule.push_back({d.member_id, *d.next_change, d.next_change_what});
            }
        }
        // Credentials go into the outbox in this same transaction: a message exists exactly when
        // its account does. Only accounts this run changes (not those the guard held back).
        {
            auto plan = notify::plan_messages(desired.decisions, accounts, snap, cfg,
                                              options.reset_passwords, mapping::generate_password);
            std::set<std::string> changed;
            for (const auto& c : writes.accounts) {
                changed.insert(c.record.member_id);
            }
            for (auto& m : plan.messages) {
                const bool printed =
                    options.print_reset_passwords && options.reset_passwords.count(m.subject) > 0;
                if (changed.count(m.subject) > 0 && !printed) {
                    writes.outbox.push_back(std::move(m));
                }
            }
            for (auto& [subject, why] : plan.cancel) {
                if (changed.count(subject) > 0) {
                    writes.outbox_cancel.emplace(subject, std::move(why));
                }
            }
            if (options.print_reset_passwords) {
                for (const auto& subject : options.reset_passwords) {
                    writes.outbox_cancel.emplace(subject,
                                                 "superseded by a new password shown at the desk");
                }
            }
            for (const auto& u : plan.undeliverable) {
                log->warn("no e-mail for {}", u);
            }
            report.undeliverable = std::move(plan.undeliverable);
            for (const auto& m : writes.outbox) {
                report.queued_to.emplace_back(m.subject, m.recipient);
            }
        }
        for (const auto& d : desired.decisions) {
            const auto it = accounts.find(d.member_id);
            const std::string& username = d.account              ? d.account->username
                                          : it != accounts.end() ? it->second.username
                                                                 : std::string();
            if (!username.empty()) {
                writes.reasons[username] =
                    std::string(mapping::to_string(d.outcome)) + ": " + d.reason;
            }
        }
        // The RADIUS rows first: the state never claims rows that FreeRADIUS lacks.
        Result<store::ApplyReport> applied = radius.apply_rows(writes.rows);
        if (!applied) {
            log->error("apply failed mode={} error={}", writes.run_mode, applied.error().message);
            state.record_failed_run(writes, clock.now(), applied.error().message);
        } else {
            applied = state.apply(writes, *applied, clock.now());
        }
        report.account_changes = std::move(writes.accounts);
        report.row_changes = std::move(writes.rows);
        if (!applied) {
            return applied.error();
        }
        report.applied = *applied;
        const auto count = [&](store::AccountState account_state, long long d) {
            (account_state == store::AccountState::kActive ? report.active_delta
                                                           : report.revoked_delta) += d;
        };
        for (const auto& change : report.account_changes) {
            if (const auto old = accounts.find(change.record.member_id); old != accounts.end()) {
                count(old->second.state, -1);
            }
            if (change.op == store::AccountChange::Op::kUpsert) {
                count(change.record.state, +1);
            }
        }
    }
    report.decisions = std::move(desired.decisions);

    std::size_t granted = 0;
    for (const auto& d : report.decisions) {
        granted += d.outcome == mapping::Decision::Outcome::kGranted ? 1 : 0;
    }
    log->info(
        "reconcile finished run_id={} mode={} dry_run={} members={} granted={} row_changes={} "
        "account_changes={}",
        report.applied.run_id, options.mode, options.dry_run, report.decisions.size(), granted,
        report.row_changes.size(), report.account_changes.size());
    return report;
}

core::Instant evaluation_time(core::Instant clock_now, std::optional<core::Instant> through) {
    if (!through || clock_now >= *through || clock_now + kMaxClockStepBack < *through) {
        return clock_now;
    }
    return *through;
}

Result<RunReport> reconcile_full(const Environment& env, const config::Config& cfg,
                                 snapshot::Snapshot snap, const RunOptions& options) {
    // The snapshot is mapped from where it will be stored: no copy of a 20k-member account.
    // reconcile() moves `changes` only after its last use of the snapshot.
    SnapshotChanges changes;
    changes.replace = std::move(snap);
    changes.replace->normalise();
    return reconcile(env, cfg, *changes.replace, options, std::move(changes));
}

Result<ResetOutcome> reset_password(const Environment& env, const config::Config& cfg,
                                    const snapshot::Snapshot& snap, const std::string& key,
                                    bool print) {
    auto accounts = env.state.load_accounts();
    if (!accounts) {
        return accounts.error();
    }
    const std::string member_id = mapping::find_member_id(key, snap, *accounts);
    if (member_id.empty()) {
        return Error(Errc::kNotFound, "no member or account matches '" + key + "'");
    }
    // A guest's access code is always generated, whatever members' passwords come from.
    const bool guest = member_id.starts_with(snapshot::kGuestKeyPrefix);
    if (!guest && cfg.accounts.password_source == config::PasswordSource::kProperty) {
        return Error(Errc::kConflict, "passwords come from the OfficeRnD custom property '" +
                                          cfg.accounts.password_property +
                                          "'; change it there (the next webhook or poll "
                                          "applies it)");
    }
    RunOptions run;
    run.mode = "reset-password";
    run.source = "accounts reset-password";
    run.scope = std::set<std::string>{member_id};
    run.reset_passwords = {member_id};
    run.print_reset_passwords = print || !cfg.notify;
    if (!run.print_reset_passwords) {
        // Nothing is written unless the new password can be mailed: a dry run decides first.
        RunOptions plan = run;
        plan.dry_run = true;
        auto planned = reconcile(env, cfg, snap, plan, {});
        if (!planned) {
            return planned.error();
        }
        for (const auto& d : planned->decisions) {
            if (d.member_id == member_id && d.account) {
                auto messages = notify::plan_messages({d}, *accounts, snap, cfg, {member_id},
                                                      mapping::generate_password);
                if (messages.messages.empty()) {
                    return Error(Errc::kConflict, "cannot e-mail the new password: " +
                                                      (messages.undeliverable.empty()
                                                           ? std::string("no message")
                                                           : messages.undeliverable.front()) +
                                                      "; use --print to show it at the desk");
                }
            }
        }
    }
    auto report = reconcile(env, cfg, snap, run, {});
    if (!report) {
        return report.error();
    }
    for (auto& d : report->decisions) {
        if (d.member_id != member_id) {
            continue;
        }
        if (d.new_password.empty() || !d.account) {
            return Error(Errc::kConflict,
                         "member " + member_id + " has no access, so no password: " + d.reason);
        }
        ResetOutcome out;
        if (!run.print_reset_passwords) {
            d.new_password.clear();  // it travels in the outbox only
            for (const auto& [subject, to] : report->queued_to) {
                if (subject == member_id) {
                    out.emailed_to.push_back(to);
                }
            }
        }
        out.decision = std::move(d);
        return out;
    }
    return Error(Errc::kNotFound, "member " + member_id + " is not in the stored snapshot");
}

std::string describe(const RunReport& report) {
    std::ostringstream out;
    std::map<std::string, const mapping::Decision*> by_member;
    for (const auto& d : report.decisions) {
        by_member.emplace(d.member_id, &d);
    }
    for (const auto& change : report.account_changes) {
        const auto& r = change.record;
        const auto found = by_member.find(r.member_id);
        const mapping::Decision* d = found == by_member.end() ? nullptr : found->second;
        const char* verb = change.op == store::AccountChange::Op::kDelete ? "remove" : "write";
        out << "account " << verb << " member=" << r.member_id << " username=" << r.username;
        if (d != nullptr) {
            out << " outcome=" << mapping::to_string(d->outcome) << "\n    reason: " << d->reason;
        }
        out << "\n";
    }
    for (const auto& c : report.row_changes) {
        const store::RadRow& row = c.after ? *c.after : *c.before;
        out << "row " << to_string(c.op) << " " << store::to_string(row.table) << " " << row.name
            << " " << row.attribute;
        auto show = [&](const std::optional<store::RadRow>& r) {
            if (!r) {
                return std::string("-");
            }
            if (r->table == store::Table::kRadusergroup) {
                return "priority " + std::to_string(r->priority);
            }
            const bool secret = store::is_secret_attribute(r->attribute);
            return r->op + " " + (secret ? std::string("(secret)") : r->value);
        };
        if (c.op == RowChange::Op::kUpdate) {
            out << ": " << show(c.before) << " -> " << show(c.after);
        } else {
            out << ": " << show(c.op == RowChange::Op::kInsert ? c.after : c.before);
        }
        out << "\n";
    }
    describe_problems(report.decisions, out);
    if (report.vanished && report.vanished->vanished > 0) {
        constexpr std::size_t kNotesShown = 10;
        out << describe(*report.vanished) << "\n";
        const auto& notes = report.vanished->notes;
        for (std::size_t i = 0; i < notes.size() && i < kNotesShown; ++i) {
            out << "  " << notes[i] << "\n";
        }
        if (notes.size() > kNotesShown) {
            out << "  ... and " << notes.size() - kNotesShown << " more\n";
        }
    }
    std::size_t inserts = 0;
    std::size_t updates = 0;
    std::size_t deletes = 0;
    for (const auto& c : report.row_changes) {
        inserts += c.op == RowChange::Op::kInsert ? 1 : 0;
        updates += c.op == RowChange::Op::kUpdate ? 1 : 0;
        deletes += c.op == RowChange::Op::kDelete ? 1 : 0;
    }
    if (report.guarded) {
        const std::size_t kept_vanished =
            report.vanished && report.vanished->hold_reason ? report.vanished->kept : 0;
        out << "deletion guard: " << report.guarded->reason << "; "
            << report.guarded->held_members.size() + kept_vanished
            << " removal(s) held back (approve with --allow-mass-removal)\n";
    }
    out << (report.dry_run ? "dry run, nothing written\n" : "");
    out << "rows: inserted=" << inserts << " updated=" << updates << " deleted=" << deletes << "\n";
    out << "accounts: changed=" << report.account_changes.size()
        << " members=" << report.decisions.size() << "\n";
    return out.str();
}

std::string report_json(const RunReport& report) {
    nlohmann::json accounts = nlohmann::json::array();
    std::map<std::string, const mapping::Decision*> by_member;
    for (const auto& d : report.decisions) {
        by_member.emplace(d.member_id, &d);
    }
    for (const auto& change : report.account_changes) {
        const auto& r = change.record;
        nlohmann::json a = {
            {"op", change.op == store::AccountChange::Op::kDelete ? "remove" : "write"},
            {"member_id", r.member_id},
            {"username", r.username},
            {"state", store::to_string(r.state)}};
        if (const auto d = by_member.find(r.member_id); d != by_member.end()) {
            a["outcome"] = mapping::to_string(d->second->outcome);
            a["reason"] = d->second->reason;
        }
        accounts.push_back(std::move(a));
    }
    nlohmann::json rows = nlohmann::json::array();
    std::map<std::string, std::size_t> counts{{"inserted", 0}, {"updated", 0}, {"deleted", 0}};
    for (const auto& c : report.row_changes) {
        const store::RadRow& row = c.after ? *c.after : *c.before;
        const bool secret = store::is_secret_attribute(row.attribute);
        const char* op = c.op == RowChange::Op::kInsert   ? "inserted"
                         : c.op == RowChange::Op::kUpdate ? "updated"
                                                          : "deleted";
        ++counts[op];
        rows.push_back({{"op", op},
                        {"table", store::to_string(row.table)},
                        {"username", row.name},
                        {"attribute", row.attribute},
                        {"value", secret ? std::string("(secret)") : row.value}});
    }
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& d : report.decisions) {
        if (d.problem != mapping::Decision::Problem::kNone) {
            problems.push_back({{"member_id", d.member_id},
                                {"problem", mapping::to_string(d.problem)},
                                {"reason", d.reason}});
        }
    }
    nlohmann::json j = {{"dry_run", report.dry_run},
                        {"members", report.decisions.size()},
                        {"accounts_changed", report.account_changes.size()},
                        {"rows", counts},
                        {"account_changes", std::move(accounts)},
                        {"row_changes", std::move(rows)},
                        {"problems", std::move(problems)},
                        {"emails_queued", report.queued_to.size()},
                        {"guard", nullptr}};
    if (report.guarded) {
        j["guard"] = {{"reason", report.guarded->reason},
                      {"held_members", report.guarded->held_members}};
    }
    return core::to_output(j);
}

}  // namespace radsync::reconcile
