#include "sqlite.hpp"

#include <sqlite3.h>

namespace radsync::store::sqlite {

namespace {

constexpr int kBusyTimeoutMs = 10'000;

Error classify(sqlite3* db, int rc, const char* what) {
    const std::string message =
        std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    const int primary = rc & 0xFF;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
        return Error(Errc::kStoreBusy, message);
    }
    return Error(Errc::kStoreFailed, message);
}

}  // namespace

Statement::~Statement() {
    if (stmt_ != nullptr) {
        sqlite3_finalize(stmt_);
    }
}

Statement& Statement::bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
}

Statement& Statement::bind(int index, std::optional<std::int64_t> value) {
    return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
    sqlite3_bind_null(stmt_, index);
    return *this;
}

Result<Step> Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
        return Step::kRow;
    }
    if (rc == SQLITE_DONE) {
        return Step::kDone;
    }
    return classify(sqlite3_db_handle(stmt_), rc, "step");
}

Status Statement::run() {
    for (;;) {
        auto more = step();
        if (!more) {
            reset();
            return more.error();
        }
        if (*more == Step::kDone) {
            reset();
            return {};
        }
    }
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

std::string Statement::text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    const int n = sqlite3_column_bytes(stmt_, column);
    return p == nullptr
               ? std::string()
               : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

std::int64_t Statement::integer(int column) const {
    return sqlite3_column_int64(stmt_, column);
}

bool Statement::is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

bool Statement::is_integer(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_INTEGER;
}

int Statement::column_count() const {
    return sqlite3_column_count(stmt_);
}

std::string Statement::column_name(int column) const {
    const char* name = sqlite3_column_name(stmt_, column);
    return name == nullptr ? std::string() : std::string(name);
}

Result<Database> Database::open(const std::string& path, OpenMode mode) {
    sqlite3* db = nullptr;
    const int flags = (mode == OpenMode::kReadOnly ? SQLITE_OPEN_READONLY
                                                   : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                      SQLITE_OPEN_NOMUTEX |
                      // Never through a symbolic link (the database directory is shared with
                      // FreeRADIUS's group; store/file_owner.hpp).
                      SQLITE_OPEN_NOFOLLOW;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        Error e = classify(db, rc, ("cannot open database " + path).c_str());
        sqlite3_close(db);
        return e;
    }
    sqlite3_busy_timeout(db, kBusyTimeoutMs);
    sqlite3_extended_result_codes(db, 1);
    return Database(db, path);
}

Database::~Database() {
    if (db_ != nullptr) {
        // close_v2 defers the close until every statement is finalized, so destruction order
        // between a Database and its Statements never leaks or crashes.
        sqlite3_close_v2(db_);
    }
}

Result<Statement> Database::prepare(std::string_view sql) {
    sqlite3_stmt* stmt = nullptr;
    const int rc =
        sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) {
        return classify(db_, rc, "prepare");
    }
    return Statement(stmt);
}

Result<CachedStatement> Database::cached(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
        auto st = prepare(sql);
        if (!st) {
            return st.error();
        }
        it = cache_.emplace(sql, std::make_unique<Statement>(std::move(*st))).first;
    }
    it->second->reset();
    return CachedStatement(it->second.get());
}

Status Database::exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string text = message != nullptr ? message : sqlite3_errstr(rc);
        sqlite3_free(message);
        Error e = classify(nullptr, rc, "exec");
        e.message = "exec: " + text;
        return e;
    }
    return {};
}

std::int64_t Database::last_insert_rowid() const {
    return sqlite3_last_insert_rowid(db_);
}

int Database::changes() const {
    return sqlite3_changes(db_);
}

Error Database::last_error(const char* what) const {
    return classify(db_, sqlite3_extended_errcode(db_), what);
}

void Database::on_wal_commit(std::function<void(int frames)> on_commit) {
    if (!on_commit) {
        sqlite3_wal_hook(db_, nullptr, nullptr);
        on_wal_commit_.reset();
        return;
    }
    on_wal_commit_ = std::make_unique<std::function<void(int)>>(std::move(on_commit));
    sqlite3_wal_hook(
        db_,
        [](void* fn, sqlite3*, const char*, int frames) {
            (*static_cast<std::function<void(int)>*>(fn))(frames);
            return SQLITE_OK;
        },
        on_wal_commit_.get());
}

Status Database::checkpoint() {
    const int rc =
        sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        return classify(db_, rc, "checkpoint");
    }
    return {};
}

Status Database::copy_into(Database& target) {
    sqlite3_backup* backup = sqlite3_backup_init(target.db_, "main", db_, "main");
    if (backup == nullptr) {
        return classify(target.db_, sqlite3_errcode(target.db_), "copy database");
    }
    const int step = sqlite3_backup_step(backup, -1);
    const int finish = sqlite3_backup_finish(backup);
    if (step != SQLITE_DONE) {
        return classify(db_, step, "copy database");
    }
    if (finish != SQLITE_OK) {
        return classify(target.db_, finish, "copy database");
    }
    return {};
}

Result<Transaction> Transaction::begin(Database& db) {
    // Prepared once per connection: a webhook burst begins and commits thousands of times.
    auto begin = db.cached("BEGIN IMMEDIATE");
    if (!begin) {
        return begin.error();
    }
    if (auto s = begin->run(); !s) {
        return s.error();
    }
    return Transaction(db);
}

Transaction::~Transaction() {
    if (open_) {
        (void)db_->exec("ROLLBACK");
    }
}

Status Transaction::commit() {
    auto commit = db_->cached("COMMIT");
    if (!commit) {
        return commit.error();
    }
    auto s = commit->run();
    if (s) {
        open_ = false;
    }
    return s;
}

}  // namespace radsync::store::sqlite
