#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::officernd {

/// The read scopes guests add (officernd-api.md §3).
inline constexpr const char* kGuestScopes =
    "flex.space.resources.read flex.space.resourceTypes.read flex.community.visitors.read";
/// The scopes check-ins from presence add (officernd-api.md §5.10).
inline constexpr const char* kCheckinScopes =
    "flex.community.checkins.read flex.community.checkins.create "
    "flex.community.checkins.update";

/// A member's check-in at a location (officernd-api.md §5.10).
struct Checkin {
    std::string id;
    std::string member;
    std::string location;
    core::Instant start{};
    std::optional<core::Instant> end;  ///< none while checked in
};

/// A token and the token endpoint's allowance, shared by clients of the same credentials
/// (thread-safe): the daemon's poller and check-in worker ask for one token, not one each, and
/// together stay within OfficeRnD's 5 token requests a minute.
class TokenShare;
[[nodiscard]] std::shared_ptr<TokenShare> make_token_share();

/// How to reach one OfficeRnD organisation (API v2, client-credentials OAuth).
struct ClientOptions {
    /// v2 organisations base; the slug is appended. http:// only to loopback hosts (tests).
    std::string base_url = "https://app.officernd.com/api/v2/organizations";
    std::string org_slug;
    std::string token_url = "https://identity.officernd.com/oauth/token";
    std::string client_id;
    std::string client_secret;  ///< never logged
    std::string scope =
        "flex.community.members.read flex.community.memberships.read "
        "flex.community.companies.read flex.space.locations.read flex.billing.plans.read "
        "flex.space.passes.read flex.space.bookings.read";
    /// Also fetch resources, resource types and visitors (meeting-room guests are mapped);
    /// that needs the scopes in kGuestScopes too.
    bool fetch_guest_data = false;
    /// Extra trust anchor (PEM), e.g. a test or private CA; the system CAs always apply.
    std::string ca_file;
    /// Deadline for one HTTP exchange, connect to last body byte.
    std::chrono::seconds request_timeout{30};
    /// Sends per request, the first included (a 401-triggered token refresh does not count).
    int max_attempts = 6;
    std::chrono::milliseconds base_backoff{1000};
    std::chrono::milliseconds max_backoff{60000};
    /// Called after every HTTP exchange, answered or not (the poller's watchdog heartbeat: a
    /// long fetch is many bounded exchanges, each a sign the thread is not stuck).
    std::function<void()> on_exchange;
    /// The token to share with other clients; empty: the client's own.
    std::shared_ptr<TokenShare> tokens;
};

/// What one call cost, for logs and metrics.
struct FetchReport {
    std::size_t requests = 0;        ///< data API requests sent, retries included
    std::size_t pages = 0;           ///< list pages accepted
    std::size_t retries = 0;         ///< re-sends after a retryable failure (API and token)
    std::size_t token_requests = 0;  ///< token endpoint requests sent
};

/// Waits (injected so tests need not sleep; production = std::this_thread::sleep_for, or a
/// wait that ends early on shutdown — the client copes with a wait that returns early).
using Sleeper = std::function<void(std::chrono::milliseconds)>;
/// Jitter source in [0,1) (injected; production = a seeded std::mt19937).
using Jitter = std::function<double()>;

/// A blocking OfficeRnD v2 API client for a dedicated poller thread (never the io thread): it
/// runs its own private I/O loop inside each call. Not thread-safe; one thread uses it.
///
/// Behaviour (its pure decisions in radsync/officernd/{backoff,retry_after,token_limiter,
/// classify,paging,token,url}.hpp): TLS with certificate and host name verification;
/// keep-alive connections reused; a token cached and refreshed 60 s before it expires, never
/// more than 5 token requests per rolling minute (waiting through the Sleeper when needed); 429
/// honours Retry-After, 5xx/timeouts/connection errors back off exponentially with jitter, up
/// to max_attempts; 400 never retried; a 401 triggers one token refresh, then
/// Errc::kApiUnauthorized. No exception escapes; tokens and the client secret never reach the
/// log.
///
/// Option errors (a bad URL, plain http to a public host, an unreadable ca_file) surface as
/// Errc::kConfigInvalid from the first call.
class Client {
public:
    /// An empty `sleeper` means std::this_thread::sleep_for; an empty `jitter` means 0.5.
    Client(ClientOptions options, const core::Clock& clock, Sleeper sleeper, Jitter jitter);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// A cheap request that proves the credentials and slug work (one location).
    /// Errc::kConfigInvalid "OfficeRnD organization 'x' not found (check officernd.org_slug)"
    /// for a wrong slug; kApiUnauthorized for refused credentials or a missing scope;
    /// kApiUnavailable / kApiRateLimited when OfficeRnD cannot be reached in time.
    [[nodiscard]] Status check_organization();

    /// Every page of members, companies, memberships, plans, locations, passes, and the bookings
    /// whose start lies within [now - 1 day, now + 30 days). All or nothing: any failure
    /// (including one malformed page or entity: Errc::kMalformedPayload) returns the error and
    /// no partial snapshot. The snapshot is normalised. `report` is filled in either way.
    [[nodiscard]] Result<snapshot::Snapshot> fetch_snapshot(FetchReport& report);

    /// One entity by id, as the JSON object text OfficeRnD returned. `kind` is the API path
    /// name ("members", "companies", "memberships", "plans", "locations", "passes",
    /// "bookings"). Errc::kNotFound on 404; kConfigInvalid for an unknown kind or empty id.
    [[nodiscard]] Result<std::string> fetch_object(const std::string& kind, const std::string& id);
    /// The same, adding what the call cost to `report`.
    [[nodiscard]] Result<std::string> fetch_object(const std::string& kind, const std::string& id,
                                                   FetchReport& report);

    /// A read-only GET of `target` ("/members?email=a@b.c"), relative to the organisation, with
    /// the client's token, retries and limits: the body as OfficeRnD sent it (`radsync api`).
    /// Errc::kConfigInvalid for a target that is not an origin-form path and query (RFC 9112
    /// §3.2.1) or that leaves the organisation ("..").
    [[nodiscard]] Result<std::string> get(std::string_view target);

    /// The member's check-ins at `location` that start in [from, to) (at most 50: a day's).
    [[nodiscard]] Result<std::vector<Checkin>> checkins(const std::string& member,
                                                        const std::string& location,
                                                        core::Instant from, core::Instant to);
    /// POST /checkins/{member} {location, start}: the new check-in's id. Sent once: after a
    /// timeout or a 5xx it may exist, so the caller reads (checkins()) before sending again.
    [[nodiscard]] Result<std::string> check_in(const std::string& member,
                                               const std::string& location, core::Instant start);
    /// POST /checkins/checkout/{member} {location, end}; sent once, like check_in().
    [[nodiscard]] Status check_out(const std::string& member, const std::string& location,
                                   core::Instant end);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace radsync::officernd
