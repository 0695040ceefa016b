#pragma once

// Thin RAII over the SQLite C API, private to the store module. Every statement is prepared
// and bound; no SQL is ever built from data.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "radsync/core/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace radsync::store::sqlite {

class Database;

/// Outcome of one sqlite3_step. Not bool, for the same reason as everywhere in radsync:
/// boost::system::result<bool> copies convert through `explicit operator bool`.
enum class Step { kDone, kRow };

/// A prepared statement; reset and re-bound for each use.
class Statement {
public:
    explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
    ~Statement();
    Statement(Statement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
    Statement& operator=(Statement&&) = delete;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, std::optional<std::int64_t> value);
    Statement& bind_null(int index);

    /// Advances; kRow while a row is available. Errors become Errc::kStoreBusy/kStoreFailed.
    [[nodiscard]] Result<Step> step();
    /// Runs to completion (for statements that return no rows).
    [[nodiscard]] Status run();
    /// Steps through every row, calling fn(*this) for each, then resets; stops at the first
    /// error.
    template <class Fn>
    [[nodiscard]] Status each_row(Fn&& fn) {
        for (;;) {
            auto row = step();
            if (!row) {
                reset();
                return row.error();
            }
            if (*row == Step::kDone) {
                reset();
                return {};
            }
            fn(static_cast<const Statement&>(*this));
        }
    }
    void reset();

    [[nodiscard]] std::string text(int column) const;
    [[nodiscard]] std::int64_t integer(int column) const;
    [[nodiscard]] bool is_null(int column) const;
    [[nodiscard]] bool is_integer(int column) const;
    [[nodiscard]] int column_count() const;
    [[nodiscard]] std::string column_name(int column) const;

private:
    sqlite3_stmt* stmt_;
};

/// A statement borrowed from a Database's cache; reset (bindings cleared, read locks released)
/// when the handle goes away, however the caller leaves.
class CachedStatement {
public:
    explicit CachedStatement(Statement* st) : st_(st) {}
    ~CachedStatement() {
        if (st_ != nullptr) {
            st_->reset();
        }
    }
    CachedStatement(CachedStatement&& other) noexcept : st_(other.st_) { other.st_ = nullptr; }
    CachedStatement& operator=(CachedStatement&&) = delete;
    CachedStatement(const CachedStatement&) = delete;
    CachedStatement& operator=(const CachedStatement&) = delete;

    // The Statement API, forwarded, so call sites read the same for cached and one-off
    // statements.
    CachedStatement& bind(int index, std::string_view text) {
        st_->bind(index, text);
        return *this;
    }
    CachedStatement& bind(int index, std::int64_t value) {
        st_->bind(index, value);
        return *this;
    }
    CachedStatement& bind(int index, std::optional<std::int64_t> value) {
        st_->bind(index, value);
        return *this;
    }
    CachedStatement& bind_null(int index) {
        st_->bind_null(index);
        return *this;
    }
    [[nodiscard]] Result<Step> step() { return st_->step(); }
    [[nodiscard]] Status run() { return st_->run(); }
    template <class Fn>
    [[nodiscard]] Status each_row(Fn&& fn) {
        return st_->each_row(std::forward<Fn>(fn));
    }
    void reset() { st_->reset(); }
    [[nodiscard]] std::string text(int column) const { return st_->text(column); }
    [[nodiscard]] std::int64_t integer(int column) const { return st_->integer(column); }
    [[nodiscard]] bool is_null(int column) const { return st_->is_null(column); }
    [[nodiscard]] Statement& statement() const { return *st_; }

private:
    Statement* st_;
};

enum class OpenMode { kReadWriteCreate, kReadOnly };

/// One connection. Not thread-safe; owned by one thread.
class Database {
public:
    /// Opens the file with a 10 s busy timeout (the writer waits for FreeRADIUS's brief read
    /// locks rather than failing; freeradius.md §7 saw 0 errors with that).
    [[nodiscard]] static Result<Database> open(const std::string& path, OpenMode mode);
    ~Database();
    Database(Database&& other) noexcept
        : db_(other.db_),
          path_(std::move(other.path_)),
          on_wal_commit_(std::move(other.on_wal_commit_)),
          cache_(std::move(other.cache_)) {
        other.db_ = nullptr;
    }
    Database& operator=(Database&&) = delete;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    [[nodiscard]] Result<Statement> prepare(std::string_view sql);
    /// Prepares `sql` once per connection and hands out the same statement afterwards: hot
    /// paths (webhook batches) run the same few statements thousands of times. The statement
    /// must not be in use elsewhere when borrowed again (single-threaded owner).
    [[nodiscard]] Result<CachedStatement> cached(const std::string& sql);
    /// Runs one or more statements without parameters (migrations, pragmas).
    [[nodiscard]] Status exec(const std::string& sql);
    [[nodiscard]] std::int64_t last_insert_rowid() const;
    [[nodiscard]] int changes() const;
    [[nodiscard]] const std::string& path() const { return path_; }

    /// Error value from the connection's last failure, classified (busy vs. failed).
    [[nodiscard]] Error last_error(const char* what) const;

    /// Replaces SQLite's automatic checkpoint on this connection (which runs inside whichever
    /// commit crosses the threshold, fsync included) with `on_commit`, called after every
    /// commit with the number of frames in the write-ahead log. An empty function removes it
    /// (and checkpoints are then nobody's: only for tear-down).
    void on_wal_commit(std::function<void(int frames)> on_commit);
    /// A passive checkpoint: copies what no reader still needs back into the database file,
    /// without waiting for readers or blocking the writer.
    [[nodiscard]] Status checkpoint();
    /// Copies this whole database into `target` (SQLite's online backup), replacing what
    /// `target` held. Reads only: a consistent snapshot even while another process writes.
    [[nodiscard]] Status copy_into(Database& target);

private:
    Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    sqlite3* db_;
    std::string path_;
    // On the heap: SQLite's WAL hook keeps its address, and a Database can be moved.
    std::unique_ptr<std::function<void(int)>> on_wal_commit_;
    // Finalized before the connection closes (members are destroyed before ~Database's body
    // would matter: close_v2 defers the close until every statement is finalized anyway).
    std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

/// BEGIN IMMEDIATE now (take the write lock up front, so the transaction never fails half way
/// on a lock upgrade); rolls back on destruction unless commit() succeeded.
class Transaction {
public:
    [[nodiscard]] static Result<Transaction> begin(Database& db);
    ~Transaction();
    Transaction(Transaction&& other) noexcept : db_(other.db_), open_(other.open_) {
        other.open_ = false;
    }
    Transaction& operator=(Transaction&&) = delete;
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    [[nodiscard]] Status commit();

private:
    explicit Transaction(Database& db) : db_(&db), open_(true) {}
    Database* db_;
    bool open_;
};

}  // namespace radsync::store::sqlite
