#include "notify_reader.hpp"

#include <set>

#include "radsync/notify/message.hpp"
#include "radsync/notify/template.hpp"
#include "text_file.hpp"

namespace radsync::config::detail {

namespace {

constexpr std::size_t kMaxTemplateBytes = 64 * 1024;

constexpr Choice<Smtp::Security> kSecurities[] = {{"starttls", Smtp::Security::kStartTls},
                                                  {"smtps", Smtp::Security::kSmtps},
                                                  {"none", Smtp::Security::kNone}};
constexpr Choice<GuestRecipients> kGuestRecipients[] = {{"visitor", GuestRecipients::kVisitor},
                                                        {"booker", GuestRecipients::kBooker},
                                                        {"both", GuestRecipients::kBoth}};
constexpr Choice<bool> kEapMethods[] = {{"peap", false}, {"ttls", true}};

bool loopback_host(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

class NotifyReader {
public:
    NotifyReader(Reader& r, const std::filesystem::path& base_dir, std::string_view main_text)
        : r_(r), base_dir_(base_dir), main_text_(main_text) {}

    std::optional<Notify> read(const Field& f) {
        const Section s(r_, f,
                        {"from", "reply_to", "organisation", "ssid", "guest_codes_to", "smtp",
                         "outbox", "templates", "profile"});
        if (!s.valid()) {
            return std::nullopt;
        }
        Notify n;
        n.origin = f.key_origin;
        const Field from = s.required("from");
        if (auto t = r_.non_empty_text(from)) {
            n.from_address = notify::bare_address(*t);
            if (n.from_address.empty() || t->find_first_of("\r\n") != std::string::npos) {
                r_.error(from, "expected an address such as \"WiFi <wifi@example.com>\", got " +
                                   in_quotes(*t));
            }
            n.from = *t;
        }
        if (const Field reply = s["reply_to"]; reply.present) {
            if (auto t = r_.non_empty_text(reply); t && notify::bare_address(*t).empty()) {
                r_.error(reply, "expected an e-mail address, got " + in_quotes(*t));
            } else if (t) {
                n.reply_to = *t;
            }
        }
        set_if(r_.non_empty_text(s["organisation"]), n.organisation);
        if (const Field ssid = s["ssid"]; ssid.present) {
            n.ssids = ssid_list(ssid);
        }
        set_if(r_.choice<GuestRecipients>(s["guest_codes_to"], kGuestRecipients), n.guest_codes_to);
        read_smtp(s.required("smtp"), n.smtp);
        const Section outbox(r_, s["outbox"], {"max_attempts", "retry_min", "retry_max"});
        set_if(r_.small_integer(outbox["max_attempts"], 1, 1000), n.max_attempts);
        set_if(r_.duration(outbox["retry_min"], seconds(1)), n.retry_min);
        set_if(r_.duration(outbox["retry_max"], seconds(1)), n.retry_max);
        if (n.retry_max < n.retry_min) {
            r_.error(outbox["retry_max"], "must not be shorter than retry_min");
        }
        read_templates(s["templates"], n);
        if (const Field p = s["profile"]; p.present) {
            n.profile = read_profile(p);
        }
        return n;
    }

private:
    std::vector<std::string> ssid_list(const Field& f) {
        std::vector<std::string> out;
        if (f.node.IsScalar()) {
            if (auto t = r_.non_empty_text(f)) {
                out.push_back(*t);
            }
            return out;
        }
        if (const auto entries = r_.list(f)) {
            for (const auto& e : *entries) {
                if (auto t = r_.non_empty_text(e)) {
                    constexpr std::size_t kMaxSsid = 32;  // IEEE 802.11: up to 32 octets
                    if (t->size() > kMaxSsid) {
                        r_.error(e, "an SSID has at most 32 bytes");
                    } else {
                        out.push_back(*t);
                    }
                }
            }
        }
        return out;
    }

    void read_smtp(const Field& f, Smtp& m) {
        const Section s(r_, f,
                        {"host", "port", "security", "ca_file", "username", "password_file",
                         "connect_timeout", "timeout", "max_connections", "rate_per_minute"});
        if (!s.valid()) {
            return;
        }
        set_if(r_.non_empty_text(s.required("host")), m.host);
        const Field security = s["security"];
        set_if(r_.choice<Smtp::Security>(security, kSecurities), m.security);
        m.port = m.security == Smtp::Security::kSmtps ? 465 : 587;
        if (auto port = r_.integer(s["port"], 1, 65535)) {
            m.port = static_cast<unsigned>(*port);
        }
        if (m.security == Smtp::Security::kNone && !m.host.empty() && !loopback_host(m.host)) {
            // Credentials must not cross a network in clear.
            r_.error(security,
                     "none (no TLS) is only allowed for a relay on a loopback address, got host " +
                         in_quotes(m.host));
        }
        set_if(r_.readable_file(s["ca_file"], base_dir_), m.ca_file);
        set_if(r_.non_empty_text(s["username"]), m.username);
        const Field password = s["password_file"];
        set_if(r_.secret_file(password, base_dir_), m.password_file);
        if (!m.username.empty() && !password.present) {
            r_.error(password, "required with username");
        } else if (m.username.empty() && password.present) {
            r_.error(password.key_origin, password.path, "only used with username");
        }
        set_if(r_.duration(s["connect_timeout"], seconds(1)), m.connect_timeout);
        set_if(r_.duration(s["timeout"], seconds(1)), m.timeout);
        set_if(r_.small_integer(s["max_connections"], 1, 16), m.max_connections);
        set_if(r_.small_integer(s["rate_per_minute"], 1, 100'000), m.rate_per_minute);
    }

    void read_templates(const Field& f, Notify& n) {
        const Section s(r_, f, {"welcome", "returning", "pass", "guest", "reset"});
        for (const MessageKind kind : kMessageKinds) {
            MessageTemplates& out = n.templates[static_cast<std::size_t>(kind)];
            out = default_templates(kind);
            const Field t = s[to_string(kind)];
            if (!t.present) {
                continue;
            }
            const Section parts(r_, t, {"subject", "text", "text_file", "html", "html_file"});
            // Returning members keep the password they had, and radsync holds only its hash.
            const std::set<std::string> refused = kind == MessageKind::kReturning
                                                      ? std::set<std::string>{"password"}
                                                      : std::set<std::string>{};
            constexpr std::string_view kWhy =
                "a returning member keeps their password, and radsync holds only its hash "
                "(`radsync accounts reset-password` sends a new one)";
            if (auto v = inline_template(parts["subject"], refused, kWhy)) {
                if (v->find_first_of("\r\n") != std::string::npos) {
                    r_.error(parts["subject"], "must be one line");
                } else {
                    out.subject = *v;
                }
            }
            read_body(parts, "text", refused, kWhy, out.text);
            read_body(parts, "html", refused, kWhy, out.html);
        }
    }

    void read_body(const Section& parts, const std::string& name,
                   const std::set<std::string>& refused, std::string_view why, std::string& out) {
        const Field inline_field = parts[name];
        const Field file_field = parts[name + "_file"];
        if (inline_field.present && file_field.present) {
            r_.error(file_field.key_origin, file_field.path,
                     "set " + name + " or " + name + "_file, not both");
            return;
        }
        if (inline_field.present) {
            set_if(inline_template(inline_field, refused, why), out);
            return;
        }
        if (!file_field.present) {
            return;
        }
        const auto path = r_.readable_file(file_field, base_dir_);
        if (!path) {
            return;
        }
        auto text = read_text_file(*path, kMaxTemplateBytes);
        if (!text) {
            r_.error(file_field, "cannot read " + in_quotes(*path) + ": " + text.error().message);
            return;
        }
        if (auto problem = notify::MessageTemplate::check(*text, refused, why)) {
            const auto at = notify::position_of(*text, problem->offset);
            r_.error(Origin{*path, at.line, at.column}, file_field.path + " (" + *path + ")",
                     problem->message);
            return;
        }
        out = std::move(*text);
    }

    /// A template written in the main file; a problem is reported where the placeholder is.
    std::optional<std::string> inline_template(const Field& f, const std::set<std::string>& refused,
                                               std::string_view why) {
        auto text = r_.text(f);
        if (!text) {
            return std::nullopt;
        }
        if (text->size() > kMaxTemplateBytes) {
            r_.error(f, "longer than " + describe_size(kMaxTemplateBytes));
            return std::nullopt;
        }
        auto problem = notify::MessageTemplate::check(*text, refused, why);
        if (!problem) {
            return text;
        }
        // The scalar starts at the node's mark; find the placeholder's own spelling from there
        // (block scalars keep it verbatim). Escaped spellings fall back to the value's start.
        Origin at = f.origin;
        const YAML::Mark mark = f.node.Mark();
        if (!mark.is_null() && mark.pos >= 0 &&
            static_cast<std::size_t>(mark.pos) <= main_text_.size()) {
            const auto found =
                main_text_.find(problem->placeholder, static_cast<std::size_t>(mark.pos));
            if (found != std::string_view::npos) {
                const auto p = notify::position_of(main_text_, found);
                at = Origin{f.origin.file, p.line, p.column};
            }
        }
        r_.error(at, f.path, problem->message);
        return std::nullopt;
    }

    Profile read_profile(const Field& f) {
        Profile p;
        p.origin = f.key_origin;
        const Section s(r_, f,
                        {"attach", "identifier", "eap", "trusted_server_names", "ca_file",
                         "include_password", "signing"});
        set_if(r_.boolean(s["attach"]), p.attach);
        if (auto id = r_.non_empty_text(s.required("identifier"))) {
            const bool dotted = id->find('.') != std::string::npos &&
                                id->find_first_of(" \t\r\n<>&\"'") == std::string::npos;
            if (!dotted) {
                r_.error(
                    s["identifier"],
                    "expected a reverse-DNS name such as com.example.wifi, got " + in_quotes(*id));
            } else {
                p.identifier = *id;
            }
        }
        set_if(r_.choice<bool>(s["eap"], kEapMethods), p.ttls);
        if (const auto names = r_.list(s["trusted_server_names"])) {
            for (const auto& e : *names) {
                if (auto t = r_.non_empty_text(e)) {
                    p.trusted_server_names.push_back(*t);
                }
            }
        }
        set_if(r_.readable_file(s["ca_file"], base_dir_), p.ca_file);
        if (p.trusted_server_names.empty() && p.ca_file.empty()) {
            // Without either, a device trusts whatever certificate it is shown on first use.
            r_.error(f.key_origin, f.path,
                     "set trusted_server_names, ca_file or both, so devices know which RADIUS "
                     "server to trust");
        }
        set_if(r_.boolean(s["include_password"]), p.include_password);
        const Section signing(r_, s["signing"], {"certificate_file", "key_file", "chain_file"});
        set_if(r_.readable_file(signing["certificate_file"], base_dir_),
               p.signing_certificate_file);
        set_if(r_.secret_file(signing["key_file"], base_dir_), p.signing_key_file);
        set_if(r_.readable_file(signing["chain_file"], base_dir_), p.signing_chain_file);
        if (p.signing_certificate_file.empty() != p.signing_key_file.empty() &&
            s["signing"].present) {
            r_.error(s["signing"], "needs both certificate_file and key_file");
        }
        return p;
    }

    Reader& r_;
    const std::filesystem::path& base_dir_;
    std::string_view main_text_;
};

}  // namespace

std::optional<Notify> read_notify(Reader& r, const Field& f, const std::filesystem::path& base_dir,
                                  std::string_view main_text) {
    return NotifyReader(r, base_dir, main_text).read(f);
}

MessageTemplates default_templates(MessageKind kind) {
    constexpr std::string_view kFooter =
        "\nradsync keeps no copy of this password. If you lose it, ask the front desk for a new "
        "one.\n";
    switch (kind) {
        case MessageKind::kWelcome:
            return {"Your WiFi access at {organisation}",
                    "Hello {name},\n\nyour WiFi account is ready.\n\n"
                    "  Network:  {ssid}\n  Username: {username}\n  Password: {password}\n\n"
                    "It works at: {locations}\n" +
                        std::string(kFooter),
                    ""};
        case MessageKind::kReturning:
            return {"Your WiFi access at {organisation} works again",
                    "Hello {name},\n\nwelcome back: your WiFi account is active again.\n\n"
                    "  Network:  {ssid}\n  Username: {username}\n\n"
                    "Your password is the one you had. If you no longer have it, ask the front "
                    "desk for a new one.\n",
                    ""};
        case MessageKind::kPass:
            return {"Your day-pass WiFi at {organisation}",
                    "Hello {name},\n\nhere is your WiFi access for your day pass.\n\n"
                    "  Network:  {ssid}\n  Username: {username}\n  Password: {password}\n\n"
                    "Valid from {valid_from} until {valid_until} at {locations}.\n",
                    ""};
        case MessageKind::kGuest:
            return {"WiFi for your visit to {organisation}",
                    "Hello,\n\nhere is the WiFi access for {name}, guest of {host} ({booking}).\n\n"
                    "  Network:  {ssid}\n  Username: {username}\n  Code:     {password}\n\n"
                    "Valid from {valid_from} until {valid_until} at {locations}.\n",
                    ""};
        case MessageKind::kReset:
            return {"Your new WiFi password at {organisation}",
                    "Hello {name},\n\nyour WiFi password was changed. Your old one no longer "
                    "works.\n\n"
                    "  Network:  {ssid}\n  Username: {username}\n  Password: {password}\n" +
                        std::string(kFooter),
                    ""};
    }
    return {};
}

}  // namespace radsync::config::detail
