#pragma once

// Private to the store: the e-mail outbox table (radsync_outbox) over the state database's
// connection. SqliteStateStore forwards its outbox methods here and calls queue() inside the
// transaction that provisions the accounts.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "radsync/store/at_rest.hpp"
#include "radsync/store/store.hpp"
#include "sqlite.hpp"

namespace radsync::store::detail {

class OutboxTable {
public:
    /// `key` seals payloads; null (read-only stores) means payloads cannot be written or read.
    OutboxTable(sqlite::Database& db, const AtRestKey* key) : db_(db), key_(key) {}

    /// Inside the caller's transaction: cancels what `cancel` names, then queues `messages`
    /// (superseding older unsent passwords of the same subject).
    [[nodiscard]] Status queue(const std::vector<OutboxMessage>& messages,
                               const std::map<std::string, std::string>& cancel, core::Instant now);

    [[nodiscard]] Result<std::vector<OutboxMessage>> claim(core::Instant now, std::size_t limit);
    [[nodiscard]] Status settle(const std::vector<OutboxSettlement>& settled, core::Instant now);
    [[nodiscard]] Result<std::size_t> recover(core::Instant now);
    [[nodiscard]] Result<std::optional<core::Instant>> next_due();
    [[nodiscard]] Result<std::vector<OutboxMessage>> list(std::optional<OutboxStatus> status,
                                                          const std::optional<std::string>& subject,
                                                          std::size_t limit);
    [[nodiscard]] Result<std::size_t> requeue(std::optional<std::int64_t> id, core::Instant now);
    [[nodiscard]] Result<std::map<std::string, std::size_t>> counts();
    [[nodiscard]] Result<std::size_t> prune(core::Instant cutoff);

private:
    [[nodiscard]] Status cancel_subject(const std::string& subject, const std::string& why,
                                        bool passwords_only);

    sqlite::Database& db_;
    const AtRestKey* key_;
};

}  // namespace radsync::store::detail
