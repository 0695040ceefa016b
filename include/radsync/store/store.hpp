#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
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
    std::string body;  ///< exact verified bytes
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

/// The database radsync and FreeRADIUS share. Narrow on purpose: a PostgreSQL backend is an
/// addition, not a rewrite (design.md "Beyond one machine"). Not thread-safe; one owner.
class RadiusStore {
public:
    virtual ~RadiusStore() = default;

    /// Current stored snapshot (entities not tombstoned).
    [[nodiscard]] virtual Result<snapshot::Snapshot> load_snapshot() = 0;
    /// radsync_accounts, by member id.
    [[nodiscard]] virtual Result<std::map<std::string, AccountRecord>> load_accounts() = 0;
    /// The accounts of these members plus the accounts holding any of these usernames.
    [[nodiscard]] virtual Result<std::map<std::string, AccountRecord>> load_accounts_for(
        const std::set<std::string>& member_ids, const std::set<std::string>& usernames) = 0;
    /// Every FreeRADIUS row radsync owns.
    [[nodiscard]] virtual Result<std::vector<OwnedRow>> load_owned_rows() = 0;
    /// Usernames that have rows radsync does not own.
    [[nodiscard]] virtual Result<std::set<std::string>> foreign_usernames() = 0;
    /// The owned user rows (radcheck, radreply, radusergroup) of just these usernames.
    [[nodiscard]] virtual Result<std::vector<OwnedRow>> load_owned_user_rows(
        const std::set<std::string>& usernames) = 0;
    /// Which of these usernames have rows radsync does not own.
    [[nodiscard]] virtual Result<std::set<std::string>> foreign_among(
        const std::set<std::string>& usernames) = 0;
    /// Applies everything in one short BEGIN IMMEDIATE transaction, records the run and an
    /// audit entry per row change. Errc::kStoreBusy if the database stayed locked past the busy
    /// timeout, Errc::kStoreFailed otherwise; nothing is written on error.
    [[nodiscard]] virtual Result<ApplyReport> apply(const WriteSet& writes, core::Instant now) = 0;
    /// Removed entities with the version that removed them (for ordering late events).
    [[nodiscard]] virtual Result<snapshot::Tombstones> load_tombstones() = 0;

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

/// Opens (creating if missing) the SQLite database at `path`, switches it to WAL, applies
/// pending migrations. Errc::kStoreSchemaTooNew if the file was written by a newer radsync;
/// Errc::kStoreFailed if it cannot be opened or a migration fails (nothing half-applied).
[[nodiscard]] Result<std::unique_ptr<RadiusStore>> open_sqlite_store(const std::string& path);

/// Opens an existing database read-only without migrating (check-config, status).
/// Errc::kStoreSchemaTooNew / kStoreFailed as above; Errc::kNotFound if the file is missing.
[[nodiscard]] Result<std::unique_ptr<RadiusStore>> open_sqlite_store_read_only(
    const std::string& path);

/// An in-memory copy of the database at `path` (an empty one if there is no file yet), brought
/// to the current schema in memory: what a dry run plans against. Nothing is written to `path`
/// or next to it, and nothing the copy is given reaches the disk.
/// Errc::kStoreSchemaTooNew / kStoreFailed as open_sqlite_store.
[[nodiscard]] Result<std::unique_ptr<RadiusStore>> open_sqlite_store_scratch_copy(
    const std::string& path);

/// Schema version of the database (PRAGMA user_version) and the newest this binary knows.
struct SchemaStatus {
    int database_version = 0;
    int binary_version = 0;
};

/// Reads the schema version of an existing database without changing anything.
/// Errc::kNotFound if the file is missing, Errc::kStoreFailed if it cannot be read.
[[nodiscard]] Result<SchemaStatus> read_schema_status(const std::string& path);

/// Applies pending migrations to the database at `path`; returns versions before/after.
[[nodiscard]] Result<SchemaStatus> migrate_sqlite(const std::string& path);

}  // namespace radsync::store
