#include "radsync/service/officernd_fetch.hpp"

#include <algorithm>
#include <fstream>
#include <memory>
#include <random>
#include <thread>

#include "radsync/config/loader.hpp"
#include "radsync/log/log.hpp"
#include "radsync/officernd/client.hpp"
#include "radsync/snapshot/merge.hpp"

namespace radsync::service {

Result<OfficeRndAccess> make_officernd_access(const config::Config& cfg, const core::Clock& clock,
                                              std::function<bool()> cancelled,
                                              metrics::Registry* metrics,
                                              std::optional<int> max_attempts,
                                              std::function<void()> progress,
                                              std::shared_ptr<officernd::TokenShare> tokens) {
    const auto& o = cfg.officernd;
    if (o.org_slug.empty()) {
        return Error(Errc::kConfigInvalid, "no `officernd` section: nothing to poll");
    }
    auto secret = config::read_secret_file(o.client_secret_file);
    if (!secret) {
        return secret.error();
    }
    officernd::ClientOptions options;
    options.base_url = o.base_url;
    options.org_slug = o.org_slug;
    options.token_url = o.token_url;
    options.client_id = o.client_id;
    options.client_secret = std::move(*secret);
    options.ca_file = o.ca_file;
    options.request_timeout = o.request_timeout;
    if (cfg.mapping.guests) {
        options.fetch_guest_data = true;
        options.scope += std::string(" ") + officernd::kGuestScopes;
    }
    if (cfg.sessions.checkins.enabled) {
        options.scope += std::string(" ") + officernd::kCheckinScopes;
    }
    if (max_attempts) {
        options.max_attempts = *max_attempts;
    }
    options.on_exchange = progress;
    options.tokens = std::move(tokens);
    auto rng = std::make_shared<std::mt19937>(std::random_device{}());
    auto client = std::make_shared<officernd::Client>(
        std::move(options), clock,
        [cancelled = std::move(cancelled), progress](std::chrono::milliseconds d) {
            // Waiting out a back-off or Retry-After in slices keeps shutdown prompt, and each
            // slice is progress: a long Retry-After is not a stuck thread.
            const auto until = std::chrono::steady_clock::now() + d;
            while (!cancelled() && std::chrono::steady_clock::now() < until) {
                if (progress) {
                    progress();
                }
                std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                    std::chrono::milliseconds{100}, until - std::chrono::steady_clock::now()));
            }
        },
        [rng] { return std::uniform_real_distribution<double>(0, 1)(*rng); });
    auto count = [metrics](const officernd::FetchReport& report) {
        if (metrics != nullptr) {
            metrics->add("radsync_officernd_requests_total", {{"endpoint", "api"}},
                         static_cast<double>(report.requests));
            metrics->add("radsync_officernd_requests_total", {{"endpoint", "token"}},
                         static_cast<double>(report.token_requests));
            metrics->add("radsync_officernd_retries_total", {},
                         static_cast<double>(report.retries));
        }
    };
    OfficeRndAccess access;
    access.fetch = [client, count]() -> Result<snapshot::Snapshot> {
        officernd::FetchReport report;
        auto snap = client->fetch_snapshot(report);
        count(report);
        log::get("officernd")
            ->info("fetch {} requests={} pages={} retries={} token_requests={}",
                   snap ? "complete" : "failed", report.requests, report.pages, report.retries,
                   report.token_requests);
        return snap;
    };
    access.confirm = [client, count](snapshot::Kind kind, const std::string& id) {
        using Presence = reconcile::Confirmation::Presence;
        officernd::FetchReport report;
        auto object = client->fetch_object(snapshot::list_name(kind), id, report);
        count(report);
        if (object) {
            return reconcile::Confirmation{Presence::kPresent, std::move(*object), {}};
        }
        if (object.error().code == Errc::kNotFound) {
            return reconcile::Confirmation{Presence::kGone, {}, {}};
        }
        return reconcile::Confirmation{Presence::kUnknown, {}, object.error().message};
    };
    access.check = [client] { return client->check_organization(); };
    access.get = [client](std::string_view target) { return client->get(target); };
    access.checkins = [client](const std::string& member, const std::string& location,
                               core::Instant from, core::Instant to) {
        return client->checkins(member, location, from, to);
    };
    access.check_in = [client](const std::string& member, const std::string& location,
                               core::Instant start) {
        return client->check_in(member, location, start);
    };
    access.check_out = [client](const std::string& member, const std::string& location,
                                core::Instant end) {
        return client->check_out(member, location, end);
    };
    return access;
}

}  // namespace radsync::service
