// Opening both databases, and the one-time split of an earlier release's single file.
//
// Releases before the state database kept radsync's tables (accounts with generated passwords
// in clear, members' properties, webhook bodies) in the file FreeRADIUS reads. The split copies
// them into a new state database built under a temporary name, renames it into place only once
// it is complete, then drops them from the RADIUS file (migration radius/0005) and vacuums it.
// Every step can be interrupted: a leftover temporary file is rebuilt, a state database in place
// means the copy is done, and the vacuum is remembered in the state database until it ran.

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "radsync/log/log.hpp"
#include "radsync/mapping/credentials.hpp"
#include "radsync/snapshot/redact.hpp"
#include "sqlite_support.hpp"

namespace radsync::store {

namespace {

using detail::FileAccess;
using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

// The last RADIUS schema version of the one-file layout, and the step that ends it.
constexpr int kLastOneFileVersion = 4;

// radsync's tables of the one-file layout copied as they are (accounts are converted).
constexpr std::array<const char*, 10> kCopiedTables = {
    "radsync_members",   "radsync_companies", "radsync_memberships", "radsync_plans",
    "radsync_locations", "radsync_passes",    "radsync_bookings",    "radsync_runs",
    "radsync_audit",     "radsync_inbox"};

Status fsync_path(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return Error(Errc::kStoreFailed, "cannot open " + path + " to sync it");
    }
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) {
        return Error(Errc::kStoreFailed, "cannot sync " + path);
    }
    return {};
}

Result<bool> has_table(Database& db, const char* table) {
    auto st = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
    if (!st) {
        return st.error();
    }
    st->bind(1, std::string_view(table));
    auto row = st->step();
    if (!row) {
        return row.error();
    }
    return *row == sqlite::Step::kRow;
}

// Copies every row of `table` from `from` into the same table of `to`, column by column.
Status copy_table(Database& from, Database& to, const char* table) {
    auto select = from.prepare(std::string("SELECT * FROM ") + table);
    if (!select) {
        return select.error();
    }
    std::optional<Statement> insert;
    Status failed;
    RADSYNC_TRY(select->each_row([&](const Statement& row) {
        if (!failed) {
            return;
        }
        if (!insert) {
            std::string columns;
            std::string params;
            for (int i = 0; i < row.column_count(); ++i) {
                columns += (i ? ", " : "") + row.column_name(i);
                params += (i ? ", ?" : "?") + std::to_string(i + 1);
            }
            auto st = to.prepare(std::string("INSERT INTO ") + table + " (" + columns +
                                 ") VALUES (" + params + ")");
            if (!st) {
                failed = st.error();
                return;
            }
            insert.emplace(std::move(*st));
        }
        for (int i = 0; i < row.column_count(); ++i) {
            if (row.is_null(i)) {
                insert->bind_null(i + 1);
            } else if (row.is_integer(i)) {
                insert->bind(i + 1, row.integer(i));
            } else {
                insert->bind(i + 1, row.text(i));
            }
        }
        if (auto s = insert->run(); !s) {
            failed = s.error();
        }
    }));
    return failed;
}

// Accounts of the one-file layout carried the generated password in clear. The state keeps
// what the RADIUS password row holds: the row FreeRADIUS has now for an active account, else
// the NT hash of the old password (a disabled account has only its Reject row).
Status copy_accounts(Database& from, Database& to) {
    auto rows = from.prepare(
        "SELECT a.member_id, a.username, a.password, a.state, a.state_since, a.grp, "
        "a.locations, a.expires, a.reason, a.updated_at, "
        "(SELECT c.value FROM radcheck c JOIN radsync_owned_rows o ON o.tbl = 'radcheck' AND "
        " o.row_id = c.id WHERE c.username = a.username AND c.attribute IN ('NT-Password', "
        " 'Cleartext-Password') ORDER BY c.id LIMIT 1), "
        "(SELECT c.attribute FROM radcheck c JOIN radsync_owned_rows o ON o.tbl = 'radcheck' AND "
        " o.row_id = c.id WHERE c.username = a.username AND c.attribute IN ('NT-Password', "
        " 'Cleartext-Password') ORDER BY c.id LIMIT 1) "
        "FROM radsync_accounts a");
    auto insert = to.prepare(
        "INSERT INTO radsync_accounts (member_id, username, secret, secret_attribute, "
        "secret_mac, state, state_since, grp, locations, expires, reason, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, '', ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!rows) {
        return rows.error();
    }
    if (!insert) {
        return insert.error();
    }
    Status failed;
    RADSYNC_TRY(rows->each_row([&](const Statement& row) {
        std::string secret = row.is_null(10) ? std::string() : row.text(10);
        std::string attribute = row.is_null(11) ? std::string() : row.text(11);
        const std::string old_password = row.text(2);
        if (secret.empty() && !old_password.empty()) {
            auto hash = mapping::nt_hash_hex(old_password);
            if (hash) {
                secret = std::move(*hash);
                attribute = "NT-Password";
            }
        }
        insert->bind(1, row.text(0)).bind(2, row.text(1)).bind(3, secret).bind(4, attribute);
        insert->bind(5, row.text(3)).bind(6, row.integer(4)).bind(7, row.text(5));
        insert->bind(8, row.text(6));
        if (row.is_null(7)) {
            insert->bind_null(9);
        } else {
            insert->bind(9, row.integer(7));
        }
        insert->bind(10, row.text(8)).bind(11, row.integer(9));
        if (auto s = insert->run(); !s && failed) {
            failed = s.error();  // the first failure is the one reported
        }
    }));
    return failed;
}

// Rewrites `column` of every row of `table` through `change` (a row is kept when it returns
// the text unchanged).
Status rewrite_column(Database& db, const std::string& table, const std::string& key,
                      const std::string& column, const std::string& where,
                      const std::function<Result<std::string>(const std::string&)>& change) {
    auto rows = db.prepare("SELECT " + key + ", " + column + " FROM " + table + " WHERE " + where);
    auto update = db.prepare("UPDATE " + table + " SET " + column + " = ?2 WHERE " + key + " = ?1");
    if (!rows) {
        return rows.error();
    }
    if (!update) {
        return update.error();
    }
    std::vector<std::pair<std::string, std::string>> changed;
    Status failed;
    RADSYNC_TRY(rows->each_row([&](const Statement& row) {
        const std::string old = row.text(1);
        auto now = change(old);
        if (!now) {
            failed = now.error();
        } else if (*now != old) {
            changed.emplace_back(row.text(0), std::move(*now));
        }
    }));
    RADSYNC_TRY(failed);
    for (const auto& [id, value] : changed) {
        update->bind(1, id).bind(2, value);
        RADSYNC_TRY(update->run());
    }
    return {};
}

// Copies radsync's tables of a one-file database into a freshly migrated state database, in
// one transaction, leaving no secret in clear: secret member properties become keyed hashes,
// pending and parked webhook bodies are sealed, and processed ones are not carried over
// (nothing needs them and they hold members' personal data).
Status copy_one_file_state(Database& from, Database& to, const AtRestKey& key,
                           const std::set<std::string>& secret_properties) {
    auto tx = Transaction::begin(to);
    if (!tx) {
        return tx.error();
    }
    for (const char* table : kCopiedTables) {
        RADSYNC_TRY(copy_table(from, to, table));
    }
    // A parked event is processed too, but keeps its body for a requeue.
    constexpr const char* kKept = "processed_at IS NULL OR result LIKE 'parked:%'";
    RADSYNC_TRY(
        to.exec(std::string("UPDATE radsync_inbox SET body = '' WHERE NOT (") + kKept + ")"));
    RADSYNC_TRY(rewrite_column(
        to, "radsync_inbox", "event_id", "body", kKept,
        [&](const std::string& body) -> Result<std::string> { return key.seal(body); }));
    const auto hash = [&](std::string_view v) { return key.keyed_hash(v); };
    RADSYNC_TRY(rewrite_column(to, "radsync_members", "id", "raw", "1",
                               [&](const std::string& raw) -> Result<std::string> {
                                   auto redacted =
                                       snapshot::redact_member(raw, secret_properties, hash);
                                   // A row that does not parse is dropped at load anyway.
                                   return redacted ? std::move(*redacted) : std::string("{}");
                               }));
    RADSYNC_TRY(copy_accounts(from, to));
    RADSYNC_TRY(
        to.exec("INSERT INTO radsync_meta (key, value) VALUES ('split_from_one_file', 'yes'), "
                "('radius_vacuum_pending', 'yes')"));
    return tx->commit();
}

// Builds the state database next to its final path and renames it into place, so that a
// state database that exists is always complete.
Status split_one_file(Database& radius, const std::string& state_path, const AtRestKey& key,
                      const OpenOptions& options) {
    auto log = log::get("migrations");
    const std::string building = state_path + ".partial";
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        std::filesystem::remove(building + suffix, ec);  // an earlier, interrupted attempt
    }
    {
        auto state = detail::open_for_writing(building, FileAccess::kPrivate);
        if (!state) {
            return state.error();
        }
        if (auto m = detail::migrate(*state, state_migrations()); !m) {
            return m.error();
        }
        RADSYNC_TRY(copy_one_file_state(radius, *state, key, options.secret_properties));
    }  // closed: the last connection checkpoints its log into the file
    RADSYNC_TRY(fsync_path(building));
    if (options.interrupt && options.interrupt("state-built")) {
        return Error(Errc::kStoreFailed, "interrupted at state-built (test hook)");
    }
    std::filesystem::rename(building, state_path, ec);
    if (ec) {
        return Error(Errc::kStoreFailed,
                     "cannot move " + building + " to " + state_path + ": " + ec.message());
    }
    // The rename itself is durable only once the directory is.
    const auto dir = std::filesystem::path(state_path).parent_path();
    RADSYNC_TRY(fsync_path(dir.empty() ? std::string(".") : dir.string()));
    log->info("state split out of the RADIUS database radius={} state={}", radius.path(),
              state_path);
    return {};
}

Result<std::string> meta(Database& state, const char* key) {
    auto st = state.prepare("SELECT value FROM radsync_meta WHERE key = ?1");
    if (!st) {
        return st.error();
    }
    st->bind(1, std::string_view(key));
    auto row = st->step();
    if (!row) {
        return row.error();
    }
    return *row == sqlite::Step::kRow ? st->text(0) : std::string();
}

// Leaves nothing of the dropped tables in the RADIUS file's free pages or its log.
Status vacuum_radius(Database& radius, Database& state) {
    RADSYNC_TRY(radius.exec("VACUUM"));
    RADSYNC_TRY(radius.exec("PRAGMA wal_checkpoint(TRUNCATE)"));
    return state.exec("DELETE FROM radsync_meta WHERE key = 'radius_vacuum_pending'");
}

Result<Stores> open_both(const StorePaths& paths, const OpenOptions& options) {
    auto key = AtRestKey::load_or_create(AtRestKey::path_for(paths.state));
    if (!key) {
        return key.error();
    }
    auto shared_key = std::make_shared<const AtRestKey>(std::move(*key));
    auto radius = detail::open_for_writing(paths.radius, FileAccess::kSharedWithGroup);
    if (!radius) {
        return radius.error();
    }
    auto version = detail::schema_version(*radius);
    if (!version) {
        return version.error();
    }
    const int newest = detail::newest_version(radius_migrations());
    if (*version > newest) {
        return detail::too_new(paths.radius, *version, newest);
    }
    const bool one_file = *version >= 1 && *version <= kLastOneFileVersion;
    if (one_file) {
        // Bring it to the last one-file layout first, so the copy sees one shape.
        if (auto m = detail::migrate(*radius, radius_migrations(), kLastOneFileVersion); !m) {
            return m.error();
        }
        auto legacy = has_table(*radius, "radsync_accounts");
        if (!legacy) {
            return legacy.error();
        }
        if (*legacy && !std::filesystem::exists(paths.state)) {
            RADSYNC_TRY(split_one_file(*radius, paths.state, *shared_key, options));
        } else if (*legacy) {
            // A state database already exists: it must be the one this split made.
            auto state = detail::open_for_writing(paths.state, FileAccess::kPrivate);
            if (!state) {
                return state.error();
            }
            auto marker = meta(*state, "split_from_one_file");
            if (!marker) {
                return marker.error();
            }
            if (*marker != "yes") {
                return Error(Errc::kStoreFailed,
                             "the state database " + paths.state +
                                 " exists but was not split out of " + paths.radius +
                                 ", which still holds radsync's tables; point state_database at "
                                 "a path that does not exist yet, so the split can make it");
            }
        }
        if (options.interrupt && options.interrupt("state-in-place")) {
            return Error(Errc::kStoreFailed, "interrupted at state-in-place (test hook)");
        }
    }
    auto state = detail::open_for_writing(paths.state, FileAccess::kPrivate);
    if (!state) {
        return state.error();
    }
    if (auto m = detail::migrate(*state, state_migrations()); !m) {
        return m.error();
    }
    if (auto m = detail::migrate(*radius, radius_migrations()); !m) {
        return m.error();
    }
    if (options.interrupt && options.interrupt("dropped")) {
        return Error(Errc::kStoreFailed, "interrupted at dropped (test hook)");
    }
    auto pending = meta(*state, "radius_vacuum_pending");
    if (!pending) {
        return pending.error();
    }
    if (*pending == "yes") {
        RADSYNC_TRY(vacuum_radius(*radius, *state));
    }
    return Stores{
        detail::make_state_store(std::move(*state), shared_key, options.secret_properties),
        detail::make_radius_store(std::move(*radius))};
}

}  // namespace

Result<Stores> open_sqlite_stores(const StorePaths& paths, const OpenOptions& options) {
    return open_both(paths, options);
}

Result<Stores> open_sqlite_stores_read_only(const StorePaths& paths) {
    auto radius = detail::open_existing_read_only(paths.radius);
    if (!radius) {
        return radius.error();
    }
    auto state = detail::open_existing_read_only(paths.state);
    if (!state) {
        return state.error();
    }
    const std::pair<const std::pair<Database, int>*, const std::vector<Migration>*> checks[] = {
        {&*radius, &radius_migrations()}, {&*state, &state_migrations()}};
    for (const auto& [opened, migrations] : checks) {
        const int newest = detail::newest_version(*migrations);
        if (opened->second > newest) {
            return detail::too_new(opened->first.path(), opened->second, newest);
        }
        if (opened->second < newest) {
            return Error(Errc::kStoreFailed, "database " + opened->first.path() +
                                                 " is at schema version " +
                                                 std::to_string(opened->second) + ", expected " +
                                                 std::to_string(newest) + "; run radsync migrate");
        }
    }
    // The key only serves writes; a reader without access to it (or before it exists) sees
    // everything but sealed bodies.
    std::shared_ptr<const AtRestKey> key;
    if (auto loaded = AtRestKey::load_existing(AtRestKey::path_for(paths.state)); loaded) {
        key = std::make_shared<const AtRestKey>(std::move(*loaded));
    }
    return Stores{detail::make_state_store(std::move(state->first), key, {}),
                  detail::make_radius_store(std::move(radius->first))};
}

Result<Stores> open_sqlite_stores_scratch_copy(const StorePaths& paths,
                                               const OpenOptions& options) {
    // The real key when it can be read, so keyed hashes compare with the stored ones (a dry
    // run must not see every property password as changed); otherwise one for this run only.
    auto key = AtRestKey::load_existing(AtRestKey::path_for(paths.state));
    if (!key) {
        key = AtRestKey::random();
    }
    auto shared_key = std::make_shared<const AtRestKey>(std::move(*key));
    auto radius = Database::open(":memory:", sqlite::OpenMode::kReadWriteCreate);
    auto state = Database::open(":memory:", sqlite::OpenMode::kReadWriteCreate);
    if (!radius) {
        return radius.error();
    }
    if (!state) {
        return state.error();
    }
    for (const auto& [path, copy, migrations] :
         {std::tuple{&paths.radius, &*radius, &radius_migrations()},
          std::tuple{&paths.state, &*state, &state_migrations()}}) {
        if (!std::filesystem::exists(*path)) {
            continue;
        }
        auto opened = detail::open_existing_read_only(*path);
        if (!opened) {
            return opened.error();
        }
        const int newest = detail::newest_version(*migrations);
        if (opened->second > newest) {
            return detail::too_new(*path, opened->second, newest);
        }
        RADSYNC_TRY(opened->first.copy_into(*copy));
    }
    // An older schema is brought up to date in the copies only; the files stay as they are.
    auto version = detail::schema_version(*radius);
    if (!version) {
        return version.error();
    }
    if (*version >= 1 && *version <= kLastOneFileVersion) {
        if (auto m = detail::migrate(*radius, radius_migrations(), kLastOneFileVersion); !m) {
            return m.error();
        }
        if (auto s = detail::schema_version(*state); s && *s == 0) {
            if (auto m = detail::migrate(*state, state_migrations()); !m) {
                return m.error();
            }
            RADSYNC_TRY(
                copy_one_file_state(*radius, *state, *shared_key, options.secret_properties));
        }
    }
    if (auto m = detail::migrate(*state, state_migrations()); !m) {
        return m.error();
    }
    if (auto m = detail::migrate(*radius, radius_migrations()); !m) {
        return m.error();
    }
    return Stores{
        detail::make_state_store(std::move(*state), shared_key, options.secret_properties),
        detail::make_radius_store(std::move(*radius))};
}

Result<SchemaStatus> read_schema_status(const StorePaths& paths) {
    auto radius = detail::open_existing_read_only(paths.radius);
    if (!radius) {
        return radius.error();
    }
    SchemaStatus status;
    status.radius_version = radius->second;
    status.radius_binary_version = detail::newest_version(radius_migrations());
    status.state_binary_version = detail::newest_version(state_migrations());
    if (std::filesystem::exists(paths.state)) {
        auto state = detail::open_existing_read_only(paths.state);
        if (!state) {
            return state.error();
        }
        status.state_version = state->second;
    }
    return status;
}

Result<SchemaStatus> migrate_sqlite(const StorePaths& paths, const OpenOptions& options) {
    SchemaStatus before;
    if (auto s = read_schema_status(paths); s) {
        before = *s;
    } else if (s.error().code != Errc::kNotFound) {
        return s.error();
    }
    auto opened = open_both(paths, options);
    if (!opened) {
        return opened.error();
    }
    before.radius_binary_version = detail::newest_version(radius_migrations());
    before.state_binary_version = detail::newest_version(state_migrations());
    return before;
}

}  // namespace radsync::store
