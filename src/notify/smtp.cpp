// SMTP submission through libcurl's easy interface. One easy handle lives as long as the session
// so that its connection cache keeps the relay's connection open between messages; after any
// failure the handle is thrown away, so the next message starts a fresh SMTP session instead of
// reusing a connection in an unknown state.

#include "radsync/notify/smtp.hpp"

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include "radsync/log/log.hpp"

namespace radsync::notify {

namespace {

using SendStatus = SendResult::Status;

constexpr std::size_t kMaxMessageBytes = 10 * 1024 * 1024;
// RFC 5321 4.5.3.1.8: a relay must accept at least 100 recipients per message.
constexpr std::size_t kMaxRecipients = 100;
// RFC 5321 4.5.3.1.3: a path is at most 256 octets, the angle brackets included.
constexpr std::size_t kMaxAddressBytes = 254;
constexpr std::size_t kMaxHostBytes = 253;
constexpr std::size_t kMaxReplyBytes = 200;

// curl_global_init is not thread-safe and must finish before the first handle exists. There is
// deliberately no curl_global_cleanup: sessions may live until exit, on any thread.
CURLcode global_init() {
    static std::once_flag once;
    static CURLcode result = CURLE_OK;
    std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
    return result;
}

struct EasyDeleter {
    void operator()(CURL* handle) const noexcept { curl_easy_cleanup(handle); }
};
struct SlistDeleter {
    void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

/// The message being uploaded; curl pulls it through read_upload().
struct Upload {
    std::string_view data;
    std::size_t offset = 0;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t nitems, void* userdata) {
    auto* upload = static_cast<Upload*>(userdata);
    const std::size_t n = std::min(size * nitems, upload->data.size() - upload->offset);
    std::memcpy(buffer, upload->data.data() + upload->offset, n);
    upload->offset += n;
    return n;
}

/// Printable ASCII only, at most `limit` bytes: relay replies and curl's messages end up in logs
/// and in `outbox list`, one line each.
std::string one_line(std::string_view text, std::size_t limit) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    std::string out;
    out.reserve(std::min(text.size(), limit));
    for (const char c : text.substr(0, limit)) {
        out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    }
    return out;
}

// Keeps the relay's last refusal (4xx/5xx line), which says far more than curl's "RCPT failed:
// 550": the reason, often an enhanced status code. Later lines must not overwrite it: after a
// refusal curl sends QUIT, and "221 Bye" explains nothing. Only lines *from* the relay are
// looked at, since what curl sends (CURLINFO_HEADER_OUT) includes AUTH PLAIN's credentials.
int on_debug(CURL*, curl_infotype type, char* data, std::size_t size, void* userdata) {
    if (type == CURLINFO_HEADER_IN && size > 0 && (data[0] == '4' || data[0] == '5')) {
        *static_cast<std::string*>(userdata) = one_line({data, size}, kMaxReplyBytes);
    }
    return 0;
}

// An address goes into "MAIL FROM:<...>" / "RCPT TO:<...>" verbatim, so CR, LF or a '>' in it
// would let its author add SMTP commands of their own.
bool valid_address(std::string_view address) {
    if (address.empty() || address.size() > kMaxAddressBytes) {
        return false;
    }
    return std::none_of(address.begin(), address.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x21 || u == 0x7f || c == '<' || c == '>';
    });
}

bool valid_host(std::string_view host) {
    if (host.empty() || host.size() > kMaxHostBytes) {
        return false;
    }
    return std::all_of(host.begin(), host.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_' || c == ':';
    });
}

/// Where a lone CR or LF sits in `data`, or npos. Relays disagree on what a bare LF means, and
/// that disagreement is what SMTP smuggling exploits ("\n.\n" ending the message early for one
/// hop only), so the session sends CRLF-only text or nothing.
std::size_t bare_line_break(std::string_view data) {
    for (std::size_t i = 0; i < data.size(); ++i) {
        if (data[i] == '\r' && (i + 1 == data.size() || data[i + 1] != '\n')) {
            return i;
        }
        if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')) {
            return i;
        }
    }
    return std::string_view::npos;
}

SendResult refuse(std::string error) {
    return SendResult{.status = SendStatus::kPermanent, .smtp_code = 0, .error = std::move(error)};
}

}  // namespace

struct SmtpSession::Impl {
    SmtpSettings settings;
    std::string url;
    std::string config_error;  // set when the settings can never work; every send reports it
    SlistPtr recipients;
    Upload upload;
    std::string last_refusal;
    std::array<char, CURL_ERROR_SIZE> error_buffer{};
    std::shared_ptr<spdlog::logger> log = radsync::log::get("notify");
    // Last, so it is destroyed first: curl_easy_cleanup still says QUIT, and its callbacks and
    // error buffer point at the members above.
    EasyPtr handle;

    explicit Impl(SmtpSettings s) : settings(std::move(s)) {
        if (!valid_host(settings.host)) {
            config_error =
                fmt::format("invalid relay host name \"{}\"", one_line(settings.host, 64));
        } else if (settings.port == 0 || settings.port > 65535) {
            config_error = fmt::format("invalid relay port {}", settings.port);
        }
        const bool ipv6 = settings.host.find(':') != std::string::npos;
        url = fmt::format("{}://{}{}{}:{}",
                          settings.security == SmtpSettings::Security::kSmtps ? "smtps" : "smtp",
                          ipv6 ? "[" : "", settings.host, ipv6 ? "]" : "", settings.port);
    }

    /// A new easy handle with everything that stays the same from message to message.
    CURLcode open() {
        handle.reset(curl_easy_init());
        if (!handle) {
            return CURLE_OUT_OF_MEMORY;
        }
        CURL* h = handle.get();
        CURLcode rc = CURLE_OK;
        // curl_easy_setopt is variadic: every integer argument below must be a long.
        const auto set = [&](CURLoption option, auto value) {
            if (rc == CURLE_OK) {
                rc = curl_easy_setopt(h, option, value);
            }
        };
        error_buffer[0] = '\0';
        set(CURLOPT_ERRORBUFFER, error_buffer.data());
        // Several sender threads: curl must not use SIGALRM for DNS timeouts.
        set(CURLOPT_NOSIGNAL, 1L);
        set(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        // The relay is addressed directly; an ALL_PROXY in the daemon's environment must not
        // silently reroute mail carrying credentials.
        set(CURLOPT_PROXY, "");
        if (settings.security == SmtpSettings::Security::kStartTls) {
            set(CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
        }
        set(CURLOPT_SSL_VERIFYPEER, 1L);
        set(CURLOPT_SSL_VERIFYHOST, 2L);
        set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
        if (!settings.ca_file.empty()) {
            set(CURLOPT_CAINFO, settings.ca_file.c_str());
        }
        if (!settings.username.empty()) {
            set(CURLOPT_USERNAME, settings.username.c_str());
            set(CURLOPT_PASSWORD, settings.password.c_str());
        }
        // 0 would mean "no limit" to curl; a send is always bounded in time.
        set(CURLOPT_CONNECTTIMEOUT,
            std::max(1L, static_cast<long>(settings.connect_timeout.count())));
        const long timeout = std::max(1L, static_cast<long>(settings.timeout.count()));
        set(CURLOPT_TIMEOUT, timeout);
        // CURLOPT_TIMEOUT does not cover the QUIT curl sends when it closes a connection (after
        // a refusal, or in curl_easy_cleanup); that wait is bounded by this one, 120 s if unset.
        set(CURLOPT_SERVER_RESPONSE_TIMEOUT, timeout);
        // CURLOPT_MAIL_RCPT_ALLLOWFAILS stays off (its default): one refused recipient fails
        // the whole message rather than delivering it to the others only.
        set(CURLOPT_UPLOAD, 1L);
        set(CURLOPT_READFUNCTION, &read_upload);
        set(CURLOPT_READDATA, &upload);
        // VERBOSE only feeds on_debug (nothing reaches stderr while a debug function is set).
        set(CURLOPT_DEBUGFUNCTION, &on_debug);
        set(CURLOPT_DEBUGDATA, &last_refusal);
        set(CURLOPT_VERBOSE, 1L);
        if (rc != CURLE_OK) {
            handle.reset();
        }
        return rc;
    }

    /// Forgets the handle and its connection. curl 7.88 keeps a connection whose reply timed
    /// out (the relay may still answer the old command), and closing it politely would wait
    /// for the relay to answer QUIT: shutting the socket down first makes that QUIT fail at
    /// once. curl still owns the descriptor and closes it in curl_easy_cleanup.
    void drop_connection() {
        curl_socket_t fd = CURL_SOCKET_BAD;
        if (curl_easy_getinfo(handle.get(), CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
            fd != CURL_SOCKET_BAD) {
            ::shutdown(fd, SHUT_RDWR);
        }
        handle.reset();
        recipients.reset();
    }

    SendResult send(const Envelope& message) {
        if (!config_error.empty()) {
            return refuse(config_error);
        }
        if (message.data.size() > kMaxMessageBytes) {
            return refuse(fmt::format("message of {} bytes exceeds the {} byte limit",
                                      message.data.size(), kMaxMessageBytes));
        }
        if (message.data.empty()) {
            return refuse("empty message");
        }
        if (const auto at = bare_line_break(message.data); at != std::string_view::npos) {
            return refuse(fmt::format("message has a bare CR or LF at byte {}", at));
        }
        if (!valid_address(message.from)) {
            return refuse("invalid sender address");
        }
        if (message.to.empty() || message.to.size() > kMaxRecipients) {
            return refuse(
                fmt::format("{} recipients; 1 to {} allowed", message.to.size(), kMaxRecipients));
        }
        SlistPtr rcpts;
        for (const auto& to : message.to) {
            if (!valid_address(to)) {
                return refuse("invalid recipient address");
            }
            curl_slist* grown = curl_slist_append(rcpts.get(), fmt::format("<{}>", to).c_str());
            if (grown == nullptr) {
                return classify(CURLE_OUT_OF_MEMORY, 0);
            }
            (void)rcpts.release();  // curl_slist_append returned the same list, now longer
            rcpts.reset(grown);
        }

        if (const CURLcode init = global_init(); init != CURLE_OK) {
            return classify(init, 0);
        }
        if (!handle) {
            if (const CURLcode rc = open(); rc != CURLE_OK) {
                return classify(rc, 0);  // an option this libcurl lacks: permanent
            }
        }
        CURL* h = handle.get();
        upload = Upload{message.data, 0};
        last_refusal.clear();
        error_buffer[0] = '\0';
        const std::string from = fmt::format("<{}>", message.from);
        CURLcode rc = curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        if (rc == CURLE_OK) {
            rc = curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
        }
        if (rc == CURLE_OK) {
            rc = curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts.get());
        }
        if (rc == CURLE_OK) {
            rc = curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                                  static_cast<curl_off_t>(message.data.size()));
        }
        // The handle holds the list until the next send replaces it.
        recipients = std::move(rcpts);
        const auto started = std::chrono::steady_clock::now();
        if (rc == CURLE_OK) {
            rc = curl_easy_perform(h);
        }
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - started);

        long code = 0;
        long new_connections = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &new_connections);
        SendResult result = classify(rc, code);
        if (result.status != SendStatus::kAccepted) {
            // Whatever state the SMTP conversation was left in, the next message starts over.
            drop_connection();
        }
        log->debug(
            "smtp send status={} smtp_code={} recipients={} bytes={} new_connection={} "
            "took_ms={}{}{}",
            result.status == SendStatus::kAccepted    ? "accepted"
            : result.status == SendStatus::kTransient ? "transient"
                                                      : "permanent",
            result.smtp_code, message.to.size(), message.data.size(), new_connections, took.count(),
            result.error.empty() ? "" : " error=", result.error);
        return result;
    }

    /// One line for logs: curl's wording, its detail, then what the relay said.
    std::string describe(CURLcode rc, long code) const {
        std::string out = curl_easy_strerror(rc);
        if (const std::string detail = one_line(error_buffer.data(), CURL_ERROR_SIZE);
            !detail.empty()) {
            out += ": " + detail;
        }
        // A 2xx/3xx code is only the last step that went well (the greeting, say): noise here.
        if (code >= 400) {
            // The captured line is only quoted when it is the reply the code came from.
            if (last_refusal.rfind(std::to_string(code), 0) == 0) {
                out += fmt::format(" (relay: \"{}\")", last_refusal);
            } else {
                out += fmt::format(" (SMTP {})", code);
            }
        }
        return out;
    }

    SendResult classify(CURLcode rc, long code) const {
        SendResult r{
            .status = SendStatus::kTransient, .smtp_code = static_cast<int>(code), .error = {}};
        if (rc == CURLE_OK) {
            // curl reports success only after the relay's 250 to the end of DATA.
            r.status = SendStatus::kAccepted;
            return r;
        }
        r.error = describe(rc, code);
        if (code >= 500 && code < 600) {
            // A refused sender or recipient (MAIL/RCPT: CURLE_SEND_ERROR), refused credentials
            // (535: CURLE_LOGIN_DENIED), a refused message (end of DATA: CURLE_WEIRD_SERVER_REPLY).
            r.status = SendStatus::kPermanent;
            return r;
        }
        if (code >= 400 && code < 500) {
            r.status = SendStatus::kTransient;  // the relay itself says "later"
            return r;
        }
        switch (rc) {
            case CURLE_PEER_FAILED_VERIFICATION:
                // An untrusted or mismatched certificate does not fix itself; the operator must
                // look, so this fails the message rather than retrying it quietly.
                r.status = SendStatus::kPermanent;
                r.error =
                    "relay certificate not trusted or not for this host (a configuration "
                    "problem: check host and ca_file): " +
                    r.error;
                return r;
            case CURLE_SSL_CACERT_BADFILE:
                r.status = SendStatus::kPermanent;
                r.error = "ca_file cannot be used: " + r.error;
                return r;
            case CURLE_LOGIN_DENIED:
                // Without a 4xx/5xx, curl found no AUTH mechanism it shares with the relay.
                r.status = SendStatus::kPermanent;
                return r;
            case CURLE_URL_MALFORMAT:
            case CURLE_UNSUPPORTED_PROTOCOL:
            case CURLE_NOT_BUILT_IN:
            case CURLE_UNKNOWN_OPTION:
            case CURLE_BAD_FUNCTION_ARGUMENT:
                r.status = SendStatus::kPermanent;  // this build or these settings can never work
                return r;
            default:
                // Connection refused or reset, DNS, timeouts, TLS handshake failures, a relay
                // without STARTTLS (CURLE_USE_SSL_FAILED): the next attempt may well succeed.
                r.status = SendStatus::kTransient;
                return r;
        }
    }
};

SmtpSession::SmtpSession(SmtpSettings settings)
    : impl_(std::make_unique<Impl>(std::move(settings))) {}

SmtpSession::~SmtpSession() = default;

SendResult SmtpSession::send(const Envelope& message) {
    return impl_->send(message);
}

}  // namespace radsync::notify
