#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "radsync/config/config.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/metrics/registry.hpp"
#include "radsync/officernd/client.hpp"
#include "radsync/reconcile/vanished.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::service {

/// Blocking access to the OfficeRnD account configured by `cfg.officernd`, for one dedicated
/// thread (both functions share one client, which is not thread-safe).
struct OfficeRndAccess {
    /// Every page of every list, complete or an error; never a partial snapshot.
    std::function<Result<snapshot::Snapshot>()> fetch;
    /// One GET by id for an entity that vanished from the lists: 404 = gone.
    reconcile::Confirm confirm;
    /// officernd::Client::check_organization: Errc::kConfigInvalid for a wrong slug.
    std::function<Status()> check;
    /// officernd::Client::get: one read-only GET relative to the organisation (`radsync api`).
    std::function<Result<std::string>(std::string_view)> get;
    /// officernd::Client::checkins, check_in and check_out (sessions.checkins).
    std::function<Result<std::vector<officernd::Checkin>>(const std::string& member,
                                                          const std::string& location,
                                                          core::Instant from, core::Instant to)>
        checkins;
    std::function<Result<std::string>(const std::string& member, const std::string& location,
                                      core::Instant start)>
        check_in;
    std::function<Status(const std::string& member, const std::string& location, core::Instant end)>
        check_out;
};

/// Builds OfficeRndAccess over the API client (secret read from its file now). Retry waits end
/// early once `cancelled()` turns true, so a shutdown never sits out a back-off. With `metrics`,
/// every call counts its requests and retries (radsync_officernd_requests_total, ..._retries_).
/// `max_attempts` overrides the client's attempts per request (a quick check at start wants
/// fewer than a poll). Errc::kConfigInvalid if the section is missing; config::read_secret_file's
/// errors. `progress`, when set, is called during retry waits and after every exchange (the
/// poller's watchdog heartbeat). `tokens`, when set, is the token shared with other accesses of
/// the same daemon (officernd::TokenShare).
[[nodiscard]] Result<OfficeRndAccess> make_officernd_access(
    const config::Config& cfg, const core::Clock& clock, std::function<bool()> cancelled,
    metrics::Registry* metrics = nullptr, std::optional<int> max_attempts = std::nullopt,
    std::function<void()> progress = {}, std::shared_ptr<officernd::TokenShare> tokens = {});

}  // namespace radsync::service
