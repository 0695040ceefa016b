// radsync's private state over SQLite: the entity snapshot, the webhook inbox, accounts, runs
// and the audit log (the state database, mode 0600).

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "radsync/log/log.hpp"
#include "radsync/snapshot/redact.hpp"
#include "radsync/store/at_rest.hpp"
#include "sqlite_outbox.hpp"
#include "sqlite_support.hpp"

namespace radsync::store::detail {

namespace {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

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
const SnapshotTable<snapshot::Resource> kResources{
    "radsync_resources",
    {"type", "location"},
    [](const snapshot::Resource& r) {
        return std::vector<std::string>{r.type, r.location};
    },
    snapshot::parse_resource};
const SnapshotTable<snapshot::ResourceType> kResourceTypes{
    "radsync_resource_types",
    {"type"},
    [](const snapshot::ResourceType& t) { return std::vector<std::string>{t.type}; },
    snapshot::parse_resource_type};
const SnapshotTable<snapshot::Visitor> kVisitors{
    "radsync_visitors",
    {"member"},
    [](const snapshot::Visitor& v) { return std::vector<std::string>{v.member}; },
    snapshot::parse_visitor};

constexpr std::string_view kAccountColumns =
    "SELECT member_id, username, secret, secret_attribute, secret_mac, state, state_since, grp, "
    "locations, expires, reason, kind, address";

// Reads every row of an account query (kAccountColumns) into `out`, then resets `st`.
Status read_accounts(Statement& st, std::map<std::string, AccountRecord>& out) {
    return st.each_row([&](const Statement& row) {
        AccountRecord a;
        a.member_id = row.text(0);
        a.username = row.text(1);
        a.secret = row.text(2);
        a.secret_attribute = row.text(3);
        a.secret_mac = row.text(4);
        a.state = row.text(5) == "revoked" ? AccountState::kRevoked : AccountState::kActive;
        a.state_since = instant(row.integer(6));
        a.group = row.text(7);
        a.locations = row.text(8);
        if (!row.is_null(9)) {
            a.expires = instant(row.integer(9));
        }
        a.reason = row.text(10);
        a.kind = account_kind(row.text(11));
        a.address = row.text(12);
        auto id = a.member_id;
        out.insert_or_assign(std::move(id), std::move(a));
    });
}

}  // namespace

namespace {

class SqliteStateStore final : public StateStore {
public:
    SqliteStateStore(Database db, std::shared_ptr<const AtRestKey> key,
                     std::set<std::string> secret_properties)
        : db_(std::move(db)),
          key_(std::move(key)),
          secret_properties_(std::move(secret_properties)),
          log_(log::get("store")) {}

    std::string keyed_hash(std::string_view value) const override {
        return key_ ? key_->keyed_hash(value) : std::string();
    }

    void set_secret_properties(std::set<std::string> names) override {
        secret_properties_ = std::move(names);
    }

    Result<snapshot::Snapshot> load_snapshot() override {
        snapshot::Snapshot s;
        RADSYNC_TRY(load_table(kMembers, s.members));
        RADSYNC_TRY(load_table(kCompanies, s.companies));
        RADSYNC_TRY(load_table(kMemberships, s.memberships));
        RADSYNC_TRY(load_table(kPlans, s.plans));
        RADSYNC_TRY(load_table(kLocations, s.locations));
        RADSYNC_TRY(load_table(kPasses, s.passes));
        RADSYNC_TRY(load_table(kBookings, s.bookings));
        RADSYNC_TRY(load_table(kResources, s.resources));
        RADSYNC_TRY(load_table(kResourceTypes, s.resource_types));
        RADSYNC_TRY(load_table(kVisitors, s.visitors));
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

    Result<ApplyReport> apply(const WriteSet& writes, const ApplyReport& rows,
                              core::Instant now) override {
        auto report = apply_in_transaction(writes, rows, now);
        if (!report) {
            log_->error("apply failed mode={} error={}", writes.run_mode, report.error().message);
            record_failed_run(writes, now, report.error().message);
        }
        return report;
    }

    Result<PreviousRun> mark_running() override {
        auto read = db_.cached("SELECT value FROM radsync_meta WHERE key = 'daemon'");
        if (!read) {
            return read.error();
        }
        PreviousRun previous = PreviousRun::kNone;
        RADSYNC_TRY(read->each_row([&](const Statement& row) {
            previous = row.text(0) == "stopped" ? PreviousRun::kStopped : PreviousRun::kDidNotStop;
        }));
        RADSYNC_TRY(set_daemon_state("running"));
        return previous;
    }

    Status mark_stopped() override { return set_daemon_state("stopped"); }

    Result<std::optional<Transition>> next_transition() override {
        auto st = db_.cached("SELECT subject, at, what FROM radsync_schedule ORDER BY at LIMIT 1");
        if (!st) {
            return st.error();
        }
        std::optional<Transition> out;
        RADSYNC_TRY(st->each_row([&](const Statement& row) {
            out = Transition{row.text(0), instant(row.integer(1)), row.text(2)};
        }));
        return out;
    }

    Result<std::vector<Transition>> due_transitions(core::Instant now, std::size_t limit) override {
        auto st = db_.cached(
            "SELECT subject, at, what FROM radsync_schedule WHERE at <= ?1 ORDER BY at LIMIT ?2");
        if (!st) {
            return st.error();
        }
        st->bind(1, seconds(now)).bind(2, static_cast<std::int64_t>(limit));
        std::vector<Transition> out;
        RADSYNC_TRY(st->each_row([&](const Statement& row) {
            out.push_back({row.text(0), instant(row.integer(1)), row.text(2)});
        }));
        return out;
    }

    Result<std::map<std::string, std::string>> addresses_in_use() override {
        auto st = db_.cached("SELECT address, member_id FROM radsync_accounts WHERE address <> ''");
        if (!st) {
            return st.error();
        }
        std::map<std::string, std::string> out;
        RADSYNC_TRY(
            st->each_row([&](const Statement& row) { out.emplace(row.text(0), row.text(1)); }));
        return out;
    }

    Result<std::optional<core::Instant>> evaluated_through() override {
        auto st = db_.cached("SELECT value FROM radsync_meta WHERE key = 'evaluated_through'");
        if (!st) {
            return st.error();
        }
        std::optional<core::Instant> out;
        RADSYNC_TRY(st->each_row([&](const Statement& row) {
            const std::string text = row.text(0);
            std::int64_t value = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (ec == std::errc() && end == text.data() + text.size()) {
                out = instant(value);
            }
        }));
        return out;
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
        RADSYNC_TRY(load_tombstones_of(kResources, snapshot::Kind::kResource, out));
        RADSYNC_TRY(load_tombstones_of(kResourceTypes, snapshot::Kind::kResourceType, out));
        RADSYNC_TRY(load_tombstones_of(kVisitors, snapshot::Kind::kVisitor, out));
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
            auto body = key_ ? key_->seal(e.body) : Result<std::string>(e.body);
            if (!body) {
                return body.error();  // nothing of the batch is committed, nothing acknowledged
            }
            st->bind(1, e.event_id)
                .bind(2, e.event_type)
                .bind(3, e.t)
                .bind(4, seconds(e.received_at))
                .bind(5, *body);
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
            out.push_back({row.text(0), row.text(1), row.text(2), instant(row.integer(3)),
                           opened_body(row.text(0), row.text(4))});
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
        return Checkpointer::attach_once(db_, checkpointer_);
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

    Result<std::vector<OutboxMessage>> outbox_claim(core::Instant now, std::size_t limit) override {
        return outbox_.claim(now, limit);
    }
    Status outbox_settle(const std::vector<OutboxSettlement>& settled, core::Instant now) override {
        return outbox_.settle(settled, now);
    }
    Result<std::size_t> outbox_recover(core::Instant now) override { return outbox_.recover(now); }
    Result<std::optional<core::Instant>> outbox_next_due() override { return outbox_.next_due(); }
    Result<std::vector<OutboxMessage>> outbox_list(std::optional<OutboxStatus> status,
                                                   const std::optional<std::string>& subject,
                                                   std::size_t limit) override {
        return outbox_.list(status, subject, limit);
    }
    Result<std::size_t> outbox_requeue(std::optional<std::int64_t> id, core::Instant now) override {
        return outbox_.requeue(id, now);
    }
    Result<std::map<std::string, std::size_t>> outbox_counts() override { return outbox_.counts(); }
    Result<std::size_t> outbox_prune(core::Instant cutoff) override {
        return outbox_.prune(cutoff);
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

    // Best effort: the failure itself is already returned to the caller.
    void record_failed_run(const WriteSet& writes, core::Instant now,
                           const std::string& error) override {
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

private:
    Status set_daemon_state(const char* state) {
        auto st = db_.cached(
            "INSERT INTO radsync_meta (key, value) VALUES ('daemon', ?1) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        if (!st) {
            return st.error();
        }
        st->bind(1, std::string(state));
        return st->run();
    }

    // A member's JSON as stored: secret properties replaced by their keyed hashes.
    Result<std::string> stored_member(const std::string& raw,
                                      const snapshot::Properties* properties) const {
        if (properties != nullptr &&
            !snapshot::has_cleartext_secret(*properties, secret_properties_)) {
            return raw;
        }
        return snapshot::redact_member(raw, secret_properties_,
                                       [this](std::string_view v) { return keyed_hash(v); });
    }

    // A pending event's body, unsealed. One that does not authenticate (the key file was
    // replaced) cannot be applied; it is handed on empty, so it is recorded as malformed with
    // its event id instead of blocking everything behind it.
    std::string opened_body(const std::string& event_id, const std::string& stored) const {
        if (!key_) {
            return stored;
        }
        auto body = key_->open(stored);
        if (!body) {
            log_->error("inbox body cannot be opened event_id={} error={}", event_id,
                        body.error().message);
            return {};
        }
        return std::move(*body);
    }

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
        if constexpr (std::is_same_v<Entity, snapshot::Member>) {
            auto stored = stored_member(w.version.raw, &entity->properties);
            if (!stored) {
                return stored.error();
            }
            st->bind(++i, *stored);
        } else {
            st->bind(++i, w.version.raw);
        }
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
            case snapshot::Kind::kResource:
                return write_entity_to(kResources, w);
            case snapshot::Kind::kResourceType:
                return write_entity_to(kResourceTypes, w);
            case snapshot::Kind::kVisitor:
                return write_entity_to(kVisitors, w);
        }
        return {};
    }

    // A processed event's body is dropped: it served its purpose, and it holds members'
    // personal data (a redelivery is still recognised by its event id). Parked events keep
    // theirs, sealed, for a requeue.
    Status mark_processed(const std::vector<ProcessedEvent>& events, core::Instant now) {
        auto st = db_.cached(
            "UPDATE radsync_inbox SET processed_at = ?2, result = ?3, body = '' "
            "WHERE event_id = ?1");
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
        constexpr bool kMembersTable = std::is_same_v<Entity, snapshot::Member>;
        struct Held {
            std::string raw;         // "" for a tombstone
            std::string source_mac;  // members: keyed hash of the object as received
        };
        std::map<std::string, Held> held;
        {
            auto st = db_.cached(std::string("SELECT id, raw, removed") +
                                 (kMembersTable ? ", source_mac" : "") + " FROM " + spec.table);
            if (!st) {
                return st.error();
            }
            RADSYNC_TRY(st->each_row([&](const Statement& row) {
                held.emplace(row.text(0), Held{row.integer(2) != 0 ? std::string() : row.text(1),
                                               kMembersTable ? row.text(3) : std::string()});
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
        if constexpr (kMembersTable) {
            columns += ", source_mac";
            params += ", ?" + std::to_string(n + 3);
        }
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
            std::string redacted;
            std::string mac;
            auto it = held.find(e.id);
            if constexpr (kMembersTable) {
                if (snapshot::has_cleartext_secret(e.properties, secret_properties_)) {
                    // A poll brings every member again: a keyed hash of the object as received
                    // tells an unchanged one without parsing it to redact it again.
                    mac = keyed_hash(e.raw);
                    if (it != held.end() && !mac.empty() && it->second.source_mac == mac) {
                        held.erase(it);
                        continue;
                    }
                    auto stored = stored_member(e.raw, &e.properties);
                    if (!stored) {
                        return stored.error();
                    }
                    redacted = std::move(*stored);
                }
            }
            const std::string& raw = redacted.empty() ? e.raw : redacted;
            if (it != held.end()) {
                const bool same = it->second.raw == raw && it->second.source_mac == mac;
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
            upsert->bind(++i, raw);
            if constexpr (kMembersTable) {
                upsert->bind(++i, mac);
            }
            RADSYNC_TRY(upsert->run());
            ++written;
        }
        for (const auto& entry : held) {
            remove->bind(1, entry.first);
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
        RADSYNC_TRY(add(replace_table(kResources, s.resources)));
        RADSYNC_TRY(add(replace_table(kResourceTypes, s.resource_types)));
        RADSYNC_TRY(add(replace_table(kVisitors, s.visitors)));
        snapshot_rows_written_ = written;
        return {};
    }

    Status write_accounts(const std::vector<AccountChange>& changes, core::Instant now,
                          ApplyReport& report) {
        auto del = db_.cached("DELETE FROM radsync_accounts WHERE member_id = ?1");
        auto up = db_.cached(
            "INSERT INTO radsync_accounts (member_id, username, secret, secret_attribute, "
            "secret_mac, state, state_since, grp, locations, expires, reason, updated_at, kind, "
            "address) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14) "
            "ON CONFLICT(member_id) DO UPDATE SET username=?2, secret=?3, secret_attribute=?4, "
            "secret_mac=?5, state=?6, state_since=?7, grp=?8, locations=?9, expires=?10, "
            "reason=?11, updated_at=?12, kind=?13, address=?14");
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
                .bind(3, a.secret)
                .bind(4, a.secret_attribute)
                .bind(5, a.secret_mac)
                .bind(6, std::string_view(to_string(a.state)))
                .bind(7, seconds(a.state_since))
                .bind(8, a.group)
                .bind(9, a.locations)
                .bind(10, seconds(a.expires))
                .bind(11, a.reason)
                .bind(12, seconds(now))
                .bind(13, std::string_view(to_string(a.kind)))
                .bind(14, a.address);
            RADSYNC_TRY(up->run());
            ++report.accounts_written;
        }
        return {};
    }

    // An audit entry per row change (the RADIUS store applied them), password values masked.
    Status write_audit(const WriteSet& writes, std::int64_t run_id, core::Instant now) {
        auto audit = db_.cached(
            "INSERT INTO radsync_audit (run_id, at, op, tbl, name, attribute, old_value, "
            "new_value, reason) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)");
        if (!audit) {
            return audit.error();
        }
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
            auto reason = writes.reasons.find(row.name);
            audit->bind(1, run_id)
                .bind(2, seconds(now))
                .bind(3, std::string_view(reconcile::to_string(change.op)))
                .bind(4, std::string_view(to_string(row.table)))
                .bind(5, row.name)
                .bind(6, row.attribute)
                .bind(7, shown(change.before))
                .bind(8, shown(change.after))
                .bind(9, reason == writes.reasons.end() ? std::string() : reason->second);
            RADSYNC_TRY(audit->run());
        }
        return {};
    }

    Result<ApplyReport> apply_in_transaction(const WriteSet& writes, const ApplyReport& rows,
                                             core::Instant now) {
        auto tx = Transaction::begin(db_);
        if (!tx) {
            return tx.error();
        }
        ApplyReport report;
        report.rows_inserted = rows.rows_inserted;
        report.rows_updated = rows.rows_updated;
        report.rows_deleted = rows.rows_deleted;
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
        RADSYNC_TRY(write_audit(writes, report.run_id, now));
        RADSYNC_TRY(write_schedule(writes));
        RADSYNC_TRY(outbox_.queue(writes.outbox, writes.outbox_cancel, now));
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

    // Brings the schedule rows of the run's subjects (every row, for a full run) to
    // writes.schedule, touching only rows that differ: a poll that changes nothing rewrites
    // nothing, and a webhook run touches its few members' rows.
    Status write_schedule(const WriteSet& writes) {
        std::map<std::string, const Transition*> wanted;
        for (const auto& t : writes.schedule) {
            wanted[t.subject] = &t;
        }
        std::map<std::string, Transition> held;
        if (writes.schedule_replace_all) {
            auto all = db_.cached("SELECT subject, at, what FROM radsync_schedule");
            if (!all) {
                return all.error();
            }
            RADSYNC_TRY(all->each_row([&](const Statement& row) {
                held.emplace(row.text(0),
                             Transition{row.text(0), instant(row.integer(1)), row.text(2)});
            }));
        }
        auto del = db_.cached("DELETE FROM radsync_schedule WHERE subject = ?1");
        auto ins = db_.cached(
            "INSERT INTO radsync_schedule (subject, at, what) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (subject) DO UPDATE SET at = excluded.at, what = excluded.what");
        if (!del) {
            return del.error();
        }
        if (!ins) {
            return ins.error();
        }
        const auto remove = [&](const std::string& subject) -> Status {
            del->bind(1, subject);
            return del->run();
        };
        if (writes.schedule_replace_all) {
            for (const auto& [subject, t] : held) {
                if (wanted.count(subject) == 0) {
                    RADSYNC_TRY(remove(subject));
                }
            }
        } else {
            for (const auto& subject : writes.schedule_subjects) {
                if (wanted.count(subject) == 0) {
                    RADSYNC_TRY(remove(subject));
                }
            }
        }
        for (const auto& [subject, t] : wanted) {
            if (const auto it = held.find(subject); it != held.end() && it->second == *t) {
                continue;
            }
            ins->bind(1, t->subject).bind(2, seconds(t->at)).bind(3, t->what);
            RADSYNC_TRY(ins->run());
        }
        if (writes.evaluated_at) {
            // Kept as text like every meta value; only ever moves forward.
            auto meta = db_.cached(
                "INSERT INTO radsync_meta (key, value) VALUES ('evaluated_through', ?1) "
                "ON CONFLICT (key) DO UPDATE SET value = CAST(max(CAST(value AS INTEGER), "
                "CAST(excluded.value AS INTEGER)) AS TEXT)");
            if (!meta) {
                return meta.error();
            }
            meta->bind(1, std::to_string(seconds(*writes.evaluated_at)));
            RADSYNC_TRY(meta->run());
        }
        return {};
    }

    Database db_;
    std::shared_ptr<const AtRestKey> key_;  // null only when opened read-only without it
    OutboxTable outbox_{db_, key_.get()};
    std::set<std::string> secret_properties_;
    std::shared_ptr<spdlog::logger> log_;
    std::unique_ptr<Checkpointer> checkpointer_;  // after db_: goes first
    std::size_t snapshot_rows_written_ = 0;
};

}  // namespace

std::unique_ptr<StateStore> make_state_store(Database db, std::shared_ptr<const AtRestKey> key,
                                             std::set<std::string> secret_properties) {
    return std::make_unique<SqliteStateStore>(std::move(db), std::move(key),
                                              std::move(secret_properties));
}

}  // namespace radsync::store::detail
