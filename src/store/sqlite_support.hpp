#pragma once

// What both SQLite stores share, private to the store module: opening a file for writing,
// schema versions and migrations, background checkpoints, and the factories of the two store
// implementations (store/sqlite_open.cpp composes them).

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/logger.h>

#include "radsync/core/clock.hpp"
#include "radsync/store/at_rest.hpp"
#include "radsync/store/migrations.hpp"
#include "radsync/store/store.hpp"
#include "sqlite.hpp"

namespace radsync::store::detail {

// `TRY(x)` for Result-returning calls inside functions that return a Result.
#define RADSYNC_TRY(expr)                            \
    do {                                             \
        if (auto radsync_s_ = (expr); !radsync_s_) { \
            return radsync_s_.error();               \
        }                                            \
    } while (false)

inline std::int64_t seconds(core::Instant t) {
    return t.time_since_epoch().count();
}
inline core::Instant instant(std::int64_t s) {
    return core::Instant{std::chrono::seconds{s}};
}
inline std::optional<std::int64_t> seconds(const std::optional<core::Instant>& t) {
    return t ? std::optional<std::int64_t>(seconds(*t)) : std::nullopt;
}

/// Who may open a database file radsync creates.
enum class FileAccess {
    kSharedWithGroup,  ///< 0660: the RADIUS database, which FreeRADIUS (in the group) reads
    kPrivate,          ///< 0600: the state database
};

/// Opens (creating if missing) `path` for writing: WAL, synchronous = FULL (a commit is on
/// disk when it returns), foreign keys; a new file gets `access`'s mode.
[[nodiscard]] Result<sqlite::Database> open_for_writing(const std::string& path, FileAccess access);

/// An existing file, read-only, with its schema version. Errc::kNotFound if it is missing.
[[nodiscard]] Result<std::pair<sqlite::Database, int>> open_existing_read_only(
    const std::string& path);

[[nodiscard]] Result<int> schema_version(sqlite::Database& db);
[[nodiscard]] int newest_version(const std::vector<Migration>& migrations);
[[nodiscard]] Error too_new(const std::string& path, int version, int newest);

/// Applies the migrations newer than the database's version, one transaction each (the
/// version included), stopping after `up_to` when given. Returns the version before.
[[nodiscard]] Result<int> migrate(sqlite::Database& db, const std::vector<Migration>& migrations,
                                  std::optional<int> up_to = std::nullopt);

/// Checkpoints the write-ahead log on its own thread and connection when the writer's commits
/// have grown it past SQLite's default threshold. A passive checkpoint neither blocks the
/// writer nor waits for readers (FreeRADIUS); the log restarts at the writer's next commit once
/// everything in it has been copied.
class Checkpointer {
public:
    static constexpr int kThresholdFrames = 1000;  // SQLite's own wal_autocheckpoint default

    /// Opens its own connection to `writer`'s file and takes over its checkpoints. On error
    /// (the connection cannot be opened) SQLite's own checkpoints stay in place.
    [[nodiscard]] static Result<std::unique_ptr<Checkpointer>> attach(sqlite::Database& writer);
    /// attach() into `slot` unless it already holds one (StateStore::checkpoint_in_background).
    [[nodiscard]] static Status attach_once(sqlite::Database& writer,
                                            std::unique_ptr<Checkpointer>& slot);
    ~Checkpointer();
    Checkpointer(const Checkpointer&) = delete;
    Checkpointer& operator=(const Checkpointer&) = delete;

private:
    Checkpointer(sqlite::Database& writer, sqlite::Database own);
    void committed(int frames);
    void run();

    sqlite::Database& writer_;
    sqlite::Database db_;
    std::shared_ptr<spdlog::logger> log_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool due_ = false;
    bool stopping_ = false;
    std::thread thread_;  // last: started once the members above exist
};

[[nodiscard]] std::unique_ptr<RadiusStore> make_radius_store(sqlite::Database db);
/// `key` may be null only for a store that never writes (read-only, key file unreadable).
[[nodiscard]] std::unique_ptr<StateStore> make_state_store(sqlite::Database db,
                                                           std::shared_ptr<const AtRestKey> key,
                                                           std::set<std::string> secret_properties);

}  // namespace radsync::store::detail
