#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "radsync/core/clock.hpp"

namespace radsync::store {

/// The five FreeRADIUS tables radsync writes. Columns are FreeRADIUS's stock layout.
enum class Table { kRadcheck, kRadreply, kRadgroupcheck, kRadgroupreply, kRadusergroup };

[[nodiscard]] const char* to_string(Table t);

/// Whether a row's value is a credential (Cleartext-/NT-/SSHA2-...-Password): kept sealed or
/// hashed, and shown by every report as "(secret)".
[[nodiscard]] bool is_secret_attribute(const std::string& attribute);

/// One row in a FreeRADIUS table, without its id.
/// * radcheck / radreply: name = username, attribute, op, value.
/// * radgroupcheck / radgroupreply: name = groupname, attribute, op, value.
/// * radusergroup: name = username, attribute = groupname, priority; op and value empty.
struct RadRow {
    Table table = Table::kRadcheck;
    std::string name;
    std::string attribute;
    std::string op;
    std::string value;
    int priority = 0;

    auto operator<=>(const RadRow&) const = default;
    bool operator==(const RadRow&) const = default;
};

/// A row radsync owns, as read back from the database.
struct OwnedRow {
    std::int64_t id = 0;
    RadRow row;
};

/// Whether radsync currently lets a member on the network.
enum class AccountState { kActive, kRevoked };

[[nodiscard]] const char* to_string(AccountState s);

/// What an account was last granted through; decides how it ends.
enum class AccountKind {
    kMember,  ///< a membership: disabled when access ends, removed after the retention
    kPass,    ///< day passes alone: removed at the location's sweep time once they expire
    kGuest,   ///< a booking's visitor
};

[[nodiscard]] const char* to_string(AccountKind k);
[[nodiscard]] AccountKind account_kind(std::string_view text);  ///< kMember when unknown

/// radsync's own record of a member's WiFi account (table radsync_accounts, state database).
/// It never holds a password in clear (unless `storage: cleartext` was chosen): only what the
/// RADIUS password row carries, so the password stays the same across runs and revocations.
struct AccountRecord {
    std::string member_id;
    std::string username;  ///< as stored in FreeRADIUS tables (escaped form)
    /// The password row's value: an NT hash (hex), or the password itself when `secret_attribute`
    /// is Cleartext-Password. Empty when none is known yet.
    std::string secret;
    std::string secret_attribute;  ///< "NT-Password" or "Cleartext-Password"
    /// For passwords from a custom property: the keyed hash of the value `secret` came from, so
    /// a change in OfficeRnD is noticed without keeping the value. Empty for generated ones.
    std::string secret_mac;
    AccountState state = AccountState::kActive;
    core::Instant state_since{};  ///< when `state` last changed
    std::string group;            ///< access group granted (empty when revoked)
    std::string locations;        ///< allowed location keys, comma-separated; "*" = unrestricted
    std::optional<core::Instant> expires;
    std::string reason;  ///< why the member has (or lost) access, for `accounts show`
    AccountKind kind = AccountKind::kMember;
    /// The member's own Framed-IP-Address (a pool or an explicit one); "" for none. Kept while
    /// the account is disabled, so nobody else gets it until the account is finally removed.
    std::string address;

    bool operator==(const AccountRecord&) const = default;
};

/// When an account's access next changes by itself, with no new data from OfficeRnD (a row of
/// radsync_schedule).
struct Transition {
    std::string subject;  ///< the account's key (member id)
    core::Instant at{};
    std::string what;  ///< e.g. "membership 'Hot Desk' ends"

    bool operator==(const Transition&) const = default;
};

/// Where a message in the outbox stands (migrations/state/0005_outbox.sql).
enum class OutboxStatus { kPending, kSending, kSent, kParked, kCancelled };

[[nodiscard]] const char* to_string(OutboxStatus s);
/// kPending when unknown.
[[nodiscard]] OutboxStatus outbox_status(std::string_view text);

/// One e-mail in the outbox (table radsync_outbox, state database).
struct OutboxMessage {
    std::int64_t id = 0;  ///< assigned when queued
    std::string subject;  ///< the account's key (member id, guest key)
    std::string username;
    std::string kind;            ///< config::to_string(MessageKind): welcome, reset...
    std::string recipient;       ///< bare address
    std::string recipient_role;  ///< member, visitor or booker
    std::string message_id;      ///< "<...@...>", fixed when queued: a resend carries the same
    /// The JSON the message is rendered from (notify::Payload), in clear in memory only: the
    /// store seals it, and wipes it once the message is sent or cancelled.
    std::string payload;
    bool carries_password = false;
    OutboxStatus status = OutboxStatus::kPending;
    int attempts = 0;
    core::Instant created_at{};
    core::Instant next_attempt_at{};
    std::optional<core::Instant> sent_at;
    std::string last_error;
};

}  // namespace radsync::store
