#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "radsync/config/config.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"

namespace radsync::notify {

/// What a message is rendered from: the values of its placeholders, kept (sealed) in the
/// outbox until it is sent. Rendering happens when it is sent, so a template fixed after a
/// message was queued applies to it.
struct Payload {
    config::MessageKind kind = config::MessageKind::kWelcome;
    std::string name;
    std::string email;
    std::string username;
    /// The password, for the messages that carry one; absent for returning members (and for
    /// passwords from an OfficeRnD property, which radsync holds only as hashes).
    std::optional<std::string> password;
    std::vector<std::string> locations;  ///< names, as the recipient knows them
    std::string timezone;                ///< IANA name valid_from/until are shown in
    std::optional<core::Instant> valid_from;
    std::optional<core::Instant> valid_until;
    std::vector<std::string> ssids;
    std::string host;     ///< a guest's booking member
    std::string booking;  ///< a guest's meeting room
};

[[nodiscard]] std::string to_json(const Payload& p);
/// Errc::kMalformedPayload if `json` is not what to_json wrote.
[[nodiscard]] Result<Payload> payload_from_json(std::string_view json);

/// The bare address of "Name <address>" or "address", or "" when it is not a plausible,
/// header-safe address (no CR, LF, spaces or angle brackets inside, at most 254 bytes).
[[nodiscard]] std::string bare_address(std::string_view text);

/// `t` on the wall clock of `timezone` (UTC when unknown): "2026-12-01 09:00 (Europe/Berlin)".
[[nodiscard]] std::string format_local(core::Instant t, const std::string& timezone);

/// A message's texts with every placeholder filled in (the HTML one escaped).
struct Rendered {
    std::string subject;
    std::string text;
    std::string html;  ///< empty: plain text only
};
[[nodiscard]] Rendered render(const config::Notify& notify, const Payload& p);

/// A file attached to a message.
struct Attachment {
    std::string filename;
    std::string content_type;
    std::string bytes;
};

/// The whole RFC 5322 message (CRLF line ends, every body part base64 so any UTF-8 is safe)
/// with the outbox's Message-ID: a resend after a crash is recognisably the same message.
[[nodiscard]] std::string mime_message(const config::Notify& notify, const std::string& to,
                                       const std::string& message_id, core::Instant date,
                                       const Rendered& content,
                                       const std::optional<Attachment>& attachment);

/// "<radsync.RANDOM@domain-of-from>".
[[nodiscard]] std::string make_message_id(const config::Notify& notify, std::string_view random);

}  // namespace radsync::notify
