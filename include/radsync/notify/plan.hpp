#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "radsync/config/config.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/mapping/credentials.hpp"
#include "radsync/mapping/engine.hpp"
#include "radsync/notify/message.hpp"
#include "radsync/snapshot/entities.hpp"
#include "radsync/store/records.hpp"

namespace radsync::notify {

/// What one run queues in the outbox, decided from its decisions (pure but for `random`).
struct OutboxPlan {
    std::vector<store::OutboxMessage> messages;
    /// Subjects that lost access in this run: their unsent messages are cancelled.
    std::map<std::string, std::string> cancel;
    /// Accounts that should have had a message but have no usable address, with why.
    std::vector<std::string> undeliverable;
};

/// Which message an account gets from a run:
/// * a password this run generated: welcome (member), pass or guest, by the account's kind;
///   reset when the run is a reset-password for it;
/// * a new account whose password comes from an OfficeRnD property: welcome, without it;
/// * a disabled member or pass account that is active again: returning (same password);
/// * nothing otherwise.
/// Members and pass holders get theirs at their own e-mail; a guest's code goes to the visitor,
/// the booking member or both (notify.guest_codes_to). Every message holds the credentials of
/// its one account and no other. `random` draws Message-IDs (a CSPRNG in production).
[[nodiscard]] OutboxPlan plan_messages(const std::vector<mapping::Decision>& decisions,
                                       const std::map<std::string, store::AccountRecord>& before,
                                       const snapshot::Snapshot& snap, const config::Config& cfg,
                                       const std::set<std::string>& resets,
                                       const mapping::PasswordGenerator& random);

/// The message `kind` with the values of an account as it stands (`accounts profile`, tests):
/// no password.
[[nodiscard]] Payload payload_for(const store::AccountRecord& account, const std::string& name,
                                  const std::string& email, const snapshot::Snapshot& snap,
                                  const config::Config& cfg, config::MessageKind kind);

}  // namespace radsync::notify
