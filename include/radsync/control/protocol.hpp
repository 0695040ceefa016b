#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "radsync/core/error.hpp"

namespace radsync::control {

// What `radsync` commands ask a running daemon over its control socket. One request per
// connection: a header (one line of JSON), then `payload_bytes` bytes (a snapshot file for
// `reconcile --from-file`); one answer (JSON) back, then the daemon closes.

inline constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
inline constexpr std::size_t kMaxAnswerBytes = 64ULL * 1024 * 1024;

enum class Command {
    kStatus,              ///< the daemon's own view: polling, next run, failures (JSON)
    kReconcile,           ///< a full run: against OfficeRnD, or the snapshot in the payload
    kInboxRequeue,        ///< parked webhooks pending again
    kResetPassword,       ///< a new generated password for one member, e-mailed or printed once
    kOutboxRequeue,       ///< parked e-mails pending again
    kSessionsDisconnect,  ///< Disconnect-Request for every open session of one user
};

[[nodiscard]] const char* to_string(Command c);

struct Request {
    Command command = Command::kStatus;
    bool dry_run = false;
    bool allow_mass_removal = false;
    /// kReconcile: where the payload came from (the file's path), empty for OfficeRnD.
    std::string source;
    std::size_t payload_bytes = 0;
    /// kInboxRequeue: one event, or every parked one; kOutboxRequeue: one message (its
    /// number in `outbox list`), or every parked one.
    std::string event_id;
    bool all = false;
    /// kResetPassword: a member id, e-mail or username; kSessionsDisconnect: the username.
    std::string member;
    /// kResetPassword: show the new password once instead of e-mailing it.
    bool print = false;
    bool json = false;  ///< reconcile: answer with reconcile::report_json, not the text
};

/// What the command prints and exits with, as if it had run in the caller's process.
struct Answer {
    int exit_code = 0;
    std::string out;  ///< for stdout
    std::string err;  ///< for stderr
};

/// The header line, '\n' included.
[[nodiscard]] std::string encode(const Request& r);
/// Errc::kMalformedPayload for anything but a well-formed request within the bounds.
[[nodiscard]] Result<Request> decode_request(std::string_view header);

[[nodiscard]] std::string encode(const Answer& a);
[[nodiscard]] Result<Answer> decode_answer(std::string_view text);

}  // namespace radsync::control
