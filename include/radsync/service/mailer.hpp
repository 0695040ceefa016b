#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "radsync/config/config.hpp"
#include "radsync/metrics/registry.hpp"
#include "radsync/notify/message.hpp"
#include "radsync/notify/pacing.hpp"
#include "radsync/notify/smtp.hpp"
#include "radsync/service/store_worker.hpp"

namespace radsync::service {

/// The files a WiFi profile is made with (notify.profile), read once: the RADIUS server's CA
/// and the signing pair. Empty strings for what is not configured.
struct ProfileMaterial {
    std::string ca_pem;
    std::string signing_certificate_pem;
    std::string signing_key_pem;
    std::string signing_chain_pem;
};
/// Errc::kConfigInvalid naming the file that cannot be read.
[[nodiscard]] Result<ProfileMaterial> read_profile_material(const config::Profile& profile);

/// The .mobileconfig for the account `payload` describes: the SSIDs of its locations (else
/// notify.ssid), the password only with include_password, signed when a signing pair is
/// configured. nullopt when there is no SSID to put in it.
[[nodiscard]] Result<std::optional<std::string>> make_profile(const config::Notify& notify,
                                                              const notify::Payload& payload,
                                                              const ProfileMaterial& material);

/// Sends what the outbox holds (design.md "notify"). Each of smtp.max_connections threads
/// claims a due message from the store worker (marked sending, committed), waits for its slot
/// under smtp.rate_per_minute, renders it, hands it to the relay and records the outcome:
/// sent on the relay's 250 (payload wiped), retried with capped back-off, or parked after
/// notify.max_attempts or a permanent refusal. A crash between the 250 and that record leaves
/// the message sending; the next start sends it again, once, with the same Message-ID.
class Mailer {
public:
    /// One relay connection's send function (a SmtpSession in production).
    using Send = std::function<notify::SendResult(const notify::Envelope&)>;
    /// Makes one per sender thread.
    using TransportFactory = std::function<Send(const config::Smtp&, const std::string& password)>;

    struct Options {
        TransportFactory transport;  ///< empty: SMTP through libcurl
        /// Test hook, called on the sender thread after the relay accepted a message and
        /// before that is recorded (the window a crash costs a duplicate in).
        std::function<void(const store::OutboxMessage&)> accepted;
    };

    Mailer(StoreWorker& worker, std::shared_ptr<const config::Config> config,
           const core::Clock& clock, metrics::Registry& metrics, Options options);
    ~Mailer();
    Mailer(const Mailer&) = delete;
    Mailer& operator=(const Mailer&) = delete;

    /// Reads the relay password and the profile's signing material, then starts the threads.
    /// Errc::kConfigInvalid if a file cannot be read or the signing pair does not match.
    [[nodiscard]] Status start();
    /// Lets each thread finish the message it is sending, then joins. Idempotent.
    void stop();
    /// Thread-safe: messages were queued; look now instead of at the next poll.
    void wake();
    /// Thread-safe: the configuration for the next message (SIGHUP). Relay settings take
    /// effect when the threads reconnect.
    [[nodiscard]] Status set_config(std::shared_ptr<const config::Config> config);

private:
    struct Material {  // read from files at start and reload
        std::string relay_password;
        ProfileMaterial profile;
    };
    void run();
    /// Renders and sends one claimed message; what to record about it.
    store::OutboxSettlement deliver(const store::OutboxMessage& m, const Send& send,
                                    const config::Config& cfg, const Material& material);
    void publish_counts();
    std::shared_ptr<const config::Config> current_config();
    std::shared_ptr<const Material> current_material();

    StoreWorker& worker_;
    const core::Clock& clock_;
    metrics::Registry& metrics_;
    Options options_;
    std::shared_ptr<spdlog::logger> log_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::shared_ptr<const config::Config> config_;       // guarded by mu_
    std::shared_ptr<const Material> material_;           // guarded by mu_
    std::optional<notify::SendPacer> pacer_;             // guarded by mu_
    std::uint64_t wakes_ = 0;                            // guarded by mu_
    bool stopping_ = false;                              // guarded by mu_
    std::chrono::steady_clock::time_point counts_at_{};  // guarded by mu_
    std::vector<std::thread> threads_;
};

/// Reads a secret from a file (a systemd credential is one: $CREDENTIALS_DIRECTORY/name).
[[nodiscard]] Result<std::string> read_relay_password(const config::Smtp& smtp);

}  // namespace radsync::service
