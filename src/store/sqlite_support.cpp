#include "sqlite_support.hpp"

#include <filesystem>

#include "file_owner.hpp"
#include "radsync/log/log.hpp"

namespace radsync::store::detail {

using sqlite::Database;
using sqlite::Transaction;

Result<Database> open_for_writing(const std::string& path, FileAccess access) {
    // A symbolic link is never followed: the directory is group-writable (FreeRADIUS's user
    // is in the group), and a link planted there would make radsync, perhaps run by root,
    // create, chmod and chown a file elsewhere.
    std::error_code link_ec;
    const auto link = std::filesystem::symlink_status(path, link_ec);
    if (std::filesystem::is_symlink(link)) {
        return Error(Errc::kStoreFailed, path + " is a symbolic link; refusing to open it");
    }
    const bool created = !std::filesystem::exists(link);
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
    // cost to one fsync per batch, not per event. Both databases: relaxing either (the RADIUS
    // rows are derived; the record of applied webhooks can be redone) was measured and made
    // the acknowledgements wait longer, behind the checkpoints or the larger next fsync.
    RADSYNC_TRY(db->exec("PRAGMA synchronous = FULL"));
    RADSYNC_TRY(db->exec("PRAGMA foreign_keys = ON"));
    if (created) {
        namespace fs = std::filesystem;
        // The RADIUS database: FreeRADIUS runs as another user in radsync's group and must be
        // able to write the -wal/-shm files, which SQLite creates with the database file's
        // mode: whichever side opens first would otherwise lock the other out
        // (freeradius.md §7). The state database is radsync's alone.
        auto perms = fs::perms::owner_read | fs::perms::owner_write;
        if (access == FileAccess::kSharedWithGroup) {
            perms |= fs::perms::group_read | fs::perms::group_write;
        }
        std::error_code ec;
        fs::permissions(path, perms, ec);
        if (ec) {
            return Error(Errc::kStoreFailed,
                         "cannot set the mode of " + path + ": " + ec.message());
        }
        // Created by root (a command before the service ever ran): the service's user must
        // own it, and the WAL files SQLite made meanwhile, which took root's ownership.
        for (const char* suffix : {"", "-wal", "-shm"}) {
            if (const auto file = path + suffix; suffix[0] == '\0' || fs::exists(file)) {
                RADSYNC_TRY(give_to_directory_owner(file));
            }
        }
    }
    return db;
}

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

int newest_version(const std::vector<Migration>& migrations) {
    return migrations.empty() ? 0 : migrations.back().version;
}

Error too_new(const std::string& path, int version, int newest) {
    return Error(Errc::kStoreSchemaTooNew,
                 "database " + path + " has schema version " + std::to_string(version) +
                     ", newer than this radsync knows (" + std::to_string(newest) +
                     "); upgrade radsync or restore a matching backup");
}

Result<int> migrate(Database& db, const std::vector<Migration>& migrations,
                    std::optional<int> up_to) {
    auto log = log::get("migrations");
    auto version = schema_version(db);
    if (!version) {
        return version.error();
    }
    if (*version > newest_version(migrations)) {
        return too_new(db.path(), *version, newest_version(migrations));
    }
    for (const auto& m : migrations) {
        if (m.version <= *version || (up_to && m.version > *up_to)) {
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
        log->info("migration applied database={} version={} name={}", db.path(), m.version, m.name);
    }
    return *version;
}

// ---------------------------------------------------------------------------------------------

Status Checkpointer::attach_once(Database& writer, std::unique_ptr<Checkpointer>& slot) {
    if (slot) {
        return {};
    }
    auto c = attach(writer);
    if (!c) {
        return c.error();
    }
    slot = std::move(*c);
    return {};
}

Result<std::unique_ptr<Checkpointer>> Checkpointer::attach(Database& writer) {
    // Opened here, so that a failure leaves SQLite's own checkpoints in place instead of a log
    // that nobody checkpoints.
    auto db = Database::open(writer.path(), sqlite::OpenMode::kReadWriteCreate);
    if (!db) {
        return db.error();
    }
    // A new connection learns that the file is in WAL mode only when it first reads it; until
    // then a checkpoint is a silent no-op.
    RADSYNC_TRY(db->exec("PRAGMA journal_mode"));
    RADSYNC_TRY(db->exec("PRAGMA synchronous = FULL"));
    return std::unique_ptr<Checkpointer>(new Checkpointer(writer, std::move(*db)));
}

Checkpointer::Checkpointer(Database& writer, Database own)
    : writer_(writer), db_(std::move(own)), log_(log::get("store")), thread_([this] { run(); }) {
    writer_.on_wal_commit([this](int frames) { committed(frames); });
}

Checkpointer::~Checkpointer() {
    writer_.on_wal_commit(nullptr);  // the hook points here
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
}

void Checkpointer::committed(int frames) {
    if (frames < kThresholdFrames) {
        return;
    }
    {
        std::lock_guard lock(mu_);
        due_ = true;
    }
    cv_.notify_one();
}

void Checkpointer::run() {
    std::unique_lock lock(mu_);
    for (;;) {
        cv_.wait(lock, [&] { return stopping_ || due_; });
        if (stopping_) {
            return;
        }
        due_ = false;
        lock.unlock();
        if (auto s = db_.checkpoint(); !s) {
            log_->warn("checkpoint failed database={} error={}", db_.path(), s.error().message);
        }
        lock.lock();
    }
}

}  // namespace radsync::store::detail
