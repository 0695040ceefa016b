#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "radsync/config/config.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/mapping/engine.hpp"
#include "radsync/reconcile/diff.hpp"
#include "radsync/reconcile/guard.hpp"
#include "radsync/reconcile/vanished.hpp"
#include "radsync/snapshot/entities.hpp"
#include "radsync/store/store.hpp"

namespace radsync::reconcile {

struct RunOptions {
    bool dry_run = false;  ///< compute and report, write nothing
    std::string mode = "file";
    std::string source;  ///< recorded with the run, e.g. the snapshot file path
    /// Map only these members (webhook runs). Accounts that could collide with them are
    /// pulled into the scope automatically; group rows are left to full runs.
    std::optional<std::set<std::string>> scope;
    /// Full runs only: apply removals even when the deletion guard trips.
    bool allow_mass_removal = false;
    /// Full runs from a poll: how entities missing from the lists were settled. A hold_reason
    /// makes the run guarded as the deletion guard would.
    std::optional<VanishedReport> vanished;
    /// Members whose generated password this run replaces (accounts reset-password).
    std::set<std::string> reset_passwords;
    /// How those new passwords reach their owners: e-mailed through the outbox (when notify is
    /// configured), or only returned for printing at the desk.
    bool print_reset_passwords = false;
};

/// What one run decided and did.
struct RunReport {
    std::vector<mapping::Decision> decisions;
    std::vector<RowChange> row_changes;
    std::vector<store::AccountChange> account_changes;
    store::ApplyReport applied;  ///< zero when dry_run
    bool dry_run = false;
    /// Set when the deletion guard held removals back (they are not in row/account changes),
    /// or when more entities vanished from the lists than a run confirms.
    std::optional<GuardVerdict> guarded;
    std::optional<VanishedReport> vanished;  ///< from RunOptions, for the report
    /// How the number of accounts in each state changed (applied runs only): a scoped run sees
    /// a few accounts, yet the radsync_radius_users gauge must count all of them.
    long long active_delta = 0;
    long long revoked_delta = 0;
    /// Messages this run queued in the outbox, and accounts that should have had one but have
    /// no usable e-mail address.
    std::vector<std::pair<std::string, std::string>> queued_to;  ///< (subject, recipient)
    std::vector<std::string> undeliverable;
};

/// What a run changes in the stored snapshot besides the RADIUS rows.
struct SnapshotChanges {
    std::optional<snapshot::Snapshot> replace;            ///< full runs: the whole snapshot
    std::vector<snapshot::EntityWrite> entities;          ///< webhook runs: single entities
    std::vector<store::ProcessedEvent> processed_events;  ///< inbox events this run applied
};

/// What a run works with besides the configuration and the snapshot.
struct Environment {
    store::StateStore& state;
    store::RadiusStore& radius;
    const core::Clock& clock;
    mapping::PasswordGenerator generator;
};

/// How far back a clock may step and still be held at the last evaluation time. A clock
/// stepped back further is taken as it is (and logged): a clock that ran days ahead must not
/// freeze every transition until it is caught up with.
inline constexpr std::chrono::hours kMaxClockStepBack{24};

/// The moment a run evaluates access at: `clock_now`, but never earlier than `through` (the
/// last committed run's, StateStore::evaluated_through) unless the clock is more than
/// kMaxClockStepBack behind it. So an NTP step back by an hour neither undoes nor repeats a
/// transition already applied; a step forward applies every transition it passes, once.
[[nodiscard]] core::Instant evaluation_time(core::Instant clock_now,
                                            std::optional<core::Instant> through);

/// snapshot → mapping → diff → apply, the one path every RADIUS write takes: maps `snap`
/// (the state after `changes`) against the current accounts and diffs the result against the
/// rows radsync owns in the RADIUS database. The row changes are committed there first, then
/// accounts, `changes`, the run and its audit in the state database. A crash between the two
/// commits leaves rows the state does not know of yet: the next run diffs against the rows
/// actually present, so it repairs them (events not marked processed are simply applied again).
/// Events are hints, state is truth: every member is re-derived, so a run repairs any drift.
[[nodiscard]] Result<RunReport> reconcile(const Environment& env, const config::Config& cfg,
                                          const snapshot::Snapshot& snap, const RunOptions& options,
                                          SnapshotChanges&& changes);

/// reconcile() for a full snapshot (a file or a complete poll): replaces the stored snapshot
/// with `snap`. A second run with the same input writes nothing. Errors from the stores are
/// returned unchanged.
[[nodiscard]] Result<RunReport> reconcile_full(const Environment& env, const config::Config& cfg,
                                               snapshot::Snapshot snap, const RunOptions& options);

/// What `accounts reset-password` did.
struct ResetOutcome {
    mapping::Decision decision;  ///< new_password: empty unless it is to be printed
    /// Where the new password was e-mailed to (queued in the same transaction); empty when it
    /// is printed instead.
    std::vector<std::string> emailed_to;
};

/// `accounts reset-password`: a new generated password for one member, written with its
/// outbox message in one transaction. It is e-mailed when notify is configured and `print` is
/// false; otherwise it is returned in decision.new_password to be shown once (the account
/// keeps only its hash), and any message still carrying the old one is cancelled. A scoped
/// run: nothing else changes. Errc::kNotFound if `key` names no member; Errc::kConflict if
/// passwords come from a custom property, the member has no access (so no account), or the
/// e-mail cannot be sent (no address: nothing is changed, use print).
[[nodiscard]] Result<ResetOutcome> reset_password(const Environment& env, const config::Config& cfg,
                                                  const snapshot::Snapshot& snap,
                                                  const std::string& key, bool print);

/// Human-readable plan: one line per account change with its reason, then row changes grouped
/// by username. Password values are never printed.
[[nodiscard]] std::string describe(const RunReport& report);

/// The same for scripts (`reconcile --json`): counts, every account and row change (secrets as
/// "(secret)"), the members with problems, and the deletion guard's verdict.
[[nodiscard]] std::string report_json(const RunReport& report);

}  // namespace radsync::reconcile
