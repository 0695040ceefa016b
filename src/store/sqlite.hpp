#pragma once

// Thin RAII over the SQLite C API, private to the store module. Every statement is prepared
// and bound; no SQL is ever built from data.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
    Statement(Database& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
    ~Statement();
    Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
        other.stmt_ = nullptr;
    }
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
    void reset();

    [[nodiscard]] std::string text(int column) const;
    [[nodiscard]] std::int64_t integer(int column) const;
    [[nodiscard]] bool is_null(int column) const;

private:
    Database* db_;
    sqlite3_stmt* stmt_;
};

enum class OpenMode { kReadWriteCreate, kReadOnly };

/// One connection. Not thread-safe; owned by one thread.
class Database {
public:
    /// Opens the file with a 10 s busy timeout (the writer waits for FreeRADIUS's brief read
    /// locks rather than failing; freeradius.md §7 saw 0 errors with that).
    [[nodiscard]] static Result<Database> open(const std::string& path, OpenMode mode);
    ~Database();
    Database(Database&& other) noexcept : db_(other.db_), path_(std::move(other.path_)) {
        other.db_ = nullptr;
    }
    Database& operator=(Database&&) = delete;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    [[nodiscard]] Result<Statement> prepare(std::string_view sql);
    /// Runs one or more statements without parameters (migrations, pragmas).
    [[nodiscard]] Status exec(const std::string& sql);
    [[nodiscard]] std::int64_t last_insert_rowid() const;
    [[nodiscard]] int changes() const;
    [[nodiscard]] const std::string& path() const { return path_; }

    /// Error value from the connection's last failure, classified (busy vs. failed).
    [[nodiscard]] Error last_error(const char* what) const;

private:
    Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    sqlite3* db_;
    std::string path_;
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
