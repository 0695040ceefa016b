// The RADIUS database over SQLite: FreeRADIUS's stock tables and radsync_owned_rows, nothing
// else. The interface is narrow so that a PostgreSQL implementation is an addition.

#include <array>
#include <map>
#include <string>

#include "radsync/log/log.hpp"
#include "sqlite_support.hpp"

namespace radsync::store::detail {

namespace {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

constexpr std::array kRadiusTables = {Table::kRadcheck, Table::kRadreply, Table::kRadgroupcheck,
                                      Table::kRadgroupreply, Table::kRadusergroup};
// Tables keyed by username (the rest are keyed by group name).
constexpr std::array kUserTables = {Table::kRadcheck, Table::kRadreply, Table::kRadusergroup};

// Column holding the user or group name, per table.
const char* name_column(Table t) {
    return (t == Table::kRadgroupcheck || t == Table::kRadgroupreply) ? "groupname" : "username";
}

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

class SqliteRadiusStore final : public RadiusStore {
public:
    explicit SqliteRadiusStore(Database db) : db_(std::move(db)), log_(log::get("store")) {}

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

    Result<ApplyReport> apply_rows(const std::vector<reconcile::RowChange>& changes) override {
        ApplyReport report;
        if (changes.empty()) {
            return report;  // no transaction, no fsync
        }
        auto tx = Transaction::begin(db_);
        if (!tx) {
            return tx.error();
        }
        RADSYNC_TRY(write_rows(changes, report));
        RADSYNC_TRY(tx->commit());
        return report;
    }

    Status checkpoint_in_background() override {
        return Checkpointer::attach_once(db_, checkpointer_);
    }

private:
    Status write_rows(const std::vector<reconcile::RowChange>& changes, ApplyReport& report) {
        auto own = db_.cached("INSERT INTO radsync_owned_rows (tbl, row_id) VALUES (?1, ?2)");
        auto disown = db_.cached("DELETE FROM radsync_owned_rows WHERE tbl = ?1 AND row_id = ?2");
        if (!own || !disown) {
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
        for (const auto& change : changes) {
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
        }
        return {};
    }

    Database db_;
    std::shared_ptr<spdlog::logger> log_;
    std::unique_ptr<Checkpointer> checkpointer_;  // after db_: goes first
};

}  // namespace

std::unique_ptr<RadiusStore> make_radius_store(Database db) {
    return std::make_unique<SqliteRadiusStore>(std::move(db));
}

}  // namespace radsync::store::detail
