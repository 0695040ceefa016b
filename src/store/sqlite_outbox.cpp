#include "sqlite_outbox.hpp"

#include "radsync/notify/message.hpp"
#include "sqlite_support.hpp"

namespace radsync::store::detail {

using sqlite::Statement;
using sqlite::Transaction;

namespace {

// Columns every read selects, in this order (read_message).
constexpr const char* kColumns =
    "id, subject, username, kind, recipient, recipient_role, message_id, carries_password, "
    "status, attempts, created_at, next_attempt_at, sent_at, last_error";

OutboxMessage read_message(const Statement& row) {
    OutboxMessage m;
    m.id = row.integer(0);
    m.subject = row.text(1);
    m.username = row.text(2);
    m.kind = row.text(3);
    m.recipient = row.text(4);
    m.recipient_role = row.text(5);
    m.message_id = row.text(6);
    m.carries_password = row.integer(7) != 0;
    m.status = outbox_status(row.text(8));
    m.attempts = static_cast<int>(row.integer(9));
    m.created_at = instant(row.integer(10));
    m.next_attempt_at = instant(row.integer(11));
    if (!row.is_null(12)) {
        m.sent_at = instant(row.integer(12));
    }
    m.last_error = row.text(13);
    return m;
}

constexpr std::size_t kMaxError = 500;  // one line in `outbox list`, not a relay's essay

}  // namespace

Status OutboxTable::cancel_subject(const std::string& subject, const std::string& why,
                                   bool passwords_only) {
    // A message already handed to the relay (sending) cannot be called back; the mailer
    // records what became of it.
    auto st = db_.cached(
        "UPDATE radsync_outbox SET status = 'cancelled', payload = NULL, last_error = ?2 "
        "WHERE subject = ?1 AND status IN ('pending', 'parked') "
        "AND (?3 = 0 OR carries_password = 1)");
    if (!st) {
        return st.error();
    }
    st->bind(1, subject).bind(2, "cancelled: " + why).bind(3, std::int64_t{passwords_only});
    return st->run();
}

Status OutboxTable::queue(const std::vector<OutboxMessage>& messages,
                          const std::map<std::string, std::string>& cancel, core::Instant now) {
    for (const auto& [subject, why] : cancel) {
        RADSYNC_TRY(cancel_subject(subject, why, false));
    }
    if (messages.empty()) {
        return {};
    }
    if (key_ == nullptr) {
        return Error(Errc::kStoreFailed, "outbox: the state database was opened without its key");
    }
    auto ins = db_.cached(
        "INSERT INTO radsync_outbox (subject, username, kind, recipient, recipient_role, "
        "message_id, payload, carries_password, status, attempts, created_at, next_attempt_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9, ?9)");
    if (!ins) {
        return ins.error();
    }
    std::set<std::string> superseded;
    for (const auto& m : messages) {
        // Two messages of one run for one subject (a guest's code to the visitor and to the
        // booker) carry the same password: only an older run's are superseded.
        if (m.carries_password && superseded.insert(m.subject).second) {
            RADSYNC_TRY(cancel_subject(m.subject, "superseded by a newer password", true));
        }
        auto sealed = key_->seal(m.payload);
        if (!sealed) {
            return sealed.error();
        }
        ins->bind(1, m.subject)
            .bind(2, m.username)
            .bind(3, m.kind)
            .bind(4, m.recipient)
            .bind(5, m.recipient_role)
            .bind(6, m.message_id)
            .bind(7, *sealed)
            .bind(8, std::int64_t{m.carries_password})
            .bind(9, seconds(now));
        RADSYNC_TRY(ins->run());
    }
    return {};
}

Result<std::vector<OutboxMessage>> OutboxTable::claim(core::Instant now, std::size_t limit) {
    if (key_ == nullptr) {
        return Error(Errc::kStoreFailed, "outbox: the state database was opened without its key");
    }
    auto tx = Transaction::begin(db_);
    if (!tx) {
        return tx.error();
    }
    auto due = db_.cached(
        std::string("SELECT ") + kColumns +
        ", payload, (SELECT state FROM radsync_accounts a "
        "WHERE a.member_id = o.subject), (SELECT email FROM radsync_members m "
        "WHERE m.id = o.subject AND m.removed = 0), (SELECT username FROM radsync_accounts a "
        "WHERE a.member_id = o.subject) FROM radsync_outbox o "
        "WHERE status = 'pending' AND next_attempt_at <= ?1 "
        "ORDER BY next_attempt_at, id LIMIT ?2");
    if (!due) {
        return due.error();
    }
    due->bind(1, seconds(now)).bind(2, static_cast<std::int64_t>(limit));
    std::vector<OutboxMessage> claimed;
    std::vector<std::pair<std::int64_t, std::string>> cancelled;
    std::vector<std::pair<std::int64_t, std::string>> unreadable;
    RADSYNC_TRY(due->each_row([&](const Statement& row) {
        OutboxMessage m = read_message(row);
        // Checked again here, not only when the account was revoked: nobody gets credentials
        // for an account that no longer works.
        if (row.is_null(15) || row.text(15) != "active") {
            cancelled.emplace_back(m.id, "cancelled: the account no longer has access");
            return;
        }
        // A member's credentials go to the address OfficeRnD has for them now: a mistyped
        // address corrected since the message was queued must not receive them.
        if (m.recipient_role == "member" && !row.is_null(16)) {
            const std::string current = notify::bare_address(row.text(16));
            if (current.empty()) {
                cancelled.emplace_back(m.id, "cancelled: the member has no usable e-mail address");
                return;
            }
            m.recipient = current;
        }
        m.username = row.text(17);  // the name may have changed with the address
        auto payload = key_->open(row.text(14));
        if (!payload) {
            // Set aside, not returned as the claim's error: one row that does not authenticate
            // (a restored key that does not match) must not hold back every message behind it.
            unreadable.emplace_back(m.id, "payload cannot be opened: " + payload.error().message);
            return;
        }
        m.payload = std::move(*payload);
        claimed.push_back(std::move(m));
    }));
    auto cancel = db_.cached(
        "UPDATE radsync_outbox SET status = 'cancelled', payload = NULL, last_error = ?2 "
        "WHERE id = ?1");
    auto mark = db_.cached(
        "UPDATE radsync_outbox SET status = 'sending', attempts = attempts + 1, recipient = ?2, "
        "username = ?3 WHERE id = ?1");
    if (!cancel) {
        return cancel.error();
    }
    if (!mark) {
        return mark.error();
    }
    auto park =
        db_.cached("UPDATE radsync_outbox SET status = 'parked', last_error = ?2 WHERE id = ?1");
    if (!park) {
        return park.error();
    }
    for (const auto& [id, why] : cancelled) {
        cancel->bind(1, id).bind(2, why);
        RADSYNC_TRY(cancel->run());
    }
    for (const auto& [id, why] : unreadable) {
        park->bind(1, id).bind(2, why);
        RADSYNC_TRY(park->run());
    }
    for (auto& m : claimed) {
        mark->bind(1, m.id).bind(2, m.recipient).bind(3, m.username);
        RADSYNC_TRY(mark->run());
        m.status = OutboxStatus::kSending;
        ++m.attempts;
    }
    RADSYNC_TRY(tx->commit());
    return claimed;
}

Status OutboxTable::settle(const std::vector<OutboxSettlement>& settled, core::Instant now) {
    auto tx = Transaction::begin(db_);
    if (!tx) {
        return tx.error();
    }
    auto sent = db_.cached(
        "UPDATE radsync_outbox SET status = 'sent', payload = NULL, sent_at = ?2, "
        "last_error = '' WHERE id = ?1");
    auto retry = db_.cached(
        "UPDATE radsync_outbox SET status = 'pending', next_attempt_at = ?2, last_error = ?3 "
        "WHERE id = ?1 AND status = 'sending'");
    auto park = db_.cached(
        "UPDATE radsync_outbox SET status = 'parked', last_error = ?2 "
        "WHERE id = ?1 AND status = 'sending'");
    if (!sent) {
        return sent.error();
    }
    if (!retry) {
        return retry.error();
    }
    if (!park) {
        return park.error();
    }
    for (const auto& s : settled) {
        const std::string error = s.error.substr(0, kMaxError);
        switch (s.outcome) {
            case OutboxSettlement::Outcome::kSent:
                // Even over a cancellation that came while it was with the relay: it went out.
                sent->bind(1, s.id).bind(2, seconds(now));
                RADSYNC_TRY(sent->run());
                break;
            case OutboxSettlement::Outcome::kRetry:
                retry->bind(1, s.id).bind(2, seconds(s.retry_at)).bind(3, error);
                RADSYNC_TRY(retry->run());
                break;
            case OutboxSettlement::Outcome::kPark:
                park->bind(1, s.id).bind(2, error);
                RADSYNC_TRY(park->run());
                break;
        }
    }
    return tx->commit();
}

Result<std::size_t> OutboxTable::recover(core::Instant now) {
    auto st = db_.cached(
        "UPDATE radsync_outbox SET status = 'pending', next_attempt_at = ?1, "
        "last_error = 'resent: radsync stopped while the relay had it' WHERE status = 'sending'");
    if (!st) {
        return st.error();
    }
    st->bind(1, seconds(now));
    RADSYNC_TRY(st->run());
    return static_cast<std::size_t>(db_.changes());
}

Result<std::optional<core::Instant>> OutboxTable::next_due() {
    auto st =
        db_.cached("SELECT min(next_attempt_at) FROM radsync_outbox WHERE status = 'pending'");
    if (!st) {
        return st.error();
    }
    std::optional<core::Instant> out;
    RADSYNC_TRY(st->each_row([&](const Statement& row) {
        if (!row.is_null(0)) {
            out = instant(row.integer(0));
        }
    }));
    return out;
}

Result<std::vector<OutboxMessage>> OutboxTable::list(std::optional<OutboxStatus> status,
                                                     const std::optional<std::string>& subject,
                                                     std::size_t limit) {
    auto st = db_.cached(std::string("SELECT ") + kColumns +
                         " FROM radsync_outbox WHERE (?1 IS NULL OR status = ?1) "
                         "AND (?2 IS NULL OR subject = ?2) ORDER BY id DESC LIMIT ?3");
    if (!st) {
        return st.error();
    }
    if (status) {
        st->bind(1, to_string(*status));
    } else {
        st->bind_null(1);
    }
    if (subject) {
        st->bind(2, *subject);
    } else {
        st->bind_null(2);
    }
    st->bind(3, static_cast<std::int64_t>(limit));
    std::vector<OutboxMessage> out;
    RADSYNC_TRY(st->each_row([&](const Statement& row) { out.push_back(read_message(row)); }));
    return out;
}

Result<std::size_t> OutboxTable::requeue(std::optional<std::int64_t> id, core::Instant now) {
    auto st = db_.cached(
        "UPDATE radsync_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?2, "
        "last_error = '' WHERE status = 'parked' AND (?1 IS NULL OR id = ?1)");
    if (!st) {
        return st.error();
    }
    st->bind(1, id).bind(2, seconds(now));
    RADSYNC_TRY(st->run());
    return static_cast<std::size_t>(db_.changes());
}

Result<std::map<std::string, std::size_t>> OutboxTable::counts() {
    auto st = db_.cached("SELECT status, count(*) FROM radsync_outbox GROUP BY status");
    if (!st) {
        return st.error();
    }
    std::map<std::string, std::size_t> out;
    RADSYNC_TRY(st->each_row([&](const Statement& row) {
        out[row.text(0)] = static_cast<std::size_t>(row.integer(1));
    }));
    return out;
}

Result<std::size_t> OutboxTable::prune(core::Instant cutoff) {
    auto st = db_.cached(
        "DELETE FROM radsync_outbox WHERE status IN ('sent', 'cancelled') AND created_at < ?1");
    if (!st) {
        return st.error();
    }
    st->bind(1, seconds(cutoff));
    RADSYNC_TRY(st->run());
    return static_cast<std::size_t>(db_.changes());
}

}  // namespace radsync::store::detail
