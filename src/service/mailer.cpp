#include "radsync/service/mailer.hpp"

#include "radsync/config/loader.hpp"
#include "radsync/log/log.hpp"
#include "radsync/notify/profile.hpp"

namespace radsync::service {

namespace {

using SteadyClock = std::chrono::steady_clock;
using Outcome = store::OutboxSettlement::Outcome;

// How long an idle thread waits before asking the outbox again: messages are normally
// announced (wake), this only catches retries falling due.
constexpr std::chrono::seconds kIdlePoll{5};
constexpr std::chrono::seconds kCountsEvery{2};

Result<std::string> read_pem(const std::string& path) {
    if (path.empty()) {
        return std::string();
    }
    constexpr std::size_t kMaxPem = 256 * 1024;
    auto text = config::read_text_file_bounded(path, kMaxPem);
    if (!text) {
        return Error(Errc::kConfigInvalid, "cannot read " + path + ": " + text.error().message);
    }
    return text;
}

}  // namespace

Result<std::string> read_relay_password(const config::Smtp& smtp) {
    if (smtp.username.empty()) {
        return std::string();
    }
    return config::read_secret_file(smtp.password_file);
}

Result<ProfileMaterial> read_profile_material(const config::Profile& p) {
    auto ca = read_pem(p.ca_file);
    auto cert = read_pem(p.signing_certificate_file);
    auto key = read_pem(p.signing_key_file);
    auto chain = read_pem(p.signing_chain_file);
    for (const auto* r : {&ca, &cert, &key, &chain}) {
        if (!*r) {
            return r->error();
        }
    }
    return ProfileMaterial{std::move(*ca), std::move(*cert), std::move(*key), std::move(*chain)};
}

Result<std::optional<std::string>> make_profile(const config::Notify& n,
                                                const notify::Payload& payload,
                                                const ProfileMaterial& material) {
    const config::Profile& p = *n.profile;
    notify::WifiProfile profile;
    profile.identifier = p.identifier;
    profile.organisation = n.organisation;
    profile.display_name = n.organisation.empty() ? "Wi-Fi" : n.organisation + " Wi-Fi";
    profile.ssids = payload.ssids.empty() ? n.ssids : payload.ssids;
    profile.eap = p.ttls ? notify::WifiProfile::Eap::kTtls : notify::WifiProfile::Eap::kPeap;
    profile.username = payload.username;
    if (p.include_password) {
        profile.password = payload.password;
    }
    profile.trusted_server_names = p.trusted_server_names;
    profile.ca_certificate_pem = material.ca_pem;
    if (profile.ssids.empty()) {
        return std::optional<std::string>();
    }
    auto plist = notify::mobileconfig_plist(profile);
    if (!plist) {
        return plist.error();
    }
    if (material.signing_certificate_pem.empty()) {
        return std::optional<std::string>(std::move(*plist));
    }
    auto signed_profile =
        notify::sign_profile(*plist, material.signing_certificate_pem, material.signing_key_pem,
                             material.signing_chain_pem);
    if (!signed_profile) {
        return signed_profile.error();
    }
    return std::optional<std::string>(std::move(*signed_profile));
}

Mailer::Mailer(StoreWorker& worker, std::shared_ptr<const config::Config> config,
               const core::Clock& clock, metrics::Registry& metrics, Options options)
    : worker_(worker),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)),
      log_(log::get("notify")),
      config_(std::move(config)) {
    if (!options_.transport) {
        options_.transport = [](const config::Smtp& smtp, const std::string& password) -> Send {
            notify::SmtpSettings s;
            s.host = smtp.host;
            s.port = smtp.port;
            s.security = smtp.security == config::Smtp::Security::kSmtps
                             ? notify::SmtpSettings::Security::kSmtps
                         : smtp.security == config::Smtp::Security::kNone
                             ? notify::SmtpSettings::Security::kNone
                             : notify::SmtpSettings::Security::kStartTls;
            s.ca_file = smtp.ca_file;
            s.username = smtp.username;
            s.password = password;
            s.connect_timeout = smtp.connect_timeout;
            s.timeout = smtp.timeout;
            auto session = std::make_shared<notify::SmtpSession>(std::move(s));
            return [session](const notify::Envelope& e) { return session->send(e); };
        };
    }
}

Mailer::~Mailer() {
    stop();
}

Status Mailer::set_config(std::shared_ptr<const config::Config> config) {
    if (!config->notify) {
        return Error(Errc::kConfigInvalid, "notify was removed; restart radsync to stop e-mail");
    }
    auto material = std::make_shared<Material>();
    const config::Notify& n = *config->notify;
    auto password = read_relay_password(n.smtp);
    if (!password) {
        return Error(Errc::kConfigInvalid,
                     "notify.smtp.password_file: " + password.error().message);
    }
    material->relay_password = std::move(*password);
    if (n.profile) {
        auto profile = read_profile_material(*n.profile);
        if (!profile) {
            return profile.error();
        }
        material->profile = std::move(*profile);
        if (!material->profile.signing_certificate_pem.empty()) {
            // A signing pair that does not match is found now, not in the first welcome e-mail.
            const auto& m = material->profile;
            if (auto probe = notify::sign_profile("<plist/>", m.signing_certificate_pem,
                                                  m.signing_key_pem, m.signing_chain_pem);
                !probe) {
                return Error(Errc::kConfigInvalid,
                             "notify.profile.signing: " + probe.error().message);
            }
        }
    }
    std::lock_guard lock(mu_);
    const bool rate_changed = !pacer_ || !config_->notify ||
                              config_->notify->smtp.rate_per_minute != n.smtp.rate_per_minute;
    if (rate_changed) {
        pacer_.emplace(n.smtp.rate_per_minute);
    }
    config_ = std::move(config);
    material_ = std::move(material);
    return {};
}

Status Mailer::start() {
    if (auto s = set_config(current_config()); !s) {
        return s;
    }
    const auto cfg = current_config();
    const int threads = cfg->notify->smtp.max_connections;
    log_->info("mailer started relay={}:{} connections={} rate_per_minute={}",
               cfg->notify->smtp.host, cfg->notify->smtp.port, threads,
               cfg->notify->smtp.rate_per_minute);
    for (int i = 0; i < threads; ++i) {
        threads_.emplace_back([this] { run(); });
    }
    return {};
}

void Mailer::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
    threads_.clear();
}

void Mailer::wake() {
    {
        std::lock_guard lock(mu_);
        ++wakes_;
    }
    cv_.notify_all();
}

std::shared_ptr<const config::Config> Mailer::current_config() {
    std::lock_guard lock(mu_);
    return config_;
}

std::shared_ptr<const Mailer::Material> Mailer::current_material() {
    std::lock_guard lock(mu_);
    return material_;
}

void Mailer::publish_counts() {
    {
        std::lock_guard lock(mu_);
        if (SteadyClock::now() - counts_at_ < kCountsEvery) {
            return;
        }
        counts_at_ = SteadyClock::now();
    }
    auto counts = worker_.outbox_counts();
    if (!counts) {
        return;
    }
    for (const char* status : {"pending", "sending", "parked"}) {
        const auto it = counts->find(status);
        metrics_.set("radsync_outbox_messages", {{"status", status}},
                     static_cast<double>(it == counts->end() ? 0 : it->second));
    }
}

void Mailer::run() {
    // What `send` was made with: every reload replaces it (relay settings, a rotated password),
    // and the connection is made afresh with the new one.
    std::shared_ptr<const Material> made_with;
    Send send;
    for (;;) {
        std::uint64_t seen_wakes = 0;
        {
            std::lock_guard lock(mu_);
            if (stopping_) {
                return;
            }
            seen_wakes = wakes_;
        }
        const auto cfg = current_config();
        const auto material = current_material();
        if (!send || made_with != material) {
            send = options_.transport(cfg->notify->smtp, material->relay_password);
            made_with = material;
        }
        auto claimed = worker_.outbox_claim(1);
        if (!claimed || claimed->empty()) {
            if (!claimed) {
                log_->error("outbox read failed: {}", claimed.error().message);
            }
            publish_counts();
            auto due_at = SteadyClock::now() + kIdlePoll;
            if (claimed) {
                if (auto next = worker_.outbox_next_due(); next && *next) {
                    const auto in = **next - clock_.now();
                    due_at = std::min(due_at,
                                      SteadyClock::now() + std::max(in, std::chrono::seconds{0}));
                }
            }
            std::unique_lock lock(mu_);
            cv_.wait_until(lock, due_at, [&] { return stopping_ || wakes_ != seen_wakes; });
            continue;
        }
        const store::OutboxMessage& m = claimed->front();
        {
            std::unique_lock lock(mu_);
            const auto slot = pacer_->reserve(SteadyClock::now());
            if (cv_.wait_until(lock, slot, [&] { return stopping_; })) {
                lock.unlock();
                // Not handed to the relay: due again at the next start, no attempt spent.
                (void)worker_.outbox_settle(
                    {{m.id, Outcome::kRetry, clock_.now(), "radsync stopped before sending"}});
                return;
            }
        }
        store::OutboxSettlement settlement = deliver(m, send, *cfg, *material);
        const auto recorded_from = SteadyClock::now();
        if (settlement.outcome == Outcome::kSent && options_.accepted) {
            options_.accepted(m);
        }
        if (auto s = worker_.outbox_settle({settlement}); !s) {
            // Left sending: the next start sends it again (at most once more).
            log_->error("recording message id={} failed: {}", m.id, s.error().message);
            continue;
        }
        if (settlement.outcome == Outcome::kSent) {
            metrics_.observe(
                "radsync_outbox_record_seconds",
                std::chrono::duration<double>(SteadyClock::now() - recorded_from).count());
        }
        publish_counts();
        if (settlement.outcome != Outcome::kSent) {
            send = nullptr;  // a fresh connection for the next message
        }
    }
}

store::OutboxSettlement Mailer::deliver(const store::OutboxMessage& m, const Send& send,
                                        const config::Config& cfg, const Material& material) {
    const config::Notify& n = *cfg.notify;
    store::OutboxSettlement out;
    out.id = m.id;
    const auto park = [&](std::string why) {
        out.outcome = Outcome::kPark;
        out.error = std::move(why);
        metrics_.add("radsync_outbox_deliveries_total", {{"result", "parked"}});
        log_->error("message id={} kind={} to={} parked: {}", m.id, m.kind, m.recipient, out.error);
        return out;
    };
    auto payload = notify::payload_from_json(m.payload);
    if (!payload) {
        return park(payload.error().message);
    }
    payload->username = m.username;  // as the account has it now
    const notify::Rendered content = notify::render(n, *payload);
    std::optional<notify::Attachment> attachment;
    if (n.profile && n.profile->attach) {
        auto profile = make_profile(n, *payload, material.profile);
        if (!profile) {
            return park("WiFi profile: " + profile.error().message);
        }
        if (*profile) {
            attachment = notify::Attachment{"wifi.mobileconfig", "application/x-apple-aspen-config",
                                            std::move(**profile)};
        }
    }
    notify::Envelope envelope;
    envelope.from = n.from_address;
    envelope.to = {m.recipient};
    envelope.data =
        notify::mime_message(n, m.recipient, m.message_id, clock_.now(), content, attachment);

    const auto started = SteadyClock::now();
    const notify::SendResult result = send(envelope);
    metrics_.observe("radsync_outbox_send_seconds",
                     std::chrono::duration<double>(SteadyClock::now() - started).count());
    switch (result.status) {
        case notify::SendResult::Status::kAccepted:
            out.outcome = Outcome::kSent;
            metrics_.add("radsync_outbox_deliveries_total", {{"result", "sent"}});
            log_->info("message sent id={} kind={} to={} attempt={}", m.id, m.kind, m.recipient,
                       m.attempts);
            return out;
        case notify::SendResult::Status::kPermanent:
            return park(result.error);
        case notify::SendResult::Status::kTransient:
            break;
    }
    if (m.attempts >= n.max_attempts) {
        return park("gave up after " + std::to_string(m.attempts) + " attempts: " + result.error);
    }
    out.outcome = Outcome::kRetry;
    out.error = result.error;
    out.retry_at = clock_.now() + notify::retry_delay(m.attempts, n.retry_min, n.retry_max);
    metrics_.add("radsync_outbox_deliveries_total", {{"result", "retried"}});
    log_->warn("message id={} kind={} to={} attempt={} failed, retrying at {}: {}", m.id, m.kind,
               m.recipient, m.attempts, core::format_instant(out.retry_at), result.error);
    return out;
}

}  // namespace radsync::service
