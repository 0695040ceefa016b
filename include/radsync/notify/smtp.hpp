#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace radsync::notify {

/// How radsync reaches the operator's mail relay.
struct SmtpSettings {
    enum class Security {
        kStartTls,  ///< smtp://, then STARTTLS, required (port 587 usually)
        kSmtps,     ///< TLS from the first byte (port 465)
        kNone,      ///< cleartext; the configuration allows it for loopback relays only
    };
    std::string host;
    unsigned port = 587;
    Security security = Security::kStartTls;
    /// Extra trust anchor for the relay's certificate; the system CAs apply otherwise.
    /// Verification of the peer and its host name is always on.
    std::string ca_file;
    std::string username;  ///< AUTH only when set
    std::string password;  ///< read from a file or systemd credential by the caller
    std::chrono::seconds connect_timeout{15};
    std::chrono::seconds timeout{60};  ///< one whole message, connection included
};

/// One message as it goes over the wire: the envelope and the RFC 5322 text (CRLF lines).
struct Envelope {
    std::string from;             ///< bare address for MAIL FROM
    std::vector<std::string> to;  ///< bare addresses for RCPT TO
    std::string data;             ///< headers and body, CRLF line ends
};

/// What became of one send.
struct SendResult {
    enum class Status {
        kAccepted,   ///< the relay answered 250 to the end of DATA
        kTransient,  ///< connection, TLS, timeout or 4xx: try again later
        kPermanent,  ///< 5xx (bad recipient, refused sender, auth refused): retrying will not help
    };
    Status status = Status::kTransient;
    int smtp_code = 0;  ///< last reply code from the relay, 0 when none came
    std::string error;  ///< one line for logs and `outbox list`; never a password
};

/// An SMTP connection to the relay, kept open between messages (libcurl reuses it) and opened
/// again when the relay dropped it. Blocking; one per sender thread.
class SmtpSession {
public:
    explicit SmtpSession(SmtpSettings settings);
    ~SmtpSession();
    SmtpSession(const SmtpSession&) = delete;
    SmtpSession& operator=(const SmtpSession&) = delete;

    /// Sends one message; blocks for at most about settings.timeout. kAccepted means the relay
    /// answered 250 to the end of DATA. A timeout or a dropped connection after the data went
    /// out is kTransient although the relay may have kept the message, so a retry can deliver
    /// it twice (at least once, never silently lost). An untrusted or mismatched relay
    /// certificate is kPermanent: a configuration problem, named as such in `error`.
    /// Refused before any network, as kPermanent: data over 10 MiB, empty, or with a bare CR
    /// or LF; no recipient or more than 100; an address with control characters, spaces or
    /// angle brackets. After any failure the next send opens a new connection.
    [[nodiscard]] SendResult send(const Envelope& message);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace radsync::notify
