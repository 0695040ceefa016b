#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "radsync/config/config.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/mapping/credentials.hpp"
#include "radsync/snapshot/entities.hpp"
#include "radsync/store/records.hpp"

namespace radsync::mapping {

/// RADIUS group names radsync writes. All start with "radsync:" so an operator can tell them
/// apart, and use only FreeRADIUS's safe characters (group names are escaped like usernames).
inline constexpr std::string_view kGroupPrefix = "radsync:";
inline constexpr std::string_view kDenyGroup = "radsync:deny";
[[nodiscard]] std::string plan_group_name(const std::string& access_group);
/// `index` counts the location's matchers (NAS-Identifier, SSID, NAS IP), from 1.
[[nodiscard]] std::string site_group_name(const std::string& location_key, std::size_t index);

/// Priorities in radusergroup: plan first (with Fall-Through), sites next at distinct
/// priorities, deny last (freeradius.md §4.5).
inline constexpr int kPlanPriority = 10;
inline constexpr int kFirstSitePriority = 100;
inline constexpr int kDenyPriority = 1000;

/// What the engine decided for one member.
struct Decision {
    enum class Outcome {
        kGranted,   ///< active account with rows
        kRevoked,   ///< had an account, now lost access: rejected, rows kept until retention
        kRemoved,   ///< revoked longer than retention (or never provisioned): no rows
        kNoAccess,  ///< never had an account and gets none
        kConflict,  ///< would collide with another member's or an operator's username
    };
    /// Why a member who is (or would be) entitled to access still gets no working account, for
    /// reconcile output, `accounts show` and the radsync_members_refused metric.
    enum class Problem {
        kNone,
        kConflict,          ///< the username is held by another member or an operator's rows
        kNoUsername,        ///< no usable username (no e-mail, empty template field...)
        kUnusablePassword,  ///< the password cannot log in (empty, invalid, outside the BMP)
        kUnmapped,          ///< an active membership's plan, or the member's location, is unmapped
        kNoAddress,         ///< the address pool is exhausted, or the explicit address is taken
    };
    std::string member_id;
    std::string member_name;
    std::string member_email;
    Outcome outcome = Outcome::kNoAccess;
    std::string reason;  ///< one line an operator understands
    /// The account record to persist; absent for kRemoved / kNoAccess / refused conflicts.
    std::optional<store::AccountRecord> account;
    Problem problem = Problem::kNone;
    /// A password this run generated, in clear, for handing over once (reset-password, the
    /// welcome e-mail). Never persisted: the account keeps only its hash.
    std::string new_password = {};
    /// The earliest moment after `now` at which this decision changes with no new data from
    /// OfficeRnD (a membership starting or ending, a disabled account's retention running out),
    /// and what happens then: radsync's schedule wakes for it.
    std::optional<core::Instant> next_change = {};
    std::string next_change_what = {};
    /// When the window of a time-limited account began (a pass, a guest's booking), for the
    /// messages that hand its credentials over.
    std::optional<core::Instant> valid_from = {};
};

[[nodiscard]] const char* to_string(Decision::Outcome o);
/// "conflict", "username", "password", "unmapped", "address" ("" for kNone): the metric label.
[[nodiscard]] const char* to_string(Decision::Problem p);

/// Inputs besides the snapshot and configuration.
struct Context {
    core::Instant now{};
    /// Current account records by member id (radsync_accounts).
    std::map<std::string, store::AccountRecord> accounts;
    /// Usernames that already have rows radsync does not own (an operator's hand-made users).
    std::set<std::string> foreign_usernames;
    PasswordGenerator generate_password;
    /// Members whose generated password is replaced by a new one in this run (reset-password);
    /// the new one is in their Decision::new_password.
    std::set<std::string> reset_passwords;
    /// Keyed hash of a password property's value (mapping::KeyedHash), to notice a change
    /// without keeping the value; empty means always derive the password row afresh.
    std::function<std::string(std::string_view)> keyed_hash;
    /// Addresses accounts hold (address → member id), for scoped runs, which see only some
    /// accounts: a pool address is never given to a second member. Full runs read `accounts`.
    std::map<std::string, std::string> addresses_in_use;
    /// Member ids to map; null maps everyone and includes the group rows. A scoped run
    /// (webhooks) treats every account outside the scope as holding its username.
    const std::set<std::string>* scope = nullptr;
};

/// The full desired state: every decision plus every FreeRADIUS row radsync should own.
struct DesiredState {
    std::vector<Decision> decisions;  ///< one per member in the snapshot and per stale account
    std::vector<store::RadRow> rows;  ///< group rows and user rows, sorted
};

/// Maps a snapshot to desired accounts and rows, per the access model in design.md. Pure: the
/// only outside inputs are the tz database (read through core::TimeZone) and the password
/// generator in `ctx`. Deterministic for the same inputs.
[[nodiscard]] DesiredState map_snapshot(const snapshot::Snapshot& snap, const config::Config& cfg,
                                        const Context& ctx);

/// The member a command names by `key`: a member id, an e-mail, a login name or its escaped
/// FreeRADIUS form, looked up in the snapshot and the accounts. Empty when nothing matches.
[[nodiscard]] std::string find_member_id(
    const std::string& key, const snapshot::Snapshot& snap,
    const std::map<std::string, store::AccountRecord>& accounts);

/// The username (escaped, as stored) a member would get, before collision checks; empty if
/// none can be formed. Lets a scoped run find every account it might collide with.
[[nodiscard]] std::string candidate_username(const snapshot::Member& member,
                                             const config::Accounts& accounts);

/// Whether the mapping gives members addresses of their own (pools or a member property).
[[nodiscard]] bool uses_addresses(const config::Mapping& mapping);

/// The user name a new guest with account key `key` gets: the prefix and characters without
/// look-alikes (no 0/o, 1/l/i) drawn from the keyed hash of the key, so it is the same in every
/// run and unpredictable from outside. Empty without a usable keyed hash (the engine then
/// draws a random one). Lets a scoped run find every account a new guest might collide with.
[[nodiscard]] std::string derived_guest_username(
    const std::string& key, const config::Guests& guests,
    const std::function<std::string(std::string_view)>& keyed_hash);
/// The guest user name `entropy`'s bytes make (uniformly over the alphabet); empty if they run
/// out first.
[[nodiscard]] std::string guest_name_from(std::string_view entropy, const config::Guests& guests);

/// Group rows only (plan, site and deny groups), derived from configuration alone.
[[nodiscard]] std::vector<store::RadRow> group_rows(const config::Config& cfg);

}  // namespace radsync::mapping
