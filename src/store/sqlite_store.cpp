#include <algorithm>
#include <array>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "radsync/log/log.hpp"
#include "radsync/store/store.hpp"
#include "sqlite.hpp"

namespace radsync::store {

namespace {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

constexpr std::array kRadiusTables = {Table::kRadcheck, Table::kRadreply, Table::kRadgroupcheck,
                                      Table::kRadgroupreply, Table::kRadusergroup};

// Column holding the user or group name, per table.
const char* name_column(Table t) {
    return (t == Table::kRadgroupcheck || t == Table::kRadgroupreply) ? "groupname" : "username";
}

std::int64_t seconds(core::Instant t) {
    return t.time_since_epoch().count();
}
core::Instant instant(std::int64_t s) {
    return core::Instant{std::chrono::seconds{s}};
}

std::optional<std::int64_t> seconds(const std::optional<core::Instant>& t) {
    return t ? std::optional<std::int64_t>(seconds(*t)) : std::nullopt;
}

bool is_secret_attribute(const std::string& attribute) {
    return attribute.find("Password") != std::string::npos;
}

// `TRY(x)` for Result-returning calls inside functions that return a Result.
#define RADSYNC_TRY(expr)                            \
    do {                                             \
        if (auto radsync_s_ = (expr); !radsync_s_) { \
            return radsync_s_.error();               \
        }                                            \
    } while (false)

// One snapshot table: its name, the extra indexed columns and how to read them off an entity.
template <class Entity>
struct SnapshotTable {
    const char* table;
    std::vector<const char*> columns;  // after id, before modified_at/removed/raw
    std::function<std::vector<std::string>(const Entity&)> values;
    std::function<Result<Entity>(const std::string&)> parse;
};

const SnapshotTable<snapshot::Member> kMembers{
    "radsync_members",
    {"email", "status", "company", "location"},
    [](const snapshot::Member& m) {
        return std::vector<std::string>{m.email, m.status, m.company, m.location};
    },
    snapshot::parse_member};
const SnapshotTable<snapshot::Company> kCompanies{
    "radsync_companies",
    {},
    [](const snapshot::Company&) { return std::vector<std::string>{}; },
    snapshot::parse_company};
const SnapshotTable<snapshot::Membership> kMemberships{
    "radsync_memberships",
    {"member", "company", "plan", "location"},
    [](const snapshot::Membership& m) {
        return std::vector<std::string>{m.member, m.company, m.plan, m.location};
    },
    snapshot::parse_membership};
const SnapshotTable<snapshot::Plan> kPlans{
    "radsync_plans",
    {},
    [](const snapshot::Plan&) { return std::vector<std::string>{}; },
    snapshot::parse_plan};
const SnapshotTable<snapshot::Location> kLocations{
    "radsync_locations",
    {},
    [](const snapshot::Location&) { return std::vector<std::string>{}; },
    snapshot::parse_location};
const SnapshotTable<snapshot::Pass> kPasses{
    "radsync_passes",
    {"member", "company"},
    [](const snapshot::Pass& p) {
        return std::vector<std::string>{p.member, p.company};
    },
    snapshot::parse_pass};
const SnapshotTable<snapshot::Booking> kBookings{
    "radsync_bookings",
    {"member", "location"},
    [](const snapshot::Booking& b) {
        return std::vector<std::string>{b.member, b.location};
    },
    snapshot::parse_booking};

// Tables keyed by username (the rest are keyed by group name).
constexpr std::array kUserTables = {Table::kRadcheck, Table::kRadreply, Table::kRadusergroup};

// SELECT of the rows radsync owns in table `t`, as (id, name, attribute, op, value, priority).
std::string owned_rows_query(Table t, const std::string& where) {
    const std::string table = to_string(t);
    const std::string columns =
        t == Table::kRadusergroup
            ? "t.id, t.username, t.groupname, '', '', t.priority"
            : std::string("t.id, t.") + name_column(t) + ", t.attribute, t.op, t.value, 0";
    return "SELECT " + columns + " FROM " + table + " t JOIN radsync_owned_rows o ON o.tbl = '" +
           table + "' AND o.row_id = t.id " + where + " ORDER BY t.id";
}

OwnedRow owned_row(Table t, const Statement& row) {
    return {row.integer(0), RadRow{t, row.text(1), row.text(2), row.text(3), row.text(4),
                                   static_cast<int>(row.integer(5))}};
}

constexpr std::string_view kAccountColumns =
    "SELECT member_id, username, password, state, state_since, grp, locations, expires, reason";

// Reads every row of an account query (kAccountColumns) into `out`, then resets `st`.
Status read_accounts(Statement& st, std::map<std::string, AccountRecord>& out) {
    return st.each_row([&](const Statement& row) {
        AccountRecord a;
        a.member_id = row.text(0);
        a.username = row.text(1);
        a.password = row.text(2);
        a.state = row.text(3) == "revoked" ? AccountState::kRevoked : AccountState::kActive;
        a.state_since = instant(row.integer(4));
        a.group = row.text(5);
        a.locations = row.text(6);
        if (!row.is_null(7)) {
            a.expires = instant(row.integer(7));
        }
        a.reason = row.text(8);
        auto id = a.member_id;
        out.insert_or_assign(std::move(id), std::move(a));
    });
}

// Checkpoints the write-ahead log on its own thread and connection when the writer's commits
// have grown it past SQLite's default threshold. A passive checkpoint neither blocks the
// writer nor waits for readers (FreeRADIUS); the log restarts at the writer's next commit
// once everything in it has been copied.
class Checkpointer {
public:
    static constexpr int kThresholdFrames = 1000;  // SQLite's own wal_autocheckpoint default

    /// `db`: the checkpointer's own connection, already open on the writer's file.
    explicit Checkpointer(Database db)
        : db_(std::move(db)), log_(log::get("store")), thread_([this] { run(); }) {}
    ~Checkpointer() {
        {
            std::lock_guard lock(mu_);
            stopping_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }
    Checkpointer(const Checkpointer&) = delete;
    Checkpointer& operator=(const Checkpointer&) = delete;

    /// On the writer's thread, after each commit.
    void committed(int frames) {
        if (frames < kThresholdFrames) {
            return;
        }
        {
            std::lock_guard lock(mu_);
            due_ = true;
        }
        cv_.notify_one();
    }

private:
    void run() {
        std::unique_lock lock(mu_);
        for (;;) {
            cv_.wait(lock, [&] { return stopping_ || due_; });
            if (stopping_) {
                return;
            }
            due_ = false;
            lock.unlock();
            if (auto s = db_.checkpoint(); !s) {
                log_->warn("checkpoint failed error={}", s.error().message);
            }
            lock.lock();
        }
    }

    Database db_;
    std::shared_ptr<spdlog::logger> log_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool due_ = false;
    bool stopping_ = false;
    std::thread thread_;  // last: started once the members above exist
};

class SqliteRadiusStore final : public RadiusStore {
public:
    explicit SqliteRadiusStore(Database db) : db_(std::move(db)), log_(log::get("store")) {}
    ~SqliteRadiusStore() override {
        // The commit hook points into the checkpointer, which goes first.
        if (checkpointer_) {
            db_.on_wal_commit(nullptr);
            checkpointer_.reset();
        }
    }
    SqliteRadiusStore(const SqliteRadiusStore&) = delete;
    SqliteRadiusStore& operator=(const SqliteRadiusStore&) = delete;

    Result<snapshot::Snapshot> load_snapshot() override {
        snapshot::Snapshot s;
        RADSYNC_TRY(load_table(kMembers, s.members));
        RADSYNC_TRY(load_table(kCompanies, s.companies));
        RADSYNC_TRY(load_table(kMemberships, s.memberships));
        RADSYNC_TRY(load_table(kPlans, s.plans));
        RADSYNC_TRY(load_table(kLocations, s.locations));
        RADSYNC_TRY(load_table(kPasses, s.passes));
        RADSYNC_TRY(load_table(kBookings, s.bookings));
        s.normalise();
        return s;
    }

    Result<std::map<std::string, AccountRecord>> load_accounts() override {
        auto st = db_.cached(std::string(kAccountColumns) + " FROM radsync_accounts");
        if (!st) {
            return st.error();
        }
        std::map<std::string, AccountRecord> out;
        RADSYNC_TRY(read_accounts(st->statement(), out));
        return out;
    }

    Result<std::map<std::string, AccountRecord>> load_accounts_for(
        const std::set<std::string>& member_ids, const std::set<std::string>& usernames) override {
        auto by_id = db_.cached(std::string(kAccountColumns) +
                                " FROM radsync_accounts WHERE member_id = ?1");
        auto by_name =
            db_.cached(std::string(kAccountColumns) + " FROM radsync_accounts WHERE username = ?1");
        if (!by_id) {
            return by_id.error();
        }
        if (!by_name) {
            return by_name.error();
        }
        std::map<std::string, AccountRecord> out;
        for (const auto& id : member_ids) {
            by_id->bind(1, id);
            RADSYNC_TRY(read_accounts(by_id->statement(), out));
        }
        for (const auto& name : usernames) {
            by_name->bind(1, name);
            RADSYNC_TRY(read_accounts(by_name->statement(), out));
        }
        return out;
    }

    Result<std::vector<OwnedRow>> load_owned_rows() override {
        std::vector<OwnedRow> out;
        for (Table t : kRadiusTables) {
            auto st = db_.cached(owned_rows_query(t, ""));
            if (!st) {
                return st.error();
            }
            RADSYNC_TRY(
                st->each_row([&](const Statement& row) { out.push_back(owned_row(t, row)); }));
        }
        return out;
    }

    Result<std::set<std::string>> foreign_usernames() override {
        std::set<std::string> out;
        for (Table t : kUserTables) {
            const std::string table = to_string(t);
            auto st = db_.cached("SELECT DISTINCT username FROM " + table +
                                 " WHERE id NOT IN (SELECT row_id FROM radsync_owned_rows "
                                 "WHERE tbl = '" +
                                 table + "')");
            if (!st) {
                return st.error();
            }
            RADSYNC_TRY(st->each_row([&](const Statement& row) { out.insert(row.text(0)); }));
        }
        return out;
    }

    Result<std::vector<OwnedRow>> load_owned_user_rows(
        const std::set<std::string>& usernames) override {
        std::vector<OwnedRow> out;
        for (Table t : kUserTables) {
            // Uses the stock username indexes; one lookup per name keeps a webhook run's
            // cost proportional to the members it touches.
            auto st = db_.cached(owned_rows_query(t, "WHERE t.username = ?1"));
            if (!st) {
                return st.error();
            }
            for (const auto& name : usernames) {
                st->bind(1, name);
                RADSYNC_TRY(
                    st->each_row([&](const Statement& row) { out.push_back(owned_row(t, row)); }));
            }
        }
        return out;
    }

    Result<std::set<std::string>> foreign_among(const std::set<std::string>& usernames) override {
        std::set<std::string> out;
        for (Table t : kUserTables) {
            const std::string table = to_string(t);
            auto st = db_.cached("SELECT 1 FROM " + table +
                                 " WHERE username = ?1 AND id NOT IN (SELECT row_id FROM "
                                 "radsync_owned_rows WHERE tbl = '" +
                                 table + "') LIMIT 1");
            if (!st) {
                return st.error();
            }
            for (const auto& name : usernames) {
                st->bind(1, name);
                auto row = st->step();
                st->reset();
                if (!row) {
                    return row.error();
                }
                if (*row == sqlite::Step::kRow) {
                    out.insert(name);
                }
            }
        }
        return out;
    }

    Result<ApplyReport> apply(const WriteSet& writes, core::Instant now) override {
        auto report = apply_in_transaction(writes, now);
        if (!report) {
            log_->error("apply failed mode={} error={}", writes.run_mode, report.error().message);
            record_failed_run(writes, now, report.error().message);
        }
        return report;
    }

    Result<std::vector<RunRecord>> recent_runs(std::size_t limit) override {
        auto st = db_.cached(
            "SELECT id, mode, source, started_at, finished_at, result, rows_inserted, "
            "rows_updated, rows_deleted, accounts_written, accounts_deleted, error "
            "FROM radsync_runs ORDER BY id DESC LIMIT ?1");
        if (!st) {
            return st.error();
        }
        st->bind(1, static_cast<std::int64_t>(limit));
        std::vector<RunRecord> out;
        auto count = [](const Statement& row, int col) {
            return static_cast<std::size_t>(std::max<std::int64_t>(0, row.integer(col)));
        };
        RADSYNC_TRY(st->each_row([&](const Statement& row) {
            RunRecord r;
            r.id = row.integer(0);
            r.mode = row.text(1);
            r.source = row.text(2);
            r.started_at = instant(row.integer(3));
            if (!row.is_null(4)) {
                r.finished_at = instant(row.integer(4));
            }
            r.result = row.text(5);
            r.rows_inserted = count(row, 6);
            r.rows_updated = count(row, 7);
            r.rows_deleted = count(row, 8);
            r.accounts_written = count(row, 9);
            r.accounts_deleted = count(row, 10);
            r.error = row.text(11);
            out.push_back(std::move(r));
        }));
        return out;
    }

    Result<std::map<std::string, std::size_t>> inbox_counts() override {
        auto st = db_.cached(
            "SELECT CASE WHEN processed_at IS NULL THEN '' ELSE result END, count(*) "
            "FROM radsync_inbox GROUP BY 1");
        if (!st) {
            return st.error();
        }
        std::map<std::string, std::size_t> out;
        RADSYNC_TRY(st->each_row([&](const Statement& row) {
            // Results like "malformed: <why>" are counted under their first word.
            const std::string result = row.text(0);
            out[result.substr(0, result.find(':'))] += static_cast<std::size_t>(row.integer(1));
        }));
        return out;
    }

    Result<std::vector<AuditEntry>> audit(std::size_t limit,
                                          const std::optional<std::string>& username) override {
        auto st = db_.cached(
            "SELECT run_id, at, op, tbl, name, attribute, old_value, new_value, reason "
            "FROM radsync_audit WHERE (?1 IS NULL OR name = ?1) ORDER BY id DESC LIMIT ?2");
        if (!st) {
            return st.error();
        }
        if (username) {
            st->bind(1, *username);
        } else {
            st->bind_null(1);
        }
        st->bind(2, static_cast<std::int64_t>(limit));
        std::vector<AuditEntry> out;
        RADSYNC_TRY(st->each_row([&](const Statement& row) {
            out.push_back({row.integer(0), instant(row.integer(1)), row.text(2), row.text(3),
                           row.text(4), row.text(5), row.text(6), row.text(7), row.text(8)});
        }));
        return out;
    }

    Result<snapshot::Tombstones> load_tombstones() override {
        snapshot::Tombstones out;
        RADSYNC_TRY(load_tombstones_of(kMembers, snapshot::Kind::kMember, out));
        RADSYNC_TRY(load_tombstones_of(kCompanies, snapshot::Kind::kCompany, out));
        RADSYNC_TRY(load_tombstones_of(kMemberships, snapshot::Kind::kMembership, out));
        RADSYNC_TRY(load_tombstones_of(kPlans, snapshot::Kind::kPlan, out));
        RADSYNC_TRY(load_tombstones_of(kLocations, snapshot::Kind::kLocation, out));
        RADSYNC_TRY(load_tombstones_of(kPasses, snapshot::Kind::kPass, out));
        RADSYNC_TRY(load_tombstones_of(kBookings, snapshot::Kind::kBooking, out));
        return out;
    }

    Result<std::vector<bool>> inbox_append(const std::vector<InboxEvent>& events) override {
        auto tx = Transaction::begin(db_);
        if (!tx) {
            return tx.error();
        }
        // RETURNING yields a row only when the insert happened. (sqlite3_changes() is no use
        // here: an ignored insert leaves it at the previous statement's count.)
        auto st = db_.cached(
            "INSERT INTO radsync_inbox (event_id, event_type, t, received_at, body) "
            "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (event_id) DO NOTHING RETURNING seq");
        if (!st) {
            return st.error();
        }
        std::vector<bool> fresh;
        fresh.reserve(events.size());
        for (const auto& e : events) {
            st->bind(1, e.event_id)
                .bind(2, e.event_type)
                .bind(3, e.t)
                .bind(4, seconds(e.received_at))
                .bind(5, e.body);
            auto row = st->step();
            if (!row) {
                st->reset();
                return row.error();
            }
            fresh.push_back(*row == sqlite::Step::kRow);
            RADSYNC_TRY(st->run());  // finish the statement and reset it for the next event
        }
        RADSYNC_TRY(tx->commit());
        return fresh;
    }

    Result<std::vector<InboxEvent>> inbox_pending(std::size_t limit) override {
        auto st = db_.cached(
            "SELECT event_id, event_type, t, received_at, body FROM radsync_inbox "
            "WHERE processed_at IS NULL ORDER BY seq LIMIT ?1");
        if (!st) {
            return st.error();
        }
        st->bind(1, static_cast<std::int64_t>(limit));
        std::vector<InboxEvent> out;
        RADSYNC_TRY(st->each_row([&](const Statement& row) {
            out.push_back(
                {row.text(0), row.text(1), row.text(2), instant(row.integer(3)), row.text(4)});
        }));
        return out;
    }

    Result<std::size_t> inbox_depth() override {
        auto st = db_.cached("SELECT count(*) FROM radsync_inbox WHERE processed_at IS NULL");
        if (!st) {
            return st.error();
        }
        auto row = st->step();
        if (!row) {
            return row.error();
        }
        return static_cast<std::size_t>(st->integer(0));
    }

    Status checkpoint_in_background() override {
        if (checkpointer_) {
            return {};
        }
        // Opened here, so that a failure leaves SQLite's own checkpoints in place instead of a
        // log that nobody checkpoints.
        auto db = Database::open(db_.path(), sqlite::OpenMode::kReadWriteCreate);
        if (!db) {
            return db.error();
        }
        // A new connection learns that the file is in WAL mode only when it first reads it;
        // until then a checkpoint is a silent no-op.
        RADSYNC_TRY(db->exec("PRAGMA journal_mode"));
        RADSYNC_TRY(db->exec("PRAGMA synchronous = FULL"));
        checkpointer_ = std::make_unique<Checkpointer>(std::move(*db));
        db_.on_wal_commit([c = checkpointer_.get()](int frames) { c->committed(frames); });
        return {};
    }

    Result<int> inbox_record_failure(const std::string& event_id, std::string_view error) override {
        auto st = db_.cached(
            "UPDATE radsync_inbox SET attempts = attempts + 1, last_error = ?2 "
            "WHERE event_id = ?1 RETURNING attempts");
        if (!st) {
            return st.error();
        }
        st->bind(1, event_id).bind(2, error.substr(0, 1000));
        auto row = st->step();
        if (!row) {
            st->reset();
            return row.error();
        }
        if (*row != sqlite::Step::kRow) {
            return Error(Errc::kNotFound, "no inbox event " + event_id);
        }
        const auto attempts = static_cast<int>(st->integer(0));
        RADSYNC_TRY(st->run());  // finish and reset
        return attempts;
    }

    Status inbox_park(const std::string& event_id, core::Instant now) override {
        auto st = db_.cached(
            "UPDATE radsync_inbox SET processed_at = ?2, result = 'parked: ' || last_error "
            "WHERE event_id = ?1");
        if (!st) {
            return st.error();
        }
        st->bind(1, event_id).bind(2, seconds(now));
        return st->run();
    }

    Result<std::vector<ParkedEvent>> inbox_parked(std::size_t limit) override {
        auto st = db_.cached(
            "SELECT event_id, event_type, received_at, attempts, last_error FROM radsync_inbox "
            "WHERE processed_at IS NOT NULL AND result LIKE 'parked:%' ORDER BY seq DESC "
            "LIMIT ?1");
        if (!st) {
            return st.error();
        }
        st->bind(1, static_cast<std::int64_t>(limit));
        std::vector<ParkedEvent> out;
        RADSYNC_TRY(st->each_row([&](const Statement& row) {
            out.push_back({row.text(0), row.text(1), instant(row.integer(2)),
                           static_cast<int>(row.integer(3)), row.text(4)});
        }));
        return out;
    }

    Result<std::size_t> inbox_requeue_parked(const std::optional<std::string>& event_id) override {
        auto st = db_.cached(
            "UPDATE radsync_inbox SET processed_at = NULL, result = '', attempts = 0, "
            "last_error = '' WHERE processed_at IS NOT NULL AND result LIKE 'parked:%' "
            "AND (?1 IS NULL OR event_id = ?1)");
        if (!st) {
            return st.error();
        }
        if (event_id) {
            st->bind(1, *event_id);
        } else {
            st->bind_null(1);
        }
        RADSYNC_TRY(st->run());
        return static_cast<std::size_t>(db_.changes());
    }

    Result<std::size_t> inbox_prune(core::Instant cutoff) override {
        auto st = db_.cached(
            "DELETE FROM radsync_inbox WHERE processed_at IS NOT NULL AND received_at < ?1");
        if (!st) {
            return st.error();
        }
        st->bind(1, seconds(cutoff));
        RADSYNC_TRY(st->run());
        return static_cast<std::size_t>(db_.changes());
    }

private:
    template <class Entity>
    Status load_table(const SnapshotTable<Entity>& spec, std::vector<Entity>& out) {
        auto st = db_.cached(std::string("SELECT raw FROM ") + spec.table + " WHERE removed = 0");
        if (!st) {
            return st.error();
        }
        return st->each_row([&](const Statement& row) {
            auto entity = spec.parse(row.text(0));
            if (!entity) {
                // Only radsync writes these rows, from objects it parsed before; a failure
                // here means the file was edited by hand. Skip it loudly rather than stop.
                log_->error("unreadable snapshot row table={} error={}", spec.table,
                            entity.error().message);
                return;
            }
            out.push_back(std::move(*entity));
        });
    }

    template <class Entity>
    Status load_tombstones_of(const SnapshotTable<Entity>& spec, snapshot::Kind kind,
                              snapshot::Tombstones& out) {
        auto st = db_.cached(std::string("SELECT id, modified_at, raw FROM ") + spec.table +
                             " WHERE removed = 1");
        if (!st) {
            return st.error();
        }
        return st->each_row([&](const Statement& row) {
            snapshot::Version v;
            if (!row.is_null(1)) {
                v.modified_at = instant(row.integer(1));
            }
            v.removed = true;
            v.raw = row.text(2);
            out[{kind, row.text(0)}] = std::move(v);
        });
    }

    // Upserts one entity (or its tombstone) with its indexed columns.
    template <class Entity>
    Status write_entity_to(const SnapshotTable<Entity>& spec, const snapshot::EntityWrite& w) {
        auto entity = spec.parse(w.version.raw);
        if (!entity) {
            return entity.error();
        }
        std::string columns = "id";
        std::string params = "?1";
        int n = 1;
        for (const char* c : spec.columns) {
            columns += std::string(", ") + c;
            params += ", ?" + std::to_string(++n);
        }
        columns += ", modified_at, removed, raw";
        params += ", ?" + std::to_string(n + 1) + ", ?" + std::to_string(n + 2) + ", ?" +
                  std::to_string(n + 3);
        auto st = db_.cached(std::string("INSERT OR REPLACE INTO ") + spec.table + " (" + columns +
                             ") VALUES (" + params + ")");
        if (!st) {
            return st.error();
        }
        int i = 1;
        st->bind(i, w.id);
        for (const auto& v : spec.values(*entity)) {
            st->bind(++i, v);
        }
        st->bind(++i, seconds(w.version.modified_at));
        st->bind(++i, static_cast<std::int64_t>(w.version.removed ? 1 : 0));
        st->bind(++i, w.version.raw);
        return st->run();
    }

    Status write_entity(const snapshot::EntityWrite& w) {
        switch (w.kind) {
            case snapshot::Kind::kMember:
                return write_entity_to(kMembers, w);
            case snapshot::Kind::kCompany:
                return write_entity_to(kCompanies, w);
            case snapshot::Kind::kMembership:
                return write_entity_to(kMemberships, w);
            case snapshot::Kind::kPlan:
                return write_entity_to(kPlans, w);
            case snapshot::Kind::kLocation:
                return write_entity_to(kLocations, w);
            case snapshot::Kind::kPass:
                return write_entity_to(kPasses, w);
            case snapshot::Kind::kBooking:
                return write_entity_to(kBookings, w);
        }
        return {};
    }

    Status mark_processed(const std::vector<ProcessedEvent>& events, core::Instant now) {
        auto st = db_.cached(
            "UPDATE radsync_inbox SET processed_at = ?2, result = ?3 WHERE event_id = ?1");
        if (!st) {
            return st.error();
        }
        for (const auto& e : events) {
            st->bind(1, e.event_id).bind(2, seconds(now)).bind(3, e.result);
            RADSYNC_TRY(st->run());
        }
        return {};
    }

    // Brings one snapshot table to exactly `wanted`, touching only rows that differ.
    template <class Entity>
    Result<std::size_t> replace_table(const SnapshotTable<Entity>& spec,
                                      const std::vector<Entity>& wanted) {
        std::map<std::string, std::string> held;  // id -> raw (including tombstones as "")
        {
            auto st = db_.cached(std::string("SELECT id, raw, removed FROM ") + spec.table);
            if (!st) {
                return st.error();
            }
            RADSYNC_TRY(st->each_row([&](const Statement& row) {
                held.emplace(row.text(0), row.integer(2) != 0 ? std::string() : row.text(1));
            }));
        }
        std::string columns = "id";
        std::string params = "?1";
        int n = 1;
        for (const char* c : spec.columns) {
            columns += std::string(", ") + c;
            params += ", ?" + std::to_string(++n);
        }
        columns += ", modified_at, removed, raw";
        params += ", ?" + std::to_string(n + 1) + ", 0, ?" + std::to_string(n + 2);
        auto upsert = db_.cached(std::string("INSERT OR REPLACE INTO ") + spec.table + " (" +
                                 columns + ") VALUES (" + params + ")");
        auto remove = db_.cached(std::string("DELETE FROM ") + spec.table + " WHERE id = ?1");
        if (!upsert) {
            return upsert.error();
        }
        if (!remove) {
            return remove.error();
        }
        std::size_t written = 0;
        for (const auto& e : wanted) {
            auto it = held.find(e.id);
            if (it != held.end()) {
                const bool same = it->second == e.raw;
                held.erase(it);
                if (same) {
                    continue;
                }
            }
            int i = 1;
            upsert->bind(i, e.id);
            for (const auto& v : spec.values(e)) {
                upsert->bind(++i, v);
            }
            upsert->bind(++i, seconds(e.modified_at));
            upsert->bind(++i, e.raw);
            RADSYNC_TRY(upsert->run());
            ++written;
        }
        for (const auto& [id, raw] : held) {
            remove->bind(1, id);
            RADSYNC_TRY(remove->run());
            ++written;
        }
        return written;
    }

    Status replace_snapshot(const snapshot::Snapshot& s) {
        std::size_t written = 0;
        auto add = [&](Result<std::size_t> r) -> Status {
            if (!r) {
                return r.error();
            }
            written += *r;
            return {};
        };
        RADSYNC_TRY(add(replace_table(kMembers, s.members)));
        RADSYNC_TRY(add(replace_table(kCompanies, s.companies)));
        RADSYNC_TRY(add(replace_table(kMemberships, s.memberships)));
        RADSYNC_TRY(add(replace_table(kPlans, s.plans)));
        RADSYNC_TRY(add(replace_table(kLocations, s.locations)));
        RADSYNC_TRY(add(replace_table(kPasses, s.passes)));
        RADSYNC_TRY(add(replace_table(kBookings, s.bookings)));
        snapshot_rows_written_ = written;
        return {};
    }

    Status write_accounts(const std::vector<AccountChange>& changes, core::Instant now,
                          ApplyReport& report) {
        auto del = db_.cached("DELETE FROM radsync_accounts WHERE member_id = ?1");
        auto up = db_.cached(
            "INSERT INTO radsync_accounts (member_id, username, password, state, state_since, "
            "grp, locations, expires, reason, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10) "
            "ON CONFLICT(member_id) DO UPDATE SET username=?2, password=?3, state=?4, "
            "state_since=?5, grp=?6, locations=?7, expires=?8, reason=?9, updated_at=?10");
        if (!del) {
            return del.error();
        }
        if (!up) {
            return up.error();
        }
        for (const auto& c : changes) {
            if (c.op == AccountChange::Op::kDelete) {
                del->bind(1, c.record.member_id);
                RADSYNC_TRY(del->run());
                ++report.accounts_deleted;
                continue;
            }
            const auto& a = c.record;
            up->bind(1, a.member_id)
                .bind(2, a.username)
                .bind(3, a.password)
                .bind(4, std::string_view(to_string(a.state)))
                .bind(5, seconds(a.state_since))
                .bind(6, a.group)
                .bind(7, a.locations)
                .bind(8, seconds(a.expires))
                .bind(9, a.reason)
                .bind(10, seconds(now));
            RADSYNC_TRY(up->run());
            ++report.accounts_written;
        }
        return {};
    }

    Status write_rows(const WriteSet& writes, std::int64_t run_id, core::Instant now,
                      ApplyReport& report) {
        auto own = db_.cached("INSERT INTO radsync_owned_rows (tbl, row_id) VALUES (?1, ?2)");
        auto disown = db_.cached("DELETE FROM radsync_owned_rows WHERE tbl = ?1 AND row_id = ?2");
        auto audit = db_.cached(
            "INSERT INTO radsync_audit (run_id, at, op, tbl, name, attribute, old_value, "
            "new_value, reason) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)");
        if (!own || !disown || !audit) {
            return db_.last_error("prepare");
        }
        // Statements per table (cached on the connection).
        std::map<Table, sqlite::CachedStatement> inserts;
        std::map<Table, sqlite::CachedStatement> updates;
        std::map<Table, sqlite::CachedStatement> deletes;
        for (Table t : kRadiusTables) {
            const std::string table = to_string(t);
            const bool usergroup = t == Table::kRadusergroup;
            auto ins = db_.cached(
                usergroup ? "INSERT INTO radusergroup (username, groupname, priority) VALUES "
                            "(?1, ?2, ?5)"
                          : "INSERT INTO " + table + " (" + name_column(t) +
                                ", attribute, op, value) VALUES (?1, ?2, ?3, ?4)");
            auto upd = db_.cached(usergroup ? "UPDATE radusergroup SET username = ?1, groupname = "
                                              "?2, priority = ?5 WHERE id = ?6"
                                            : "UPDATE " + table + " SET " + name_column(t) +
                                                  " = ?1, attribute = ?2, op = ?3, value = ?4 "
                                                  "WHERE id = ?6");
            auto del = db_.cached("DELETE FROM " + table + " WHERE id = ?1");
            if (!ins) {
                return ins.error();
            }
            if (!upd) {
                return upd.error();
            }
            if (!del) {
                return del.error();
            }
            inserts.emplace(t, std::move(*ins));
            updates.emplace(t, std::move(*upd));
            deletes.emplace(t, std::move(*del));
        }
        auto bind_row = [](sqlite::CachedStatement& st, const RadRow& r) {
            st.bind(1, r.name).bind(2, r.attribute);
            if (r.table != Table::kRadusergroup) {
                st.bind(3, r.op).bind(4, r.value);
            } else {
                st.bind(5, static_cast<std::int64_t>(r.priority));
            }
        };
        auto shown = [](const std::optional<RadRow>& r) -> std::string {
            if (!r) {
                return {};
            }
            if (r->table == Table::kRadusergroup) {
                return "priority " + std::to_string(r->priority);
            }
            return r->op + " " + (is_secret_attribute(r->attribute) ? "(secret)" : r->value);
        };
        for (const auto& change : writes.rows) {
            const RadRow& row = change.after ? *change.after : *change.before;
            const std::string table = to_string(row.table);
            switch (change.op) {
                case reconcile::RowChange::Op::kInsert: {
                    auto& st = inserts.at(row.table);
                    bind_row(st, row);
                    RADSYNC_TRY(st.run());
                    own->bind(1, table).bind(2, db_.last_insert_rowid());
                    RADSYNC_TRY(own->run());
                    ++report.rows_inserted;
                    break;
                }
                case reconcile::RowChange::Op::kUpdate: {
                    auto& st = updates.at(row.table);
                    bind_row(st, row);
                    st.bind(6, *change.id);
                    RADSYNC_TRY(st.run());
                    ++report.rows_updated;
                    break;
                }
                case reconcile::RowChange::Op::kDelete: {
                    auto& st = deletes.at(row.table);
                    st.bind(1, *change.id);
                    RADSYNC_TRY(st.run());
                    disown->bind(1, table).bind(2, *change.id);
                    RADSYNC_TRY(disown->run());
                    ++report.rows_deleted;
                    break;
                }
            }
            auto reason = writes.reasons.find(row.name);
            audit->bind(1, run_id)
                .bind(2, seconds(now))
                .bind(3, std::string_view(reconcile::to_string(change.op)))
                .bind(4, table)
                .bind(5, row.name)
                .bind(6, row.attribute)
                .bind(7, shown(change.before))
                .bind(8, shown(change.after))
                .bind(9, reason == writes.reasons.end() ? std::string() : reason->second);
            RADSYNC_TRY(audit->run());
        }
        return {};
    }

    Result<ApplyReport> apply_in_transaction(const WriteSet& writes, core::Instant now) {
        auto tx = Transaction::begin(db_);
        if (!tx) {
            return tx.error();
        }
        ApplyReport report;
        auto run = db_.cached(
            "INSERT INTO radsync_runs (mode, source, started_at, result) VALUES (?1, ?2, ?3, "
            "'running')");
        if (!run) {
            return run.error();
        }
        run->bind(1, writes.run_mode).bind(2, writes.source).bind(3, seconds(now));
        RADSYNC_TRY(run->run());
        report.run_id = db_.last_insert_rowid();

        snapshot_rows_written_ = 0;
        if (writes.replace_snapshot) {
            RADSYNC_TRY(replace_snapshot(*writes.replace_snapshot));
        }
        for (const auto& e : writes.entities) {
            RADSYNC_TRY(write_entity(e));
            ++snapshot_rows_written_;
        }
        RADSYNC_TRY(mark_processed(writes.processed_events, now));
        RADSYNC_TRY(write_accounts(writes.accounts, now, report));
        RADSYNC_TRY(write_rows(writes, report.run_id, now, report));
        report.snapshot_rows_written = snapshot_rows_written_;

        auto finish = db_.cached(
            "UPDATE radsync_runs SET finished_at = ?2, result = ?8, rows_inserted = ?3, "
            "rows_updated = ?4, rows_deleted = ?5, accounts_written = ?6, accounts_deleted = ?7, "
            "error = ?9 WHERE id = ?1");
        if (!finish) {
            return finish.error();
        }
        finish->bind(1, report.run_id)
            .bind(2, seconds(now))
            .bind(3, static_cast<std::int64_t>(report.rows_inserted))
            .bind(4, static_cast<std::int64_t>(report.rows_updated))
            .bind(5, static_cast<std::int64_t>(report.rows_deleted))
            .bind(6, static_cast<std::int64_t>(report.accounts_written))
            .bind(7, static_cast<std::int64_t>(report.accounts_deleted))
            .bind(8, writes.result)
            .bind(9, writes.error);
        RADSYNC_TRY(finish->run());
        RADSYNC_TRY(tx->commit());
        return report;
    }

    // Best effort: the failure itself is already returned to the caller.
    void record_failed_run(const WriteSet& writes, core::Instant now, const std::string& error) {
        auto st = db_.cached(
            "INSERT INTO radsync_runs (mode, source, started_at, finished_at, result, error) "
            "VALUES (?1, ?2, ?3, ?3, 'failed', ?4)");
        if (st) {
            st->bind(1, writes.run_mode)
                .bind(2, writes.source)
                .bind(3, seconds(now))
                .bind(4, error);
            (void)st->run();
        }
    }

    Database db_;
    std::shared_ptr<spdlog::logger> log_;
    std::unique_ptr<Checkpointer> checkpointer_;
    std::size_t snapshot_rows_written_ = 0;
};

Result<int> schema_version(Database& db) {
    auto st = db.prepare("PRAGMA user_version");
    if (!st) {
        return st.error();
    }
    auto row = st->step();
    if (!row) {
        return row.error();
    }
    return static_cast<int>(st->integer(0));
}

int binary_version() {
    const auto& all = embedded_migrations();
    return all.empty() ? 0 : all.back().version;
}

Error too_new(const std::string& path, int db_version) {
    return Error(Errc::kStoreSchemaTooNew,
                 "database " + path + " has schema version " + std::to_string(db_version) +
                     ", newer than this radsync knows (" + std::to_string(binary_version()) +
                     "); upgrade radsync or restore a matching backup");
}

Result<SchemaStatus> migrate(Database& db) {
    auto log = log::get("migrations");
    SchemaStatus status{0, binary_version()};
    auto version = schema_version(db);
    if (!version) {
        return version.error();
    }
    status.database_version = *version;
    if (*version > status.binary_version) {
        return too_new(db.path(), *version);
    }
    for (const auto& m : embedded_migrations()) {
        if (m.version <= *version) {
            continue;
        }
        // One transaction per step, user_version included: a failed step leaves the database
        // exactly at the previous version.
        auto tx = Transaction::begin(db);
        if (!tx) {
            return tx.error();
        }
        if (auto s = db.exec(m.sql); !s) {
            return Error(Errc::kStoreFailed,
                         "migration " + m.name + " failed: " + s.error().message);
        }
        RADSYNC_TRY(db.exec("PRAGMA user_version = " + std::to_string(m.version)));
        RADSYNC_TRY(tx->commit());
        log->info("migration applied version={} name={}", m.version, m.name);
    }
    return status;
}

Result<Database> open_for_writing(const std::string& path) {
    const bool created = !std::filesystem::exists(path);
    auto db = Database::open(path, sqlite::OpenMode::kReadWriteCreate);
    if (!db) {
        return db.error();
    }
    // WAL lets FreeRADIUS read while radsync writes, and the setting is persistent in the
    // file, so FreeRADIUS's driver (which sets no journal mode) inherits it (freeradius.md §7).
    RADSYNC_TRY(db->exec("PRAGMA journal_mode = WAL"));
    // FULL: every commit fsyncs the write-ahead log before it returns. With NORMAL a WAL commit
    // reaches the disk only at the next checkpoint, so an OS crash or a disk gone read-only
    // loses webhooks that were already acknowledged. The store worker's group commit keeps the
    // cost to one fsync per batch, not per event.
    RADSYNC_TRY(db->exec("PRAGMA synchronous = FULL"));
    RADSYNC_TRY(db->exec("PRAGMA foreign_keys = ON"));
    if (created) {
        // FreeRADIUS runs as another user in radsync's group and must be able to write the
        // -wal/-shm files, which SQLite creates with the database file's mode: whichever side
        // opens first would otherwise lock the other out (freeradius.md §7).
        std::error_code ec;
        std::filesystem::permissions(
            path,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                std::filesystem::perms::group_read | std::filesystem::perms::group_write,
            ec);
        if (ec) {
            return Error(Errc::kStoreFailed,
                         "cannot set mode 0660 on " + path + ": " + ec.message());
        }
    }
    return db;
}

}  // namespace

Result<std::unique_ptr<RadiusStore>> open_sqlite_store(const std::string& path) {
    auto db = open_for_writing(path);
    if (!db) {
        return db.error();
    }
    if (auto m = migrate(*db); !m) {
        return m.error();
    }
    return std::unique_ptr<RadiusStore>(new SqliteRadiusStore(std::move(*db)));
}

namespace {

// Opens an existing file read-only and reads its schema version (no migration).
Result<std::pair<Database, int>> open_existing_read_only(const std::string& path) {
    if (!std::filesystem::exists(path)) {
        return Error(Errc::kNotFound, "database " + path + " does not exist (run radsync migrate)");
    }
    auto db = Database::open(path, sqlite::OpenMode::kReadOnly);
    if (!db) {
        return db.error();
    }
    auto version = schema_version(*db);
    if (!version) {
        return version.error();
    }
    return std::pair<Database, int>(std::move(*db), *version);
}

}  // namespace

Result<std::unique_ptr<RadiusStore>> open_sqlite_store_read_only(const std::string& path) {
    auto opened = open_existing_read_only(path);
    if (!opened) {
        return opened.error();
    }
    const int version = opened->second;
    if (version > binary_version()) {
        return too_new(path, version);
    }
    if (version < binary_version()) {
        return Error(Errc::kStoreFailed, "database " + path + " is at schema version " +
                                             std::to_string(version) + ", expected " +
                                             std::to_string(binary_version()) +
                                             "; run radsync migrate");
    }
    return std::unique_ptr<RadiusStore>(new SqliteRadiusStore(std::move(opened->first)));
}

Result<std::unique_ptr<RadiusStore>> open_sqlite_store_scratch_copy(const std::string& path) {
    auto scratch = Database::open(":memory:", sqlite::OpenMode::kReadWriteCreate);
    if (!scratch) {
        return scratch.error();
    }
    if (std::filesystem::exists(path)) {
        auto opened = open_existing_read_only(path);
        if (!opened) {
            return opened.error();
        }
        if (opened->second > binary_version()) {
            return too_new(path, opened->second);
        }
        RADSYNC_TRY(opened->first.copy_into(*scratch));
    }
    // An older schema is brought up to date in the copy only; the file stays as it is.
    if (auto m = migrate(*scratch); !m) {
        return m.error();
    }
    return std::unique_ptr<RadiusStore>(new SqliteRadiusStore(std::move(*scratch)));
}

Result<SchemaStatus> read_schema_status(const std::string& path) {
    auto opened = open_existing_read_only(path);
    if (!opened) {
        return opened.error();
    }
    return SchemaStatus{opened->second, binary_version()};
}

Result<SchemaStatus> migrate_sqlite(const std::string& path) {
    auto db = open_for_writing(path);
    if (!db) {
        return db.error();
    }
    return migrate(*db);
}

}  // namespace radsync::store
