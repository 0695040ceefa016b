#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/reconcile/diff.hpp"
#include "radsync/snapshot/entities.hpp"
#include "radsync/snapshot/merge.hpp"
#include "radsync/store/migrations.hpp"
#include "radsync/store/records.hpp"

namespace radsync::store {

/// A change to radsync's own account table.
struct AccountChange {
    enum class Op { kUpsert, kDelete };
    Op op = Op::kUpsert;
    AccountRecord record;  ///< for kDelete only member_id matters
};

/// A webhook delivery as committed to the inbox.
struct InboxEvent {
    std::string event_id;
    std::string event_type;
    std::string t;  ///< the signed timestamp text
    core::Instant received_at{};
    std::string body;  ///< exact verified bytes (empty once processed: see StateStore)
};

/// An inbox event set aside after failing too often (StoreWorker), for `radsync status`.
struct ParkedEvent {
    std::string event_id;
    std::string event_type;
    core::Instant received_at{};
    int attempts = 0;
    std::string error;  ///< of the last attempt
};

/// Marks an inbox event as applied, with a short result ("applied", "stale", "ignored",
/// "malformed: ...").
struct ProcessedEvent {
    std::string event_id;
    std::string result;
};

/// Everything one reconcile run writes, applied in a single transaction or not at all.
struct WriteSet {
    std::string run_mode;       ///< "file", "full", "member", recorded in radsync_runs
    std::string source;         ///< where the snapshot came from (file path, "officernd")
    std::string result = "ok";  ///< recorded in radsync_runs: "ok" or "guarded"
    std::string error;          ///< recorded with the run (e.g. why the guard tripped)
    /// Replaces the whole stored snapshot when set (full runs).
    std::optional<snapshot::Snapshot> replace_snapshot;
    /// Individual snapshot entities changed by webhooks (upserts and tombstones).
    std::vector<snapshot::EntityWrite> entities;
    /// Inbox events this run applied.
    std::vector<ProcessedEvent> processed_events;
    std::vector<AccountChange> accounts;
    std::vector<reconcile::RowChange> rows;
    /// Audit reason per changed username (rows of the same user share it); group rows use the
    /// group name as key.
    std::map<std::string, std::string> reasons;
    /// The schedule rows of these subjects are replaced by those in `schedule` (a scoped run);
    /// with schedule_replace_all the whole schedule is (a full run).
    std::vector<std::string> schedule_subjects;
    bool schedule_replace_all = false;
    std::vector<Transition> schedule;
    /// The moment the run evaluated access at; kept as evaluated_through() when later than the
    /// one held.
    std::optional<core::Instant> evaluated_at;
    /// Messages to queue. One that carries a password supersedes (cancels) the unsent ones of
    /// its subject that carry an older password.
    std::vector<OutboxMessage> outbox;
    /// Subjects whose unsent messages are cancelled (the account lost access), with why.
    std::map<std::string, std::string> outbox_cancel;
};

/// What became of a message the mailer handed to the relay.
struct OutboxSettlement {
    enum class Outcome {
        kSent,   ///< the relay answered 250: payload wiped
        kRetry,  ///< back to pending until retry_at
        kPark,   ///< set aside with its error (too many attempts, a permanent refusal)
    };
    std::int64_t id = 0;
    Outcome outcome = Outcome::kSent;
    core::Instant retry_at{};
    std::string error;
};

/// Counts of what a WriteSet changed.
struct ApplyReport {
    std::int64_t run_id = 0;
    std::size_t rows_inserted = 0;
    std::size_t rows_updated = 0;
    std::size_t rows_deleted = 0;
    std::size_t accounts_written = 0;
    std::size_t accounts_deleted = 0;
    std::size_t snapshot_rows_written = 0;  ///< snapshot entities inserted, changed or removed

    /// Everything the run wrote besides its own run record.
    [[nodiscard]] std::size_t total() const {
        return rows_inserted + rows_updated + rows_deleted + accounts_written + accounts_deleted +
               snapshot_rows_written;
    }
};

/// One row of the audit log.
struct AuditEntry {
    std::int64_t run_id = 0;
    core::Instant at{};
    std::string op;
    std::string table;
    std::string name;
    std::string attribute;
    std::string old_value;  ///< password values are stored as "(secret)"
    std::string new_value;
    std::string reason;
};

/// One row of radsync_runs.
struct RunRecord {
    std::int64_t id = 0;
    std::string mode;
    std::string source;
    core::Instant started_at{};
    std::optional<core::Instant> finished_at;
    std::string result;  ///< ok | guarded | failed | running
    std::size_t rows_inserted = 0;
    std::size_t rows_updated = 0;
    std::size_t rows_deleted = 0;
    std::size_t accounts_written = 0;
    std::size_t accounts_deleted = 0;
    std::string error;
};

/// The database FreeRADIUS reads (design.md "Storage"): its stock tables and only what radsync
/// needs to recognise its own rows (radsync_owned_rows). No member data beyond user names,
/// password hashes and reply attributes lives here. Narrow on purpose, so that a PostgreSQL
/// implementation (rlm_sql_postgresql reads the same tables) needs nothing more. Not
/// thread-safe; one owner.
class RadiusStore {
public:
    virtual ~RadiusStore() = default;

    /// Every FreeRADIUS row radsync owns (user and group rows).
    [[nodiscard]] virtual Result<std::vector<OwnedRow>> load_owned_rows() = 0;
    /// The owned user rows (radcheck, radreply, radusergroup) of just these usernames.
    [[nodiscard]] virtual Result<std::vector<OwnedRow>> load_owned_user_rows(
        const std::set<std::string>& usernames) = 0;
    /// Usernames that have rows radsync does not own (an operator's hand-made users).
    [[nodiscard]] virtual Result<std::set<std::string>> foreign_usernames() = 0;
    /// Which of these usernames have rows radsync does not own.
    [[nodiscard]] virtual Result<std::set<std::string>> foreign_among(
        const std::set<std::string>& usernames) = 0;
    /// Applies the row changes in one short transaction, ownership included; fills the row
    /// counts of the report. Errc::kStoreBusy if the database stayed locked past the busy
    /// timeout, Errc::kStoreFailed otherwise; nothing is written on error.
    [[nodiscard]] virtual Result<ApplyReport> apply_rows(
        const std::vector<reconcile::RowChange>& changes) = 0;
    /// See StateStore::checkpoint_in_background.
    [[nodiscard]] virtual Status checkpoint_in_background() = 0;
};

/// radsync's private state (design.md "Storage"): the entity snapshot, the webhook inbox,
/// accounts, runs and the audit log. Only radsync reads it (mode 0600), and even so it holds no
/// secret in clear: secret member properties are kept as keyed hashes, webhook bodies are
/// sealed while pending and dropped once processed (store/at_rest.hpp has the key). Not
/// thread-safe; one owner.
class StateStore {
public:
    virtual ~StateStore() = default;

    /// The keyed hash this store keeps instead of a secret property's value; empty when the
    /// store was opened without its key (read-only, key file unreadable).
    [[nodiscard]] virtual std::string keyed_hash(std::string_view value) const = 0;
    /// Replaces OpenOptions::secret_properties (a reloaded configuration).
    virtual void set_secret_properties(std::set<std::string> names) = 0;

    /// Current stored snapshot (entities not tombstoned).
    [[nodiscard]] virtual Result<snapshot::Snapshot> load_snapshot() = 0;
    /// radsync_accounts, by member id.
    [[nodiscard]] virtual Result<std::map<std::string, AccountRecord>> load_accounts() = 0;
    /// The accounts of these members plus the accounts holding any of these usernames.
    [[nodiscard]] virtual Result<std::map<std::string, AccountRecord>> load_accounts_for(
        const std::set<std::string>& member_ids, const std::set<std::string>& usernames) = 0;
    /// Every address an account holds (AccountRecord::address), to the member holding it.
    [[nodiscard]] virtual Result<std::map<std::string, std::string>> addresses_in_use() = 0;
    /// Removed entities with the version that removed them (for ordering late events).
    [[nodiscard]] virtual Result<snapshot::Tombstones> load_tombstones() = 0;

    /// Everything of `writes` but the RADIUS rows, in one transaction: snapshot, accounts,
    /// processed events, the run record (with `rows`' counts, which apply_rows reported) and an
    /// audit entry per row change. Errc::kStoreBusy / kStoreFailed as RadiusStore::apply_rows.
    [[nodiscard]] virtual Result<ApplyReport> apply(const WriteSet& writes, const ApplyReport& rows,
                                                    core::Instant now) = 0;
    /// The earliest scheduled transition, if any.
    [[nodiscard]] virtual Result<std::optional<Transition>> next_transition() = 0;
    /// Scheduled transitions due at `now` (at <= now), earliest first, at most `limit`.
    [[nodiscard]] virtual Result<std::vector<Transition>> due_transitions(core::Instant now,
                                                                          std::size_t limit) = 0;
    /// The latest moment a committed run evaluated access at (WriteSet::evaluated_at); absent
    /// before the first. A run never evaluates earlier than this (reconcile::evaluation_time),
    /// so a clock stepped back cannot undo, and then repeat, a transition already applied.
    [[nodiscard]] virtual Result<std::optional<core::Instant>> evaluated_through() = 0;
    /// How the previous daemon on this database ended.
    enum class PreviousRun {
        kNone,        ///< no daemon ever ran on it
        kStopped,     ///< it stopped cleanly (mark_stopped)
        kDidNotStop,  ///< a crash, kill -9, power loss
    };
    /// The daemon starts: records that it runs, and says how the previous one ended. After
    /// anything but a clean stop the RADIUS rows are derived again from the state.
    [[nodiscard]] virtual Result<PreviousRun> mark_running() = 0;
    /// The daemon stops after draining: the next start need not re-derive anything.
    [[nodiscard]] virtual Status mark_stopped() = 0;
    /// Best effort: records a run that failed before anything was applied.
    virtual void record_failed_run(const WriteSet& writes, core::Instant now,
                                   const std::string& error) = 0;

    /// Commits a batch of deliveries in one transaction (group commit). For each event, true
    /// if it was new, false if its event id was already in the inbox (a duplicate).
    [[nodiscard]] virtual Result<std::vector<bool>> inbox_append(
        const std::vector<InboxEvent>& events) = 0;
    /// Unprocessed events in arrival order, at most `limit`.
    [[nodiscard]] virtual Result<std::vector<InboxEvent>> inbox_pending(std::size_t limit) = 0;
    /// Number of unprocessed events.
    [[nodiscard]] virtual Result<std::size_t> inbox_depth() = 0;
    /// Records a failed attempt to process one event on its own; returns its attempt count.
    [[nodiscard]] virtual Result<int> inbox_record_failure(const std::string& event_id,
                                                           std::string_view error) = 0;
    /// Sets an event aside, applying nothing: processed, with the result "parked: <the error
    /// of its last recorded attempt>" (inbox_counts() counts it as "parked").
    [[nodiscard]] virtual Status inbox_park(const std::string& event_id, core::Instant now) = 0;
    /// Deletes processed events received before `cutoff`; returns how many.
    [[nodiscard]] virtual Result<std::size_t> inbox_prune(core::Instant cutoff) = 0;
    /// Parked events, newest first, at most `limit`.
    [[nodiscard]] virtual Result<std::vector<ParkedEvent>> inbox_parked(std::size_t limit) = 0;
    /// Makes parked events pending again (all, or the one with `event_id`), attempts reset;
    /// returns how many. A running daemon picks them up within a second.
    [[nodiscard]] virtual Result<std::size_t> inbox_requeue_parked(
        const std::optional<std::string>& event_id) = 0;

    /// Pending messages due at `now` (next_attempt_at <= now), oldest first, at most `limit`,
    /// marked sending with one more attempt, their payloads opened. A message whose account
    /// is no longer active is cancelled instead (its payload wiped), one whose payload does not
    /// authenticate is parked with that error; neither is returned. The
    /// account's current username, and for a member's own message their current address,
    /// replace those it was queued with (a corrected e-mail, and the name made from it).
    [[nodiscard]] virtual Result<std::vector<OutboxMessage>> outbox_claim(core::Instant now,
                                                                          std::size_t limit) = 0;
    /// Records what became of claimed messages, in one transaction.
    [[nodiscard]] virtual Status outbox_settle(const std::vector<OutboxSettlement>& settled,
                                               core::Instant now) = 0;
    /// At start: messages left sending by a daemon that did not stop (the relay may or may not
    /// have taken them) become pending again, due now; returns how many. Each is sent again
    /// once, with its Message-ID, so a crash after the 250 costs one duplicate, not a loss.
    [[nodiscard]] virtual Result<std::size_t> outbox_recover(core::Instant now) = 0;
    /// When the earliest pending message is due.
    [[nodiscard]] virtual Result<std::optional<core::Instant>> outbox_next_due() = 0;
    /// Messages, newest first, at most `limit`: of one status and/or one subject when given.
    /// Payloads are not read.
    [[nodiscard]] virtual Result<std::vector<OutboxMessage>> outbox_list(
        std::optional<OutboxStatus> status, const std::optional<std::string>& subject,
        std::size_t limit) = 0;
    /// Makes parked messages pending again, due now (all, or the one with `id`), attempts
    /// reset; returns how many.
    [[nodiscard]] virtual Result<std::size_t> outbox_requeue(std::optional<std::int64_t> id,
                                                             core::Instant now) = 0;
    /// Messages by status.
    [[nodiscard]] virtual Result<std::map<std::string, std::size_t>> outbox_counts() = 0;
    /// Deletes sent and cancelled messages created before `cutoff`; returns how many.
    [[nodiscard]] virtual Result<std::size_t> outbox_prune(core::Instant cutoff) = 0;

    /// From now on the write-ahead log is checkpointed by a background thread on its own
    /// connection, instead of inside whichever commit crosses SQLite's threshold (that commit
    /// is usually a webhook acknowledgement, and a checkpoint includes an fsync). The
    /// checkpoint changes no data: every write still goes through this store's owner. On
    /// error (the second connection cannot be opened) SQLite's own checkpoints stay.
    [[nodiscard]] virtual Status checkpoint_in_background() = 0;

    /// Latest runs, newest first.
    [[nodiscard]] virtual Result<std::vector<RunRecord>> recent_runs(std::size_t limit) = 0;
    /// Inbox events by result ("" = not yet processed), over what the inbox still holds.
    [[nodiscard]] virtual Result<std::map<std::string, std::size_t>> inbox_counts() = 0;
    /// Latest audit entries, newest first, optionally for one username.
    [[nodiscard]] virtual Result<std::vector<AuditEntry>> audit(
        std::size_t limit, const std::optional<std::string>& username) = 0;
};

/// Where the two databases live.
struct StorePaths {
    std::string radius;  ///< shared with FreeRADIUS (group-readable, 0660)
    std::string state;   ///< radsync's private state (0600)
};

/// Both stores of one installation.
struct Stores {
    std::unique_ptr<StateStore> state;
    std::unique_ptr<RadiusStore> radius;
};

/// How the stores are opened.
struct OpenOptions {
    /// Member custom properties that hold secrets (config::Accounts::secret_properties). The
    /// state store keeps them, and every property named like a password, only as keyed hashes.
    std::set<std::string> secret_properties;
    /// Test hook: returning true stops open_sqlite_stores at `step`, as a crash would:
    /// "state-built" (the new state file complete, not yet renamed into place),
    /// "state-in-place" (renamed, radsync's tables still in the RADIUS file) or "dropped"
    /// (dropped, not yet vacuumed).
    std::function<bool(std::string_view step)> interrupt;
};

/// Opens (creating if missing) both SQLite databases, switches them to WAL and applies pending
/// migrations. A RADIUS database written by a release that kept everything in one file is
/// split on the way: radsync's tables move to the state database, which appears (atomically,
/// by rename) only once it holds everything, and only then are they dropped from the RADIUS
/// file, which is vacuumed so nothing of them stays behind. An interrupted split is finished by
/// the next open. Errc::kStoreSchemaTooNew if a file was written by a newer radsync;
/// Errc::kStoreFailed if one cannot be opened or a step fails (nothing half-applied).
[[nodiscard]] Result<Stores> open_sqlite_stores(const StorePaths& paths,
                                                const OpenOptions& options = {});

/// Opens existing databases read-only without migrating (status, accounts, inbox parked).
/// Errc::kStoreSchemaTooNew / kStoreFailed as above; Errc::kNotFound if a file is missing.
[[nodiscard]] Result<Stores> open_sqlite_stores_read_only(const StorePaths& paths);

/// In-memory copies of both databases (empty ones where no file exists yet), brought to the
/// current schema in memory: what a dry run plans against. Nothing is written to either path
/// or next to it. Errc::kStoreSchemaTooNew / kStoreFailed as open_sqlite_stores.
[[nodiscard]] Result<Stores> open_sqlite_stores_scratch_copy(const StorePaths& paths,
                                                             const OpenOptions& options = {});

/// Schema versions of both databases and the newest this binary knows for each.
struct SchemaStatus {
    int radius_version = 0;
    int radius_binary_version = 0;
    int state_version = 0;  ///< 0 when the state database does not exist yet
    int state_binary_version = 0;
};

/// Reads the schema versions without changing anything. Errc::kNotFound if the RADIUS
/// database is missing, Errc::kStoreFailed if a file cannot be read.
[[nodiscard]] Result<SchemaStatus> read_schema_status(const StorePaths& paths);

/// Applies pending migrations (and the one-file split) to both databases; versions
/// before/after.
[[nodiscard]] Result<SchemaStatus> migrate_sqlite(const StorePaths& paths,
                                                  const OpenOptions& options = {});

}  // namespace radsync::store
