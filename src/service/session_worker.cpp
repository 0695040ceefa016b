// The session worker: FreeRADIUS's accounting database and RFC 5176 requests to the access
// points, on a thread and io_context of its own so that neither a slow NAS nor a busy
// accounting file holds up webhooks or the store worker.

#include "radsync/service/session_worker.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>

#include "radsync/config/loader.hpp"
#include "radsync/core/asio.hpp"
#include "radsync/log/log.hpp"

namespace radsync::service {

namespace {

using UdpSocket = net::ip::udp::socket::rebind_executor<DefaultTokenExecutor>::other;
using SteadyClock = std::chrono::steady_clock;

// Per change: a member with more open sessions than this has a problem a Disconnect storm will
// not solve; it is logged.
constexpr std::size_t kMaxSessionsPerUser = 64;
constexpr std::size_t kStaleBatch = 1000;

const char* request_name(radius::Code code) {
    return code == radius::Code::kCoaRequest ? "coa" : "disconnect";
}

Result<std::map<std::string, std::string>> read_secrets(const config::Sessions& sessions) {
    std::map<std::string, std::string> out;
    for (const auto& nas : sessions.nas) {
        auto secret = config::read_secret_file(nas.secret_file);
        if (!secret) {
            return Error(Errc::kConfigInvalid,
                         "sessions.nas " + nas.name + ": " + secret.error().message);
        }
        if (secret->empty()) {
            return Error(Errc::kConfigInvalid, "sessions.nas " + nas.name + ": secret file " +
                                                   nas.secret_file + " is empty");
        }
        out.emplace(nas.name, std::move(*secret));
    }
    return out;
}

// One request as it goes out: where to, what, and for which change.
struct Job {
    store::Session session;
    config::Nas nas;
    std::string secret;
    session::PlannedRequest planned;
    std::string why;
    SteadyClock::time_point applied_at;
    std::chrono::milliseconds timeout{};
    int attempts = 1;
};

}  // namespace

struct SessionWorker::Impl {
    Impl(std::shared_ptr<const config::Config> cfg, const core::Clock& c, metrics::Registry& m)
        : config(std::move(cfg)), clock(c), metrics(m) {}

    // A request waiting for its turn, and who hears of its outcome.
    struct Pending {
        Job job;
        std::function<void(DynauthOutcome)> then;
    };

    std::shared_ptr<spdlog::logger> log = log::get("session");
    std::shared_ptr<const config::Config> config;  // guarded by mu
    std::map<std::string, std::string> secrets;    // NAS name → secret; guarded by mu
    const core::Clock& clock;
    metrics::Registry& metrics;
    mutable std::mutex mu;

    net::io_context ioc{1};
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
    std::thread thread;  // started and joined by the owner's thread only
    // Whether work may still be posted; set under post_mu, so nothing is posted after the
    // stop handler (which answers everything still pending).
    std::mutex post_mu;
    bool accepting = false;

    // Worker thread only, from here on.
    std::unique_ptr<store::AccountingStore> db;
    std::mt19937 random{std::random_device{}()};
    SteadyTimer sweep_timer{ioc.get_executor()};
    SteadyTimer beat_timer{ioc.get_executor()};
    sched::Heartbeat heartbeat;  // beaten here, read by the watchdog tick
    bool stopping = false;
    std::deque<Pending> urgent;  // Disconnects: access ended
    std::deque<Pending> later;   // CoAs: new limits
    std::size_t in_flight = 0;
    std::map<std::uint64_t, std::shared_ptr<UdpSocket>> sockets;  // of the exchanges in flight
    std::uint64_t exchanges = 0;

    std::pair<std::shared_ptr<const config::Config>, std::map<std::string, std::string>> current()
        const {
        std::lock_guard lock(mu);
        return {config, secrets};
    }

    // Runs `fn` on the worker thread; false (and nothing runs) once stopping began.
    template <class Fn>
    bool post(Fn fn) {
        std::lock_guard lock(post_mu);
        if (!accepting) {
            return false;
        }
        net::post(ioc, std::move(fn));
        return true;
    }

    // --- stale sessions ---------------------------------------------------------------------

    void sweep() {
        const auto cfg = current().first;
        const core::Instant now = clock.now();
        auto closed = db->close_stale(session::stale_cutoff(now, *cfg), now, kStaleBatch);
        if (!closed) {
            log->warn("stale-session sweep failed: {}", closed.error().message);
        } else {
            for (const auto& s : *closed) {
                log->info(
                    "closed stale session user={} session={} nas={} last_heard={}s ago (no "
                    "accounting update for {} interim intervals)",
                    s.username, s.session_id, s.nas_ip,
                    std::chrono::duration_cast<std::chrono::seconds>(now - s.last_heard).count(),
                    cfg->sessions.stale_after_intervals);
            }
            metrics.add("radsync_sessions_stale_closed_total", {},
                        static_cast<double>(closed->size()));
        }
        if (auto open = db->open_session_count()) {
            metrics.set("radsync_sessions_open", {}, static_cast<double>(*open));
        } else {
            log->warn("cannot count the open sessions: {}", open.error().message);
        }
    }

    void schedule_sweep() {
        sweep_timer.expires_after(current().first->sessions.sweep_interval);
        sweep_timer.async_wait([this](boost::system::error_code ec) {
            if (!ec && !stopping) {
                sweep();
                schedule_sweep();
            }
        });
    }

    void schedule_beat() {
        heartbeat.beat();
        beat_timer.expires_after(std::chrono::seconds{1});
        beat_timer.async_wait([this](boost::system::error_code ec) {
            if (!ec && !stopping) {
                schedule_beat();
            }
        });
    }

    // --- Disconnect / CoA -------------------------------------------------------------------

    static DynauthOutcome outcome_of(const Job& job) {
        DynauthOutcome out;
        out.username = job.session.username;
        out.session_id = job.session.session_id;
        out.nas = job.nas.name;
        out.request = request_name(job.planned.code);
        out.why = job.why;
        return out;
    }

    // Sends `job`'s request and waits for a reply that decodes against it, resending the same
    // bytes (RFC 5176 §2.3: same Identifier and authenticator) after each wait. The socket is
    // closed by stop(), which ends the exchange as "shutting down".
    Task<DynauthOutcome> exchange(Job job, std::uint8_t identifier,
                                  std::shared_ptr<UdpSocket> socket) {
        using namespace net::experimental::awaitable_operators;
        DynauthOutcome out = outcome_of(job);
        const auto finish = [&](const char* result, std::string detail) {
            out.result = result;
            out.detail = std::move(detail);
            out.at = clock.now();
            out.seconds =
                std::chrono::duration<double>(SteadyClock::now() - job.applied_at).count();
            return out;
        };
        auto request = radius::encode_request(job.planned.code, identifier, job.planned.attributes,
                                              job.secret);
        if (!request) {
            co_return finish("error", request.error().message);
        }
        const auto executor = co_await net::this_coro::executor;
        boost::system::error_code ec;
        const net::ip::udp::endpoint to(net::ip::make_address_v4(job.nas.address, ec),
                                        static_cast<unsigned short>(job.nas.coa_port));
        if (!ec) {
            socket->open(net::ip::udp::v4(), ec);
        }
        if (!ec) {
            socket->connect(to, ec);
        }
        if (ec) {
            co_return finish("error", "cannot reach " + job.nas.address + ": " + ec.message());
        }
        std::array<char, 4096> buffer{};
        for (int attempt = 1; attempt <= job.attempts; ++attempt) {
            out.attempts = attempt;
            if (attempt > 1) {
                log->info("resending {} to nas={} user={} attempt={}", out.request, job.nas.name,
                          out.username, attempt);
            }
            co_await socket->async_send(net::buffer(request->bytes));
            const auto deadline = SteadyClock::now() + session::resend_wait(job.timeout, attempt);
            while (!stopping && SteadyClock::now() < deadline) {
                SteadyTimer timer(executor);
                timer.expires_at(deadline);
                // Whichever comes first; the other is cancelled and waited for, so neither
                // outlives this frame.
                auto first =
                    co_await (socket->async_receive(net::buffer(buffer)) || timer.async_wait());
                if (stopping || first.index() == 1) {
                    break;
                }
                const auto [rec, n] = std::get<0>(first);
                if (rec) {
                    // ICMP port unreachable and the like (reported once per send): nothing
                    // listens yet; the next receive waits the rest of this round out.
                    continue;
                }
                auto reply =
                    radius::decode_reply(std::string_view(buffer.data(), n), *request, job.secret);
                if (!reply) {
                    log->warn("dropped a reply from nas={} that does not match its request: {}",
                              job.nas.name, reply.error().message);
                    continue;
                }
                const bool ack = reply->code == radius::Code::kDisconnectAck ||
                                 reply->code == radius::Code::kCoaAck;
                co_return finish(ack ? "ack" : "nak",
                                 reply->error_cause
                                     ? radius::describe_error_cause(*reply->error_cause)
                                     : std::string());
            }
            if (stopping) {
                co_return finish("error", "shutting down");
            }
        }
        co_return finish("timeout",
                         "no valid answer after " + std::to_string(job.attempts) + " sends");
    }

    // Logged before it is counted, so whoever sees the count finds the line.
    void record(const DynauthOutcome& o) {
        if (o.result == "ack") {
            log->info("{} acknowledged nas={} user={} session={} attempts={} after {:.3f}s ({})",
                      o.request, o.nas, o.username, o.session_id, o.attempts, o.seconds, o.why);
            metrics.observe("radsync_dynauth_ack_seconds", o.seconds);
        } else {
            log->warn("{} {} nas={} user={} session={} attempts={} {} ({})", o.request, o.result,
                      o.nas, o.username, o.session_id, o.attempts, o.detail, o.why);
        }
        metrics.add("radsync_dynauth_requests_total",
                    {{"request", o.request}, {"result", o.result}});
    }

    // The jobs for `change`: one per open session of its user at a known NAS.
    std::vector<Job> jobs_for(const session::AccessChange& change, SteadyClock::time_point at) {
        std::vector<Job> jobs;
        const auto [cfg, nas_secrets] = current();
        auto sessions = db->open_sessions(change.username, kMaxSessionsPerUser);
        if (!sessions) {
            log->warn("cannot read the open sessions of user={}: {}", change.username,
                      sessions.error().message);
            return jobs;
        }
        if (sessions->size() == kMaxSessionsPerUser) {
            log->warn("user={} has {} or more open sessions; only the oldest {} are told ({})",
                      change.username, kMaxSessionsPerUser, kMaxSessionsPerUser, change.why);
        }
        for (const auto& s : *sessions) {
            const config::Nas* nas = session::nas_for(s, cfg->sessions);
            if (nas == nullptr) {
                log->warn(
                    "user={} session={} is at nas_ip={}, which sessions.nas does not list: it "
                    "keeps running until its Session-Timeout ({})",
                    s.username, s.session_id, s.nas_ip, change.why);
                metrics.add(
                    "radsync_dynauth_requests_total",
                    {{"request",
                      change.kind == session::AccessChange::Kind::kEnd ? "disconnect" : "coa"},
                     {"result", "no_nas"}});
                continue;
            }
            Job job;
            job.session = s;
            job.nas = *nas;
            job.secret = nas_secrets.at(nas->name);
            job.planned = session::plan_request(change, s, *nas);
            job.why = change.why;
            job.applied_at = at;
            job.timeout = cfg->sessions.request_timeout;
            job.attempts = cfg->sessions.attempts;
            jobs.push_back(std::move(job));
        }
        return jobs;
    }

    std::uint8_t next_identifier() {
        return static_cast<std::uint8_t>(std::uniform_int_distribution<int>(0, 255)(random));
    }

    static DynauthOutcome failed(const Job& job, const char* result, std::string detail,
                                 core::Instant at) {
        DynauthOutcome o = outcome_of(job);
        o.result = result;
        o.detail = std::move(detail);
        o.at = at;
        return o;
    }

    // Queues a request: Disconnects before CoAs, at most kMaxQueued waiting.
    void send(Job job, std::function<void(DynauthOutcome)> then) {
        if (stopping || urgent.size() + later.size() >= kMaxQueued) {
            auto o = failed(job, "error", stopping ? "shutting down" : "too many requests waiting",
                            clock.now());
            record(o);
            if (then) {
                then(std::move(o));
            }
            return;
        }
        auto& queue = job.planned.code == radius::Code::kCoaRequest ? later : urgent;
        queue.push_back({std::move(job), std::move(then)});
        pump();
    }

    void pump() {
        while (!stopping && in_flight < kMaxInFlight && (!urgent.empty() || !later.empty())) {
            auto& queue = urgent.empty() ? later : urgent;
            Pending next = std::move(queue.front());
            queue.pop_front();
            ++in_flight;
            const std::uint64_t id = ++exchanges;
            auto socket = std::make_shared<UdpSocket>(ioc.get_executor());
            sockets.emplace(id, socket);
            DynauthOutcome if_thrown =
                failed(next.job, "error", "the exchange failed unexpectedly", {});
            net::co_spawn(ioc, exchange(std::move(next.job), next_identifier(), socket),
                          [this, id, then = std::move(next.then), if_thrown = std::move(if_thrown)](
                              std::exception_ptr e, DynauthOutcome o) mutable {
                              --in_flight;
                              sockets.erase(id);
                              if (e) {
                                  metrics.add("radsync_unhandled_exceptions_total");
                                  o = std::move(if_thrown);
                                  o.at = clock.now();
                              }
                              record(o);
                              if (then) {
                                  then(std::move(o));
                              }
                              pump();
                          });
        }
    }

    // The stop handler: answers everything still pending, lets the exchanges in flight end
    // (their sockets closed), and lets run() return once they have.
    void shut_down() {
        stopping = true;
        sweep_timer.cancel();
        beat_timer.cancel();
        for (auto* queue : {&urgent, &later}) {
            while (!queue->empty()) {
                Pending p = std::move(queue->front());
                queue->pop_front();
                auto o = failed(p.job, "error", "shutting down", clock.now());
                record(o);
                if (p.then) {
                    p.then(std::move(o));
                }
            }
        }
        for (auto& [id, socket] : sockets) {
            boost::system::error_code ignored;
            socket->close(ignored);
        }
        work.reset();
    }
};

SessionWorker::SessionWorker(std::shared_ptr<const config::Config> config, const core::Clock& clock,
                             metrics::Registry& metrics)
    : impl_(std::make_unique<Impl>(std::move(config), clock, metrics)) {}

SessionWorker::~SessionWorker() {
    stop();
}

Status SessionWorker::start() {
    auto& m = *impl_;
    auto prepared = prepare(m.config);
    if (!prepared) {
        return prepared.error();
    }
    apply(std::move(*prepared));
    auto db = store::open_accounting_store(m.config->accounting_database);
    if (!db) {
        return db.error();
    }
    m.db = std::move(*db);
    m.work.emplace(m.ioc.get_executor());
    {
        std::lock_guard lock(m.post_mu);
        m.accepting = true;
    }
    m.thread = std::thread([&m] {
        m.sweep();
        m.schedule_sweep();
        m.schedule_beat();
        m.ioc.run();
    });
    m.log->info("accounting database {} open; {} NAS(es) for Disconnect/CoA{}",
                m.config->accounting_database, m.config->sessions.nas.size(),
                m.config->sessions.dynamic_authorization ? "" : " (dynamic_authorization off)");
    return {};
}

void SessionWorker::stop() {
    auto& m = *impl_;
    {
        std::lock_guard lock(m.post_mu);
        if (!m.accepting) {
            return;
        }
        m.accepting = false;
        net::post(m.ioc, [&m] { m.shut_down(); });
    }
    m.thread.join();
    m.db.reset();
}

Result<SessionWorker::Prepared> SessionWorker::prepare(
    std::shared_ptr<const config::Config> config) {
    auto secrets = read_secrets(config->sessions);
    if (!secrets) {
        return secrets.error();
    }
    return Prepared{std::move(config), std::move(*secrets)};
}

void SessionWorker::apply(Prepared prepared) {
    std::lock_guard lock(impl_->mu);
    impl_->config = std::move(prepared.config);
    impl_->secrets = std::move(prepared.secrets);
}

void SessionWorker::submit(std::vector<session::AccessChange> changes,
                           SteadyClock::time_point applied_at) {
    auto& m = *impl_;
    if (changes.empty()) {
        return;
    }
    m.post([&m, changes = std::move(changes), applied_at] {
        const bool on = m.current().first->sessions.dynamic_authorization;
        for (const auto& change : changes) {
            if (!on) {
                m.log->debug("user={} {}: dynamic_authorization is off", change.username,
                             change.why);
                continue;
            }
            for (auto& job : m.jobs_for(change, applied_at)) {
                m.send(std::move(job), nullptr);
            }
        }
    });
}

void SessionWorker::disconnect(std::string username, DisconnectDone done) {
    auto& m = *impl_;
    auto shared = std::make_shared<DisconnectDone>(std::move(done));
    const bool posted = m.post([&m, username = std::move(username), shared] {
        const session::AccessChange change{
            username, session::AccessChange::Kind::kEnd, "sessions disconnect", {}};
        auto jobs = m.jobs_for(change, SteadyClock::now());
        if (jobs.empty()) {
            (*shared)(std::vector<DynauthOutcome>{});
            return;
        }
        struct Gather {
            std::vector<DynauthOutcome> outcomes;
            std::size_t expected = 0;
        };
        auto gather = std::make_shared<Gather>();
        gather->expected = jobs.size();
        for (auto& job : jobs) {
            m.send(std::move(job), [gather, shared](DynauthOutcome o) {
                gather->outcomes.push_back(std::move(o));
                if (gather->outcomes.size() == gather->expected) {
                    (*shared)(std::move(gather->outcomes));
                }
            });
        }
    });
    if (!posted) {
        (*shared)(Error(Errc::kIoFailed, "the session worker is not running"));
    }
}

const sched::Heartbeat& SessionWorker::heartbeat() const {
    return impl_->heartbeat;
}

control::Answer sessions_disconnect_answer(SessionWorker& worker, const std::string& username) {
    if (username.empty()) {
        return {1, "", "radsync: name the user whose sessions to end\n"};
    }
    std::promise<Result<std::vector<DynauthOutcome>>> done;
    auto result = done.get_future();
    worker.disconnect(
        username, [&done](Result<std::vector<DynauthOutcome>> r) { done.set_value(std::move(r)); });
    auto outcomes = result.get();
    if (!outcomes) {
        return {1, "", "radsync: " + outcomes.error().message + "\n"};
    }
    if (outcomes->empty()) {
        return {1, "",
                "radsync: no open session of " + username +
                    " at a NAS in sessions.nas (see `radsync sessions list`)\n"};
    }
    std::string out;
    bool all_acked = true;
    for (const auto& o : *outcomes) {
        all_acked = all_acked && o.result == "ack";
        out += "session " + o.session_id + " at " + o.nas + ": " + o.result +
               (o.detail.empty() ? "" : " (" + o.detail + ")") + " after " +
               std::to_string(o.attempts) + " send(s)\n";
    }
    return {all_acked ? 0 : 1, out, ""};
}

}  // namespace radsync::service
