#include "radsync/officernd/client.hpp"

#include <algorithm>
#include <array>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include <spdlog/logger.h>
#include <boost/url/parse.hpp>

#include "https_transport.hpp"
#include "radsync/core/json.hpp"
#include "radsync/log/log.hpp"
#include "radsync/officernd/backoff.hpp"
#include "radsync/officernd/booking_window.hpp"
#include "radsync/officernd/classify.hpp"
#include "radsync/officernd/paging.hpp"
#include "radsync/officernd/retry_after.hpp"
#include "radsync/officernd/token.hpp"
#include "radsync/officernd/token_limiter.hpp"
#include "radsync/officernd/url.hpp"

namespace radsync::officernd {

namespace {

// `radsync api` targets: far more than any real OfficeRnD path and query.
constexpr std::size_t kMaxTargetLength = 2048;

using std::chrono::milliseconds;
using std::chrono::seconds;

// After this many waits for the token allowance the request gives up: the Sleeper may return
// early (shutdown), and the client must then neither spin nor send a sixth token request.
constexpr int kMaxLimiterWaits = 2;
constexpr std::size_t kMaxIdLength = 128;

constexpr std::array<std::string_view, 10> kKinds = {
    "members", "companies", "memberships", "plans",          "locations",
    "passes",  "bookings",  "resources",   "resource-types", "visitors"};

bool valid_slug(const std::string& slug) {
    return !slug.empty() && slug.size() <= kMaxIdLength &&
           std::all_of(slug.begin(), slug.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
           });
}

long long elapsed_ms(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - since)
        .count();
}

Error internal_error(const std::exception& e) {
    return Error(Errc::kApiUnavailable,
                 std::string("OfficeRnD client internal error: ") + e.what());
}

struct CachedToken {
    std::string value;  // never logged
    core::Instant refresh_at;
    // Minted because the API refused the previous token. Until this one is accepted once,
    // another 401 is final: a missing scope is not cured by minting tokens (§7.11), and
    // the token endpoint allows only 5 requests a minute.
    bool minted_after_401 = false;
};

}  // namespace

class TokenShare {
public:
    std::mutex mu;
    std::string owner;                 // guarded by mu: the credentials and scope it is for
    std::optional<CachedToken> token;  // guarded by mu
    TokenRateLimiter limiter;          // guarded by mu
};

std::shared_ptr<TokenShare> make_token_share() {
    return std::make_shared<TokenShare>();
}

struct Client::Impl {
    Impl(ClientOptions o, const core::Clock& c, Sleeper s, Jitter j)
        : opts(std::move(o)), clock(c), sleeper(std::move(s)), jitter(std::move(j)) {
        if (!sleeper) {
            sleeper = [](milliseconds d) { std::this_thread::sleep_for(d); };
        }
        if (!jitter) {
            jitter = [] { return 0.5; };
        }
    }

    ClientOptions opts;
    const core::Clock& clock;
    Sleeper sleeper;
    Jitter jitter;
    std::shared_ptr<spdlog::logger> logger = log::get("officernd");

    bool ready = false;
    std::optional<Error> setup_error;
    Url api;        // base_url + "/" + slug
    Url token_url;  // token endpoint
    std::unique_ptr<detail::HttpsTransport> transport;
    std::shared_ptr<TokenShare> tokens = opts.tokens ? opts.tokens : make_token_share();

    void exchanged() const {
        if (opts.on_exchange) {
            opts.on_exchange();
        }
    }

    [[nodiscard]] milliseconds timeout() const {
        return std::chrono::duration_cast<milliseconds>(opts.request_timeout);
    }

    // Validates the options once; their errors are sticky (the options never change).
    Status setup() {
        if (ready) {
            return {};
        }
        if (setup_error) {
            return *setup_error;
        }
        auto fail = [&](std::string message) -> Status {
            setup_error = Error(Errc::kConfigInvalid, std::move(message));
            return *setup_error;
        };
        if (!valid_slug(opts.org_slug)) {
            return fail(
                "officernd.org_slug must be a non-empty organisation slug "
                "(letters, digits, '-', '_', '.')");
        }
        if (opts.client_id.empty() || opts.client_secret.empty()) {
            return fail("officernd client id and client secret must both be set");
        }
        if (opts.max_attempts < 1 || opts.request_timeout.count() <= 0) {
            return fail("officernd max_attempts and request_timeout must be positive");
        }
        auto base = parse_url(opts.base_url);
        if (!base) {
            return fail("officernd.base_url: " + base.error().message);
        }
        auto tok = parse_url(opts.token_url);
        if (!tok) {
            return fail("officernd.token_url: " + tok.error().message);
        }
        api = std::move(*base);
        while (api.path.size() > 1 && api.path.back() == '/') {
            api.path.pop_back();
        }
        api.path = (api.path == "/" ? "" : api.path) + "/" + opts.org_slug;
        token_url = std::move(*tok);
        auto created = detail::HttpsTransport::create({.ca_file = opts.ca_file});
        if (!created) {
            return fail(created.error().message);
        }
        transport = std::move(*created);
        share_tokens_if_same_application();
        ready = true;
        return {};
    }

    // A share serves one application and scope: a client with others (a reload that changed
    // them, guests turned on) gets a token of its own rather than one that answers 401.
    void share_tokens_if_same_application() {
        const std::string fingerprint =
            token_url.host + ":" + std::to_string(token_url.port) + token_url.path + "\n" +
            opts.client_id + "\n" + opts.scope + "\n" +
            std::to_string(std::hash<std::string>{}(opts.client_secret));
        const std::lock_guard lock(tokens->mu);
        if (tokens->owner.empty()) {
            tokens->owner = fingerprint;
        } else if (tokens->owner != fingerprint) {
            logger->debug("other credentials or scope than the shared token's: a token of its own");
            tokens = make_token_share();
            tokens->owner = fingerprint;
        }
    }

    void log_exchange(std::string_view method, std::string_view path, const detail::Exchange& ex,
                      std::chrono::steady_clock::time_point started) {
        if (ex.ok) {
            logger->debug("{} {} status={} ms={}", method, path, ex.response.status,
                          elapsed_ms(started));
        } else {
            logger->debug("{} {} failed ms={}: {}", method, path, elapsed_ms(started), ex.error);
        }
    }

    Verdict classify(Endpoint endpoint, const detail::Exchange& ex, bool may_refresh) const {
        if (!ex.ok) {
            return classify_transport(ex.failure, ex.error);
        }
        const std::string message =
            ex.response.status >= 300 ? server_message(ex.response.body) : std::string();
        return classify_status(endpoint, ex.response.status, message, may_refresh, opts.org_slug);
    }

    // How long to wait before retry number `attempt`: the server's Retry-After when it sent
    // one (up to kMaxRetryAfter), else capped exponential back-off with jitter.
    Result<milliseconds> retry_wait(const detail::Exchange& ex, int attempt, const Verdict& v,
                                    std::string_view what) {
        if (ex.ok && !ex.response.retry_after.empty()) {
            if (auto after = parse_retry_after(ex.response.retry_after, clock.now())) {
                if (*after > kMaxRetryAfter) {
                    return Error(v.code, v.message + "; Retry-After asks for " +
                                             std::to_string(after->count()) +
                                             " s, longer than the client waits in place (" +
                                             std::string(what) + ")");
                }
                return std::chrono::duration_cast<milliseconds>(*after);
            }
        }
        return delay(attempt, opts.base_backoff, opts.max_backoff, jitter());
    }

    // A token valid for a while yet, other than `refused` (one the API just refused with a
    // 401), minted when needed. The share's lock is held while minting, so a client sharing
    // it waits for that token instead of asking for its own; it is let go while waiting.
    Result<std::string> current_token(FetchReport& report, const std::string& refused) {
        std::unique_lock lock(tokens->mu);
        int limiter_waits = 0;
        for (int attempt = 1;;) {
            if (const auto& t = tokens->token;
                t && t->value != refused && clock.now() < t->refresh_at) {
                return t->value;
            }
            if (!tokens->limiter.can_request(clock.now())) {
                if (limiter_waits++ == kMaxLimiterWaits) {
                    return Error(Errc::kApiRateLimited,
                                 "OfficeRnD allows 5 token requests per minute and they are "
                                 "used up; not requesting another yet");
                }
                const auto wait = tokens->limiter.wait_needed(clock.now());
                logger->warn("token requests used up (5 per minute); waiting {} s", wait.count());
                lock.unlock();
                sleeper(std::chrono::duration_cast<milliseconds>(wait));
                lock.lock();
                continue;  // a client sharing the token may have minted one meanwhile
            }
            // Counted before sending: OfficeRnD counts failed token requests too.
            tokens->limiter.record(clock.now());
            ++report.token_requests;
            detail::HttpRequest req;
            req.method = "POST";
            req.target = token_url.path;
            req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
            req.body = token_request_body(opts.client_id, opts.client_secret, opts.scope);
            // One token an hour: a kept-alive connection would always be stale by the next
            // refresh, and a POST is not silently re-sent.
            req.reuse_connection = false;
            const auto started = std::chrono::steady_clock::now();
            const auto ex = transport->send(token_url, req, timeout());
            exchanged();
            log_exchange("POST", token_url.path, ex, started);
            const Verdict v = classify(Endpoint::kToken, ex, false);
            if (v.action == Action::kAccept) {
                auto grant = parse_token_response(ex.response.body);
                if (!grant) {
                    return Error(grant.error().code,
                                 "OfficeRnD token endpoint: " + grant.error().message);
                }
                tokens->token =
                    CachedToken{std::move(grant->access_token),
                                token_refresh_at(clock.now(), grant->expires_in), !refused.empty()};
                logger->debug("token obtained, expires_in={} s", grant->expires_in.count());
                return tokens->token->value;
            }
            if (v.action != Action::kRetry) {
                return Error(v.code, v.message);
            }
            if (attempt >= opts.max_attempts) {
                return Error(v.code, v.message + " (token request gave up after " +
                                         std::to_string(attempt) + " attempts)");
            }
            auto wait = retry_wait(ex, attempt, v, "POST " + token_url.path);
            if (!wait) {
                return wait.error();
            }
            logger->warn("token request failed ({}); retry {}/{} in {} ms", v.message, attempt,
                         opts.max_attempts - 1, wait->count());
            ++report.retries;
            lock.unlock();
            sleeper(*wait);
            lock.lock();
            ++attempt;
        }
    }

    // Whether `value` was minted because the API refused the token before it: then another
    // 401 is final (a missing scope is not cured by minting tokens, §7.11).
    bool minted_after_401(const std::string& value) {
        const std::lock_guard lock(tokens->mu);
        return tokens->token && tokens->token->value == value && tokens->token->minted_after_401;
    }

    void token_accepted(const std::string& value) {
        const std::lock_guard lock(tokens->mu);
        if (tokens->token && tokens->token->value == value) {
            tokens->token->minted_after_401 = false;
        }
    }

    // GET {api}{target_path}{query} with auth, retries and classification. `path` is relative
    // to the organisation ("/members"); the query never carries secrets but is not logged.
    Result<detail::HttpResponse> api_get(const std::string& path, const std::string& query,
                                         FetchReport& report) {
        return api_request("GET", path, query, "", report);
    }

    // A request with auth and classification. A GET is retried like any read. A POST is
    // retried only where OfficeRnD said it did nothing (429, or a 401 before the token
    // refresh): after a timeout or a 5xx it may have acted, so the caller decides, by reading
    // first, whether to send it again.
    Result<detail::HttpResponse> api_request(std::string_view method, const std::string& path,
                                             const std::string& query, const std::string& body,
                                             FetchReport& report) {
        const bool idempotent = method == "GET";
        const std::string what = std::string(method) + " " + path;
        bool refreshed = false;
        std::string refused;
        for (int attempt = 1;;) {
            auto bearer = current_token(report, refused);
            if (!bearer) {
                return bearer.error();
            }
            ++report.requests;
            detail::HttpRequest req;
            req.method = std::string(method);
            req.target = api.path + path + query;
            req.headers = {{"Authorization", "Bearer " + *bearer}};
            if (!idempotent) {
                req.headers.emplace_back("Content-Type", "application/json");
                req.body = body;
                req.reuse_connection = false;  // never silently re-sent on a fresh connection
            }
            const auto started = std::chrono::steady_clock::now();
            const auto ex = transport->send(api, req, timeout());
            exchanged();
            log_exchange(method, path, ex, started);
            const bool may_refresh = !refreshed && !minted_after_401(*bearer);
            const Verdict v = classify(Endpoint::kApi, ex, may_refresh);
            switch (v.action) {
                case Action::kAccept:
                    token_accepted(*bearer);
                    return ex.response;
                case Action::kRefreshToken:
                    logger->warn("{}: OfficeRnD refused the token (401); requesting a new one",
                                 what);
                    refreshed = true;
                    refused = *bearer;
                    continue;  // the replay does not count as an attempt
                case Action::kFail:
                    return Error(v.code, v.message + " (" + what + ")");
                case Action::kRetry:
                    break;
            }
            if (!idempotent && !(ex.ok && ex.response.status == 429)) {
                return Error(v.code, v.message + " (" + what +
                                         ", not re-sent: it may have "
                                         "been carried out)");
            }
            if (attempt >= opts.max_attempts) {
                return Error(v.code, v.message + " (" + what + ", gave up after " +
                                         std::to_string(attempt) + " attempts)");
            }
            auto wait = retry_wait(ex, attempt, v, what);
            if (!wait) {
                return wait.error();
            }
            logger->warn("{} failed ({}); retry {}/{} in {} ms", what, v.message, attempt,
                         opts.max_attempts - 1, wait->count());
            ++report.retries;
            sleeper(*wait);
            ++attempt;
        }
    }

    // Every page of one list. A malformed 200 page, or a walk whose pages do not add up (one
    // skipped, one empty mid-list), is not retried: it fails the whole fetch, so the caller
    // applies nothing rather than a snapshot missing that page's entities (which the reconciler
    // would read as "these members are gone"). The poller tries again from the first page.
    template <class Entity>
    Status fetch_list(const std::string& kind, const QueryParams& filters,
                      Result<Entity> (*parse)(const std::string&), std::vector<Entity>& out,
                      FetchReport& report) {
        PageWalk walk;
        std::unordered_map<std::string, std::size_t> index;  // id -> position in `out`
        for (;;) {
            auto query = build_page_query(filters, walk.cursor());
            if (!query) {
                return query.error();
            }
            auto res = api_get("/" + kind, *query, report);
            if (!res) {
                return res.error();
            }
            const std::string where = kind + " page " + std::to_string(walk.pages() + 1);
            auto page = parse_page(res->body);
            if (!page) {
                return Error(Errc::kMalformedPayload, where + ": " + page.error().message);
            }
            ++report.pages;
            for (std::size_t i = 0; i < page->results.size(); ++i) {
                auto entity = parse(page->results[i]);
                if (!entity) {
                    return Error(Errc::kMalformedPayload, where + " result " + std::to_string(i) +
                                                              ": " + entity.error().message);
                }
                // Ids are unique across pages of a well-behaved server; if an edit shifted a
                // page boundary mid-walk, the copy fetched last wins.
                auto [it, inserted] = index.try_emplace(entity->id, out.size());
                if (inserted) {
                    out.push_back(std::move(*entity));
                } else {
                    out[it->second] = std::move(*entity);
                }
            }
            auto step = walk.advance(*page);
            if (!step) {
                return Error(step.error().code, kind + ": " + step.error().message);
            }
            if (*step == PageStep::kDone) {
                return {};
            }
        }
    }

    Result<snapshot::Snapshot> fetch_snapshot(FetchReport& report) {
        if (auto st = setup(); !st) {
            return st.error();
        }
        snapshot::Snapshot snap;
        const QueryParams none;
        Status st = fetch_list("members", none, &snapshot::parse_member, snap.members, report);
        if (st) {
            st = fetch_list("companies", none, &snapshot::parse_company, snap.companies, report);
        }
        if (st) {
            st = fetch_list("memberships", none, &snapshot::parse_membership, snap.memberships,
                            report);
        }
        if (st) {
            st = fetch_list("plans", none, &snapshot::parse_plan, snap.plans, report);
        }
        if (st) {
            st = fetch_list("locations", none, &snapshot::parse_location, snap.locations, report);
        }
        if (st) {
            st = fetch_list("passes", none, &snapshot::parse_pass, snap.passes, report);
        }
        if (st) {
            st = fetch_list("bookings", booking_window(clock.now()), &snapshot::parse_booking,
                            snap.bookings, report);
        }
        // Which bookings give guests WiFi (the room's type), and who the guests are.
        if (st && opts.fetch_guest_data) {
            st = fetch_list("resources", none, &snapshot::parse_resource, snap.resources, report);
        }
        if (st && opts.fetch_guest_data) {
            st = fetch_list("resource-types", none, &snapshot::parse_resource_type,
                            snap.resource_types, report);
        }
        if (st && opts.fetch_guest_data) {
            st = fetch_list("visitors", none, &snapshot::parse_visitor, snap.visitors, report);
        }
        if (!st) {
            return st.error();
        }
        snap.normalise();
        return snap;
    }
};

Client::Client(ClientOptions options, const core::Clock& clock, Sleeper sleeper, Jitter jitter)
    : impl_(std::make_unique<Impl>(std::move(options), clock, std::move(sleeper),
                                   std::move(jitter))) {}

Client::~Client() = default;

Status Client::check_organization() {
    try {
        if (auto st = impl_->setup(); !st) {
            return st;
        }
        FetchReport report;
        // One location is the smallest list every application with our scopes may read.
        auto res = impl_->api_get("/locations", "?$limit=1", report);
        if (!res) {
            return res.error();
        }
        if (auto page = parse_page(res->body); !page) {
            return Error(Errc::kMalformedPayload,
                         "OfficeRnD locations list: " + page.error().message);
        }
        return {};
    } catch (const std::exception& e) {
        return internal_error(e);
    }
}

Result<snapshot::Snapshot> Client::fetch_snapshot(FetchReport& report) {
    try {
        const auto started = std::chrono::steady_clock::now();
        auto snap = impl_->fetch_snapshot(report);
        if (snap) {
            impl_->logger->debug(
                "snapshot fetched members={} companies={} memberships={} plans={} locations={} "
                "passes={} bookings={} resources={} resource_types={} visitors={} pages={} "
                "requests={} ms={}",
                snap->members.size(), snap->companies.size(), snap->memberships.size(),
                snap->plans.size(), snap->locations.size(), snap->passes.size(),
                snap->bookings.size(), snap->resources.size(), snap->resource_types.size(),
                snap->visitors.size(), report.pages, report.requests, elapsed_ms(started));
        }
        return snap;
    } catch (const std::exception& e) {
        return internal_error(e);
    }
}

Result<std::string> Client::fetch_object(const std::string& kind, const std::string& id) {
    FetchReport report;
    return fetch_object(kind, id, report);
}

Result<std::string> Client::fetch_object(const std::string& kind, const std::string& id,
                                         FetchReport& report) {
    try {
        if (std::find(kKinds.begin(), kKinds.end(), kind) == kKinds.end()) {
            return Error(Errc::kConfigInvalid, "unknown OfficeRnD entity kind \"" + kind + "\"");
        }
        if (id.empty() || id.size() > kMaxIdLength) {
            return Error(Errc::kConfigInvalid, "OfficeRnD entity id must be 1 to " +
                                                   std::to_string(kMaxIdLength) + " characters");
        }
        if (auto st = impl_->setup(); !st) {
            return st.error();
        }
        auto res = impl_->api_get("/" + kind + "/" + url_encode(id), "", report);
        if (!res) {
            return res.error();
        }
        // The single-item GET returns the bare object; check it is one before handing it on.
        if (!core::is_json_object(res->body)) {
            return Error(Errc::kMalformedPayload,
                         "OfficeRnD " + kind + "/" + id + " is not a single JSON object");
        }
        return std::move(res->body);
    } catch (const std::exception& e) {
        return internal_error(e);
    }
}

namespace {

Result<Checkin> parse_checkin(const std::string& text) {
    auto j = core::parse_json(text);
    if (!j) {
        return j.error();
    }
    auto field = [&](const char* name) -> std::string {
        auto it = j->find(name);
        return it != j->end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    Checkin c;
    c.id = field("_id");
    c.member = field("member");
    c.location = field("location");
    auto start = core::parse_instant(field("start"));
    if (c.id.empty() || !start) {
        return Error(Errc::kMalformedPayload, "a check-in needs an _id and a start");
    }
    c.start = *start;
    if (auto end = core::parse_instant(field("end"))) {
        c.end = *end;
    }
    return c;
}

std::string checkin_body(const std::string& location, const char* when, core::Instant t) {
    return nlohmann::json{{"location", location}, {when, format_iso_millis(t)}}.dump();
}

}  // namespace

Result<std::vector<Checkin>> Client::checkins(const std::string& member,
                                              const std::string& location, core::Instant from,
                                              core::Instant to) {
    try {
        if (auto st = impl_->setup(); !st) {
            return st.error();
        }
        auto query = build_page_query({{"member", member},
                                       {"location", location},
                                       {"start[$gte]", format_iso_millis(from)},
                                       {"start[$lt]", format_iso_millis(to)}},
                                      "");
        if (!query) {
            return query.error();
        }
        FetchReport report;
        auto res = impl_->api_get("/checkins", *query, report);
        if (!res) {
            return res.error();
        }
        auto page = parse_page(res->body);
        if (!page) {
            return Error(Errc::kMalformedPayload, "OfficeRnD check-ins: " + page.error().message);
        }
        std::vector<Checkin> out;
        for (const auto& text : page->results) {
            auto c = parse_checkin(text);
            if (!c) {
                return Error(Errc::kMalformedPayload, "OfficeRnD check-in: " + c.error().message);
            }
            out.push_back(std::move(*c));
        }
        return out;
    } catch (const std::exception& e) {
        return internal_error(e);
    }
}

Result<std::string> Client::check_in(const std::string& member, const std::string& location,
                                     core::Instant start) {
    try {
        if (auto st = impl_->setup(); !st) {
            return st.error();
        }
        FetchReport report;
        auto res = impl_->api_request("POST", "/checkins/" + url_encode(member), "",
                                      checkin_body(location, "start", start), report);
        if (!res) {
            return res.error();
        }
        auto c = parse_checkin(res->body);
        if (!c) {
            return Error(Errc::kMalformedPayload,
                         "OfficeRnD's answer to a check-in: " + c.error().message);
        }
        return std::move(c->id);
    } catch (const std::exception& e) {
        return internal_error(e);
    }
}

Status Client::check_out(const std::string& member, const std::string& location,
                         core::Instant end) {
    try {
        if (auto st = impl_->setup(); !st) {
            return st;
        }
        FetchReport report;
        auto res = impl_->api_request("POST", "/checkins/checkout/" + url_encode(member), "",
                                      checkin_body(location, "end", end), report);
        if (!res) {
            return res.error();
        }
        return {};
    } catch (const std::exception& e) {
        return internal_error(e);
    }
}

Result<std::string> Client::get(std::string_view target) {
    try {
        const auto parsed = boost::urls::parse_origin_form(target);
        if (!parsed || target.size() > kMaxTargetLength) {
            return Error(Errc::kConfigInvalid,
                         "expected a path such as /members or /members?email=ann@example.com");
        }
        for (const auto& segment : parsed->segments()) {
            // Decoded: "%2e%2e" is "..", and "..%2F.." would become "../.." at the server.
            if (segment == ".." || segment == "." ||
                segment.find_first_of("/\\") != std::string::npos) {
                return Error(Errc::kConfigInvalid, "the path must stay inside the organisation");
            }
        }
        if (auto st = impl_->setup(); !st) {
            return st.error();
        }
        FetchReport report;
        const std::string query =
            parsed->has_query() ? "?" + std::string(parsed->encoded_query()) : std::string();
        auto res = impl_->api_get(std::string(parsed->encoded_path()), query, report);
        if (!res) {
            return res.error();
        }
        return std::move(res->body);
    } catch (const std::exception& e) {
        return internal_error(e);
    }
}

}  // namespace radsync::officernd
