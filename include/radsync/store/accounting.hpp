#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/session/presence.hpp"

namespace radsync::store {

/// One accounting session as FreeRADIUS recorded it in radacct (stock columns).
struct Session {
    std::int64_t id = 0;     ///< radacctid
    std::string session_id;  ///< Acct-Session-Id, as the NAS named it
    std::string unique_id;   ///< FreeRADIUS's Acct-Unique-Session-Id
    std::string username;
    std::string nas_ip;  ///< NAS-IP-Address
    std::string nas_port_id;
    std::string called_station_id;
    std::string calling_station_id;  ///< usually the device's MAC address
    std::string framed_ip;
    core::Instant started{};
    core::Instant last_heard{};  ///< the last Interim-Update, else the Start
    std::optional<core::Instant> stopped;
    std::string terminate_cause;
    std::int64_t input_octets = 0;
    std::int64_t output_octets = 0;
};

/// What radsync sets as Acct-Terminate-Cause on a session it closes as stale (no Stop came).
inline constexpr const char* kStaleTerminateCause = "Stale-Session";

/// FreeRADIUS's accounting database (design.md "Storage"). FreeRADIUS writes it; radsync reads
/// open sessions and closes stale ones, each in one short statement. Not thread-safe; one
/// owner.
class AccountingStore {
public:
    virtual ~AccountingStore() = default;

    /// Open sessions (no Stop yet) in the order FreeRADIUS recorded them; of one user when
    /// `username` is set. At most `limit`.
    [[nodiscard]] virtual Result<std::vector<Session>> open_sessions(
        const std::optional<std::string>& username, std::size_t limit) = 0;
    [[nodiscard]] virtual Result<std::size_t> open_session_count() = 0;
    /// Closes open sessions last heard of before `cutoff` (Acct-Stop-Time = `now`,
    /// Acct-Terminate-Cause = kStaleTerminateCause, the session time up to when it was last
    /// heard of), at most `limit` per call, and returns them
    /// closed.
    [[nodiscard]] virtual Result<std::vector<Session>> close_stale(core::Instant cutoff,
                                                                   core::Instant now,
                                                                   std::size_t limit) = 0;

    // Presence to OfficeRnD check-ins (radsync_checkins, radsync's own table in this file).
    /// Sessions still open or stopped at or after `since`, newest first, at most `limit`.
    [[nodiscard]] virtual Result<std::vector<Session>> sessions_since(core::Instant since,
                                                                      std::size_t limit) = 0;
    /// The check-in records of days from `from_day` ("YYYY-MM-DD") on, and every older one still
    /// pending or open.
    [[nodiscard]] virtual Result<std::vector<session::CheckinRecord>> checkins(
        const std::string& from_day) = 0;
    /// Records `r` unless its member, location and day already have a record; true if it did.
    [[nodiscard]] virtual Result<bool> checkin_insert(const session::CheckinRecord& r,
                                                      core::Instant now) = 0;
    /// Overwrites the record of `r`'s member, location and day; Errc::kStoreFailed if none.
    [[nodiscard]] virtual Status checkin_update(const session::CheckinRecord& r,
                                                core::Instant now) = 0;
    /// Deletes the records of days before `before_day` but open ones; how many.
    [[nodiscard]] virtual Result<std::size_t> checkin_prune(const std::string& before_day) = 0;
};

/// Opens (creating if missing, 0660 like the RADIUS database, as FreeRADIUS writes it) and
/// migrates the accounting database. Errc::kStoreSchemaTooNew / kStoreFailed.
[[nodiscard]] Result<std::unique_ptr<AccountingStore>> open_accounting_store(
    const std::string& path);
/// An existing accounting database, read-only, not migrated. Errc::kNotFound if missing.
[[nodiscard]] Result<std::unique_ptr<AccountingStore>> open_accounting_store_read_only(
    const std::string& path);
/// The accounting database's schema version (0 when missing) and the newest this binary knows.
[[nodiscard]] Result<std::pair<int, int>> accounting_schema_status(const std::string& path);

}  // namespace radsync::store
