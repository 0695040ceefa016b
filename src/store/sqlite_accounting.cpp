// FreeRADIUS's accounting database, as radsync sees it: open sessions to act on, and stale
// ones (a NAS that rebooted without a Stop) to close so Simultaneous-Use does not lock a member
// out for good.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "radsync/store/accounting.hpp"
#include "sqlite_support.hpp"

namespace radsync::store {

namespace {

using sqlite::Database;
using sqlite::Statement;

// FreeRADIUS's stock sqlite queries store epoch seconds; other setups may store date text.
// Either reads as epoch seconds here.
std::string epoch(const std::string& column) {
    return "CASE typeof(" + column + ") WHEN 'integer' THEN " + column + " WHEN 'real' THEN CAST(" +
           column + " AS INTEGER) WHEN 'null' THEN NULL ELSE CAST(strftime('%s', " + column +
           ") AS INTEGER) END";
}

const std::string& session_columns() {
    static const std::string columns =
        "radacctid, acctsessionid, acctuniqueid, username, nasipaddress, "
        "COALESCE(nasportid, ''), calledstationid, callingstationid, framedipaddress, " +
        epoch("acctstarttime") + ", " + epoch("COALESCE(acctupdatetime, acctstarttime)") + ", " +
        epoch("acctstoptime") +
        ", acctterminatecause, COALESCE(acctinputoctets, 0), COALESCE(acctoutputoctets, 0)";
    return columns;
}

Session read_session(const Statement& row) {
    Session s;
    s.id = row.integer(0);
    s.session_id = row.text(1);
    s.unique_id = row.text(2);
    s.username = row.text(3);
    s.nas_ip = row.text(4);
    s.nas_port_id = row.text(5);
    s.called_station_id = row.text(6);
    s.calling_station_id = row.text(7);
    s.framed_ip = row.text(8);
    s.started = detail::instant(row.is_null(9) ? 0 : row.integer(9));
    s.last_heard = row.is_null(10) ? s.started : detail::instant(row.integer(10));
    if (!row.is_null(11)) {
        s.stopped = detail::instant(row.integer(11));
    }
    s.terminate_cause = row.text(12);
    s.input_octets = row.integer(13);
    s.output_octets = row.integer(14);
    return s;
}

Result<std::vector<Session>> collect(Statement& st) {
    std::vector<Session> out;
    RADSYNC_TRY(st.each_row([&](const Statement& row) { out.push_back(read_session(row)); }));
    return out;
}

class SqliteAccountingStore final : public AccountingStore {
public:
    explicit SqliteAccountingStore(Database db) : db_(std::move(db)) {}

    Result<std::vector<Session>> open_sessions(const std::optional<std::string>& username,
                                               std::size_t limit) override {
        auto st = db_.prepare("SELECT " + session_columns() +
                              " FROM radacct WHERE acctstoptime IS NULL"
                              " AND (?1 IS NULL OR username = ?1)"
                              " ORDER BY radacctid LIMIT ?2");
        if (!st) {
            return st.error();
        }
        if (username) {
            st->bind(1, std::string_view(*username));
        } else {
            st->bind_null(1);
        }
        st->bind(2, static_cast<std::int64_t>(limit));
        return collect(*st);
    }

    Result<std::size_t> open_session_count() override {
        auto st = db_.prepare("SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL");
        if (!st) {
            return st.error();
        }
        auto row = st->step();
        if (!row) {
            return row.error();
        }
        return static_cast<std::size_t>(st->integer(0));
    }

    Result<std::vector<Session>> close_stale(core::Instant cutoff, core::Instant now,
                                             std::size_t limit) override {
        // One statement, so FreeRADIUS's writers wait for at most one short write: the rows
        // are read and closed in the same step. An Interim-Update that raced in after the
        // cutoff keeps its session open (the WHERE is evaluated on the row as it is then).
        auto st = db_.prepare(
            "UPDATE radacct SET acctstoptime = ?2, acctterminatecause = ?3, "
            "acctsessiontime = MAX(0, " +
            epoch("COALESCE(acctupdatetime, acctstarttime)") + " - " + epoch("acctstarttime") +
            ") WHERE radacctid IN (SELECT radacctid FROM radacct WHERE acctstoptime IS NULL "
            "AND " +
            epoch("COALESCE(acctupdatetime, acctstarttime)") +
            " < ?1 ORDER BY radacctid LIMIT ?4) RETURNING " + session_columns());
        if (!st) {
            return st.error();
        }
        st->bind(1, detail::seconds(cutoff))
            .bind(2, detail::seconds(now))
            .bind(3, std::string_view(kStaleTerminateCause))
            .bind(4, static_cast<std::int64_t>(limit));
        return collect(*st);
    }

    Result<std::vector<Session>> sessions_since(core::Instant since, std::size_t limit) override {
        // Open sessions first, so a limit never drops the long-running ones; then those stopped
        // since, in either form a stop time may have (epoch seconds, or date text, which sorts
        // after every number and so is compared as text).
        auto open = open_sessions(std::nullopt, limit);
        if (!open) {
            return open.error();
        }
        auto st = db_.prepare("SELECT " + session_columns() +
                              " FROM radacct WHERE (typeof(acctstoptime) IN ('integer', 'real') "
                              "AND acctstoptime >= ?1) OR (typeof(acctstoptime) = 'text' AND "
                              "acctstoptime >= ?2) ORDER BY radacctid DESC LIMIT ?3");
        if (!st) {
            return st.error();
        }
        const std::string since_text = core::format_instant(since).substr(0, 19);  // no "Z"
        std::string as_text = since_text;
        as_text[10] = ' ';  // "YYYY-MM-DD HH:MM:SS", as SQL date text is written
        st->bind(1, detail::seconds(since))
            .bind(2, std::string_view(as_text))
            .bind(3, static_cast<std::int64_t>(limit - std::min(limit, open->size())));
        auto stopped = collect(*st);
        if (!stopped) {
            return stopped.error();
        }
        open->insert(open->end(), std::make_move_iterator(stopped->begin()),
                     std::make_move_iterator(stopped->end()));
        return open;
    }

    Result<std::vector<session::CheckinRecord>> checkins(const std::string& from_day) override {
        auto st = db_.prepare(
            "SELECT member_id, location_id, day, state, starts_at, ends_at, checkin_id, attempts, "
            "error "
            "FROM radsync_checkins WHERE day >= ?1 OR state IN ('pending', 'open') "
            "ORDER BY day, member_id, location_id");
        if (!st) {
            return st.error();
        }
        st->bind(1, std::string_view(from_day));
        std::vector<session::CheckinRecord> out;
        RADSYNC_TRY(st->each_row([&](const Statement& row) {
            session::CheckinRecord r;
            r.member_id = row.text(0);
            r.location_id = row.text(1);
            r.day = row.text(2);
            r.state =
                session::checkin_state_from(row.text(3)).value_or(session::CheckinState::kFailed);
            r.start = detail::instant(row.integer(4));
            if (!row.is_null(5)) {
                r.end = detail::instant(row.integer(5));
            }
            r.checkin_id = row.text(6);
            r.attempts = static_cast<int>(row.integer(7));
            r.error = row.text(8);
            out.push_back(std::move(r));
        }));
        return out;
    }

    Result<bool> checkin_insert(const session::CheckinRecord& r, core::Instant now) override {
        auto st = db_.prepare(
            "INSERT OR IGNORE INTO radsync_checkins (member_id, location_id, day, state, "
            "starts_at, ends_at, checkin_id, attempts, error, updated_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
        if (!st) {
            return st.error();
        }
        RADSYNC_TRY(bind_checkin(*st, r, now).run());
        return db_.changes() > 0;
    }

    Status checkin_update(const session::CheckinRecord& r, core::Instant now) override {
        auto st = db_.prepare(
            "UPDATE radsync_checkins SET state = ?4, starts_at = ?5, ends_at = ?6, checkin_id = "
            "?7, "
            "attempts = ?8, error = ?9, updated_at = ?10 "
            "WHERE member_id = ?1 AND location_id = ?2 AND day = ?3");
        if (!st) {
            return st.error();
        }
        RADSYNC_TRY(bind_checkin(*st, r, now).run());
        if (db_.changes() != 1) {
            return Error(Errc::kStoreFailed, "no check-in record of member " + r.member_id +
                                                 " at " + r.location_id + " on " + r.day);
        }
        return {};
    }

    Result<std::size_t> checkin_prune(const std::string& before_day) override {
        auto st = db_.prepare("DELETE FROM radsync_checkins WHERE day < ?1 AND state <> 'open'");
        if (!st) {
            return st.error();
        }
        st->bind(1, std::string_view(before_day));
        RADSYNC_TRY(st->run());
        return static_cast<std::size_t>(db_.changes());
    }

private:
    static Statement& bind_checkin(Statement& st, const session::CheckinRecord& r,
                                   core::Instant now) {
        st.bind(1, std::string_view(r.member_id))
            .bind(2, std::string_view(r.location_id))
            .bind(3, std::string_view(r.day))
            .bind(4, std::string_view(session::to_string(r.state)))
            .bind(5, detail::seconds(r.start))
            .bind(7, std::string_view(r.checkin_id))
            .bind(8, static_cast<std::int64_t>(r.attempts))
            .bind(9, std::string_view(r.error))
            .bind(10, detail::seconds(now));
        if (r.end) {
            st.bind(6, detail::seconds(*r.end));
        } else {
            st.bind_null(6);
        }
        return st;
    }

    Database db_;
};

}  // namespace

Result<std::unique_ptr<AccountingStore>> open_accounting_store(const std::string& path) {
    auto db = detail::open_for_writing(path, detail::FileAccess::kSharedWithGroup);
    if (!db) {
        return db.error();
    }
    if (auto m = detail::migrate(*db, accounting_migrations()); !m) {
        return m.error();
    }
    return std::unique_ptr<AccountingStore>(
        std::make_unique<SqliteAccountingStore>(std::move(*db)));
}

Result<std::unique_ptr<AccountingStore>> open_accounting_store_read_only(const std::string& path) {
    auto opened = detail::open_existing_read_only(path);
    if (!opened) {
        return opened.error();
    }
    const int newest = detail::newest_version(accounting_migrations());
    if (opened->second > newest) {
        return detail::too_new(path, opened->second, newest);
    }
    return std::unique_ptr<AccountingStore>(
        std::make_unique<SqliteAccountingStore>(std::move(opened->first)));
}

Result<std::pair<int, int>> accounting_schema_status(const std::string& path) {
    const int newest = detail::newest_version(accounting_migrations());
    auto opened = detail::open_existing_read_only(path);
    if (!opened) {
        if (opened.error().code == Errc::kNotFound) {
            return std::pair<int, int>(0, newest);
        }
        return opened.error();
    }
    return std::pair<int, int>(opened->second, newest);
}

}  // namespace radsync::store
