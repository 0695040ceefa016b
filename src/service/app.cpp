// Composition root for `radsync serve`: the only file that knows every concrete type.

#include "radsync/service/app.hpp"

#include <atomic>
#include <charconv>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <systemd/sd-daemon.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "radsync/config/loader.hpp"
#include "radsync/control/channel.hpp"
#include "radsync/control/instance_lock.hpp"
#include "radsync/core/asio.hpp"
#include "radsync/http/server.hpp"
#include "radsync/log/log.hpp"
#include "radsync/mapping/credentials.hpp"
#include "radsync/metrics/registry.hpp"
#include "radsync/sched/watchdog.hpp"
#include "radsync/service/checkin_worker.hpp"
#include "radsync/service/mailer.hpp"
#include "radsync/service/officernd_fetch.hpp"
#include "radsync/service/poller.hpp"
#include "radsync/service/session_worker.hpp"
#include "radsync/service/store_worker.hpp"
#include "radsync/session/plan.hpp"
#include "radsync/webhook/envelope.hpp"
#include "radsync/webhook/verifier.hpp"

namespace radsync::service {

namespace {

/// The route OfficeRnD is configured to POST to.
constexpr std::string_view kWebhookPath = "/officernd/webhook";
constexpr std::chrono::seconds kShutdownGrace{10};

Result<std::shared_ptr<const webhook::Verifier>> make_verifier(const config::Webhook& cfg) {
    std::vector<webhook::Secret> secrets;
    for (const auto& file : cfg.secret_files) {
        auto s = config::read_secret_file(file);
        if (!s) {
            return s.error();
        }
        secrets.emplace_back(std::move(*s));
    }
    return std::make_shared<const webhook::Verifier>(std::move(secrets), cfg.tolerance_past,
                                                     cfg.tolerance_future);
}

/// Wakes a coroutine on its own executor when the store worker finishes with an event.
template <class CompletionToken>
auto async_ingest(StoreWorker& worker, store::InboxEvent event, CompletionToken&& token) {
    using Outcome = Result<StoreWorker::Ingest>;
    return net::async_initiate<CompletionToken, void(Outcome)>(
        [&worker](auto handler, store::InboxEvent ev) {
            auto executor = net::get_associated_executor(handler);
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            worker.ingest(std::move(ev), [executor, shared](Outcome r) {
                net::post(executor,
                          [shared, r = std::move(r)]() mutable { (*shared)(std::move(r)); });
            });
        },
        token, std::move(event));
}

std::string_view path_of(const std::string& target) {
    std::string_view t(target);
    return t.substr(0, t.find('?'));
}

http::Response status_only(unsigned status) {
    http::Response r;
    r.status = status;
    return r;
}

/// Logs externally triggered failures at most once per interval, counting what it dropped
/// (a flood of bad signatures must not flood the journal).
class LimitedLog {
public:
    explicit LimitedLog(std::chrono::seconds interval) : interval_(interval) {}
    template <class... Args>
    void warn(const std::shared_ptr<spdlog::logger>& log, fmt::format_string<Args...> f,
              Args&&... args) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_ < interval_) {
            ++suppressed_;
            return;
        }
        last_ = now;
        log->warn(f, std::forward<Args>(args)...);
        if (suppressed_ > 0) {
            log->warn("suppressed {} similar messages", suppressed_);
            suppressed_ = 0;
        }
    }

private:
    std::chrono::seconds interval_;
    std::chrono::steady_clock::time_point last_{};
    std::uint64_t suppressed_ = 0;
};

class App {
public:
    App(config::Config cfg, ServeOptions options)
        : config_(std::make_shared<const config::Config>(std::move(cfg))),
          options_(std::move(options)),
          log_(log::get("service")),
          webhook_log_(log::get("webhook")),
          signals_(ioc_, SIGINT, SIGTERM),
          reload_signal_(ioc_, SIGHUP),
          reconcile_signal_(ioc_, SIGUSR1) {}

    int run() {
        // One writer per installation: a command that writes with no daemon running holds
        // this lock, and the daemon waits for it rather than write behind it.
        auto lock = control::InstanceLock::try_acquire(config_->state_database);
        if (!lock && lock.error().code == Errc::kConflict) {
            log_->warn("waiting: {}", lock.error().message);
            // `systemctl status` shows why the start takes long (a reconcile run by hand).
            sd_notify(0, "STATUS=waiting for a radsync command that holds the instance lock");
            lock = control::InstanceLock::acquire(config_->state_database);
        }
        if (!lock) {
            log_->error("start-up failed: {}", lock.error().message);
            return 1;
        }
        lock_.emplace(std::move(*lock));

        if (config_->webhook) {
            auto verifier = make_verifier(*config_->webhook);
            if (!verifier) {
                log_->error("start-up failed: {}", verifier.error().message);
                return 1;
            }
            verifier_ = *verifier;
        }

        store::OpenOptions open_options;
        open_options.secret_properties = config_->accounts.secret_properties();
        auto stores = store::open_sqlite_stores({config_->radius_database, config_->state_database},
                                                open_options);
        if (!stores) {
            log_->error("start-up failed: {}", stores.error().message);
            return 1;
        }

        StoreWorker::Options worker_options;
        worker_options.process_events = options_.process_events;
        worker_ =
            std::make_unique<StoreWorker>(std::move(*stores), config_, clock_,
                                          mapping::generate_password, metrics_, worker_options);
        if (config_->notify) {
            Mailer::Options mail_options;
            if (options_.hold_after_accept.count() > 0) {
                mail_options.accepted =
                    [hold = options_.hold_after_accept](const store::OutboxMessage&) {
                        std::this_thread::sleep_for(hold);
                    };
            }
            mailer_ = std::make_unique<Mailer>(*worker_, config_, clock_, metrics_,
                                               std::move(mail_options));
            worker_->on_messages_queued([this] { mailer_->wake(); });
        }
        sessions_ = std::make_unique<SessionWorker>(config_, clock_, metrics_);
        if (auto s = sessions_->start(); !s) {
            log_->error("start-up failed: {}", s.error().message);
            return s.error().code == Errc::kConfigInvalid ? kExitConfigError : 1;
        }
        worker_->on_rows_applied([this](const std::vector<reconcile::RowChange>& changes,
                                        const std::vector<store::RadRow>& memberships,
                                        const config::Config& cfg) {
            sessions_->submit(
                session::access_changes(changes, mapping::group_rows(cfg), memberships),
                std::chrono::steady_clock::now());
        });
        if (auto s = worker_->start(); !s) {
            log_->error("start-up failed: {}", s.error().message);
            return 1;
        }
        if (config_->sessions.checkins.enabled) {
            checkins_ = std::make_unique<CheckinWorker>(
                config_, clock_, metrics_, [this] { return worker_->presence_directory(); },
                token_share_);
            if (auto s = checkins_->start(); !s) {
                log_->error("start-up failed: {}", s.error().message);
                worker_->stop();
                return s.error().code == Errc::kConfigInvalid ? kExitConfigError : 1;
            }
        }
        if (mailer_) {
            if (auto s = mailer_->start(); !s) {
                log_->error("start-up failed: {}", s.error().message);
                worker_->stop();
                return kExitConfigError;
            }
        }

        if (config_->webhook) {
            auto webhook_server = http::Server::create(
                ioc_, webhook_options(*config_->webhook),
                [this](http::Request req) { return handle_webhook(std::move(req)); });
            if (!webhook_server) {
                log_->error("start-up failed: {}", webhook_server.error().message);
                worker_->stop();
                return 1;
            }
            webhook_server_ = std::move(*webhook_server);
        }

        http::ServerOptions metrics_opts;
        metrics_opts.name = "metrics";
        metrics_opts.address = config_->metrics.listen_address;
        metrics_opts.port = config_->metrics.listen_port;
        metrics_opts.limits.body_bytes = 1024;
        auto metrics_server = http::Server::create(
            ioc_, metrics_opts, [this](http::Request req) { return handle_ops(std::move(req)); });
        if (!metrics_server) {
            log_->error("start-up failed: {}", metrics_server.error().message);
            worker_->stop();
            return 1;
        }
        metrics_server_ = std::move(*metrics_server);

        auto control_server = control::Server::open(
            config_->control,
            [this](const control::Request& req, std::string payload, const control::Peer&) {
                return handle_control(req, std::move(payload));
            });
        if (!control_server) {
            // A missing directory or unknown group is the configuration's to fix: restarting
            // cannot help.
            log_->error("start-up failed: {} (set control.socket, or create its directory)",
                        control_server.error().message);
            worker_->stop();
            return kExitConfigError;
        }
        control_ = std::move(*control_server);

        // Polling is the fallback that repairs lost webhooks. Without an `officernd` section the
        // daemon still serves webhooks (and says so).
        if (!config_->officernd.org_slug.empty()) {
            auto access = make_officernd_access(
                *config_, clock_, [this] { return stopping_.load(); }, &metrics_, std::nullopt,
                poller_progress(), token_share_);
            if (!access) {
                log_->error("start-up failed: {}", access.error().message);
                worker_->stop();
                return 1;
            }
            sched::Policy policy;
            policy.interval = config_->sync.interval;
            Poller::Source source{std::move(access->fetch), std::move(access->confirm),
                                  static_cast<std::size_t>(config_->sync.confirm_vanished)};
            poller_ = std::make_unique<Poller>(std::move(source), *worker_, policy, metrics_);
        } else {
            log_->warn("no officernd section: webhooks only, no initial import or polling");
        }

        if (webhook_server_) {
            webhook_server_->start();
        } else {
            log_->info("no webhook section: polling only");
        }
        metrics_server_->start();
        control_->start();
        const auto* wh = config_->webhook ? &*config_->webhook : nullptr;
        log_->info(
            "serving webhook={} metrics=http://{}:{} control={}",
            wh == nullptr ? std::string("off")
                          : fmt::format("{}://{}:{}{}", wh->plain_http ? "http" : "https",
                                        wh->listen_address, webhook_server_->port(), kWebhookPath),
            config_->metrics.listen_address, metrics_server_->port(), config_->control.socket);
        // READY once the configuration is loaded, the databases migrated and the listeners
        // bound; never after anything OfficeRnD does: the database already holds the last
        // known good rows, and a slow OfficeRnD must not fail the start.
        sd_notify(0, "READY=1");
        if (poller_) {
            // The organization check, then the initial import, on their own threads.
            // Its own copy of the configuration: a reload replaces config_ on the io thread.
            org_check_ = std::thread([this, cfg = config_] { check_then_poll(*cfg); });
        }
        supervise();
        if (options_.stall_store_worker.count() > 0) {
            stall_timer_.expires_after(std::chrono::seconds{2});
            stall_timer_.async_wait([this](boost::system::error_code ec) {
                if (!ec) {
                    worker_->stall_for_test(options_.stall_store_worker);
                }
            });
        }

        signals_.async_wait([this](boost::system::error_code ec, int signo) {
            if (!ec) {
                log_->info("signal received signo={}, draining", signo);
                net::co_spawn(ioc_, shutdown(), net::detached);
            }
        });
        watch_reload();
        watch_reconcile_signal();
        ioc_.run();
        if (org_check_.joinable()) {
            org_check_.join();
        }
        log_->info("stopped");
        return exit_code_;
    }

private:
    // The poll waits for the check: one retry for a blip, no more (the poller goes on retrying
    // with its back-off). Webhooks are served meanwhile: they only reach the inbox.
    static constexpr std::chrono::seconds kStartCheckBudget{20};
    static constexpr int kStartCheckAttempts = 2;

    // On its own thread after READY: a wrong organization would only ever fail, so it stops
    // the daemon with the status systemd does not restart on; anything else (OfficeRnD
    // unreachable) serves the rows already in the database while the poller retries.
    void check_then_poll(const config::Config& cfg) {
        if (const auto refused = check_officernd(cfg)) {
            net::post(ioc_, [this, code = *refused] {
                exit_code_ = code;
                net::co_spawn(ioc_, shutdown(), net::detached);
            });
            return;
        }
        // Under the lock shutdown() stops the poller with: either it is started before and
        // stopped there, or shutdown has begun and it never starts.
        const std::lock_guard lock(poller_start_mu_);
        if (!stopping_) {
            poller_->start();  // the initial import runs at once, on the poller's thread
            poller_started_ = true;
        }
    }

    std::function<void()> poller_progress() {
        return [this] {
            if (poller_) {
                poller_->progress();
            }
        };
    }

    // Every tick on the io thread (which proves the I/O loop turns): WATCHDOG=1 only if the
    // store worker and the poller beat within their limits too, and STATUS= for `systemctl
    // status`. Without WatchdogSec= the tick still logs a stuck thread and refreshes STATUS.
    void supervise() {
        std::uint64_t usec = 0;
        watchdog_ = sd_watchdog_enabled(0, &usec) > 0 ? std::chrono::microseconds{usec}
                                                      : std::chrono::microseconds{0};
        if (watchdog_.count() > 0) {
            log_->info("watchdog every {} ms (WatchdogSec={} ms)",
                       sched::ping_interval(watchdog_).count() / 1000, watchdog_.count() / 1000);
        }
        tick();
    }

    void tick() {
        const auto stuck = sched::stalled(pulses(), sched::Heartbeat::Clock::now());
        if (stuck.empty()) {
            if (watchdog_.count() > 0) {
                sd_notify(0, "WATCHDOG=1");
            }
            if (!stalled_.empty()) {
                log_->warn("watchdog: every thread makes progress again");
                stalled_.clear();
            }
        } else if (names_of(stuck) != stalled_) {
            // Once per episode, not every tick: the set of stuck threads changed.
            std::string what;
            for (const auto& s : stuck) {
                what +=
                    fmt::format("{}{} for {} s", what.empty() ? "" : ", ", s.name, s.quiet.count());
            }
            log_->error(
                "watchdog: no progress: {}; not telling systemd, which restarts radsync once "
                "WatchdogSec passes",
                what);
            stalled_ = names_of(stuck);
        }
        if (auto line = status_line(); line != last_status_) {
            sd_notify(0, ("STATUS=" + line).c_str());
            last_status_ = std::move(line);
        }
        const auto period = watchdog_.count() > 0
                                ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                      sched::ping_interval(watchdog_))
                                : std::chrono::milliseconds{kStatusPeriod};
        tick_timer_.expires_after(period);
        tick_timer_.async_wait([this](boost::system::error_code ec) {
            if (!ec) {
                tick();
            }
        });
    }

    static std::vector<std::string> names_of(const std::vector<sched::Stall>& stalls) {
        std::vector<std::string> names;
        for (const auto& s : stalls) {
            names.push_back(s.name);
        }
        return names;
    }

    // A thread may take this long over one step before it counts as stuck: WatchdogSec (a
    // store transaction longer than that is a hang), and for the poller at least one
    // OfficeRnD exchange with its timeout.
    std::vector<sched::Pulse> pulses() const {
        using std::chrono::milliseconds;
        const auto base = watchdog_.count() > 0
                              ? std::max(std::chrono::duration_cast<milliseconds>(watchdog_),
                                         milliseconds{kMinStepLimit})
                              : milliseconds{kDefaultStepLimit};
        std::vector<sched::Pulse> out{{"store worker", worker_->heartbeat().last(), base},
                                      {"session worker", sessions_->heartbeat().last(), base}};
        if (checkins_) {
            // Its OfficeRnD calls beat it after every exchange, like the poller's.
            out.push_back(
                {"check-in worker", checkins_->heartbeat().last(),
                 std::max(base, std::chrono::duration_cast<milliseconds>(
                                    config_->officernd.request_timeout + std::chrono::seconds{5})),
                 checkins_->heartbeat().handed_off()});
        }
        if (poller_started_) {
            const auto exchange = std::chrono::duration_cast<milliseconds>(
                config_->officernd.request_timeout + std::chrono::seconds{5});
            out.push_back({"poller", poller_->heartbeat().last(), std::max(base, exchange),
                           poller_->heartbeat().handed_off()});
        }
        return out;
    }

    // "last sync 2026-12-01 09:00:12 UTC; inbox 0 pending" (what `systemctl status` shows).
    std::string status_line() const {
        std::string sync;
        if (!poller_) {
            sync = "webhooks only (no officernd section)";
        } else {
            const auto st = poller_->state();
            if (st.last_success) {
                sync = "last sync " +
                       core::format_instant(
                           std::chrono::time_point_cast<std::chrono::seconds>(*st.last_success));
            } else {
                sync = st.running || !poller_started_ ? "initial import running" : "no sync yet";
            }
            if (st.consecutive_failures > 0) {
                sync += fmt::format("; {} failed in a row", st.consecutive_failures);
            }
        }
        return fmt::format("{}; inbox {} pending{}", sync, worker_->inbox_depth(),
                           worker_->healthy() ? "" : "; store failing");
    }

    // At start: does the organization exist? Only a definite "no" fails the start (with the
    // exit status systemd is told not to restart on); OfficeRnD being unreachable or slow is
    // logged, and the poller keeps trying. Bounded, so the first poll is not held up long.
    std::optional<int> check_officernd(const config::Config& cfg) {
        const auto deadline = std::chrono::steady_clock::now() + kStartCheckBudget;
        auto access = make_officernd_access(
            cfg, clock_,
            [this, deadline] {
                return stopping_.load() || std::chrono::steady_clock::now() > deadline;
            },
            nullptr, kStartCheckAttempts, {}, token_share_);
        if (!access) {
            log_->error("start-up failed: {}", access.error().message);
            return kExitConfigError;
        }
        const auto checked = access->check();
        if (checked) {
            log_->info("OfficeRnD organization found org={}", config_->officernd.org_slug);
            return std::nullopt;
        }
        if (checked.error().code == Errc::kConfigInvalid) {
            log_->error("start-up failed: {}", checked.error().message);
            return kExitConfigError;
        }
        log_->warn(
            "OfficeRnD not checked at start ({}); serving the rows already in the "
            "database, polling retries",
            checked.error().message);
        return std::nullopt;
    }

    static http::ServerOptions webhook_options(const config::Webhook& wh) {
        http::ServerOptions o;
        o.name = "webhook";
        o.address = wh.listen_address;
        o.port = wh.listen_port;
        if (!wh.plain_http) {
            o.tls = http::TlsFiles{wh.tls_cert_file, wh.tls_key_file};
        }
        o.limits.body_bytes = wh.max_body_bytes;
        o.limits.handshake_timeout = wh.handshake_timeout;
        o.limits.read_timeout = wh.read_timeout;
        o.limits.write_timeout = wh.write_timeout;
        o.limits.idle_timeout = wh.idle_timeout;
        o.limits.max_connections = wh.max_connections;
        return o;
    }

    // A control request, on the control server's thread: hand the work to the poller or the
    // store worker and wait for it. Every write goes through the worker, as webhooks do.
    control::Answer handle_control(const control::Request& req, std::string payload) {
        using control::Command;
        switch (req.command) {
            case Command::kStatus:
                return on_io_thread([this] { return status_json(); });
            case Command::kReconcile:
                return control_reconcile(req, std::move(payload));
            case Command::kInboxRequeue: {
                std::promise<Result<std::size_t>> done;
                auto result = done.get_future();
                worker_->requeue_parked(
                    req.all ? std::nullopt : std::optional<std::string>(req.event_id),
                    [&done](Result<std::size_t> n) { done.set_value(std::move(n)); });
                auto n = result.get();
                if (!n) {
                    return failure(n.error().message);
                }
                if (*n == 0) {
                    return failure(req.all ? "no parked webhooks"
                                           : "no parked webhook " + req.event_id);
                }
                return {0,
                        std::to_string(*n) +
                            " webhook(s) pending again; the daemon applies "
                            "them now\n",
                        ""};
            }
            case Command::kResetPassword: {
                std::promise<Result<reconcile::ResetOutcome>> done;
                auto result = done.get_future();
                worker_->reset_password(
                    req.member, req.print,
                    [&done](Result<reconcile::ResetOutcome> d) { done.set_value(std::move(d)); });
                auto d = result.get();
                if (!d) {
                    return failure(d.error().message);
                }
                return {0, reset_password_text(*d), ""};
            }
            case Command::kSessionsDisconnect:
                return sessions_disconnect_answer(*sessions_, req.member);
            case Command::kOutboxRequeue: {
                std::optional<std::int64_t> id;
                if (!req.all) {
                    const auto n = parse_message_number(req.event_id);
                    if (!n) {
                        return failure("expected a message number (see `radsync outbox list`)");
                    }
                    id = *n;
                }
                std::promise<Result<std::size_t>> done;
                auto result = done.get_future();
                worker_->outbox_requeue(
                    id, [&done](Result<std::size_t> n) { done.set_value(std::move(n)); });
                auto n = result.get();
                if (!n) {
                    return failure(n.error().message);
                }
                if (*n == 0) {
                    return failure(req.all ? "no parked e-mails"
                                           : "no parked e-mail " + req.event_id);
                }
                return {
                    0, std::to_string(*n) + " e-mail(s) pending again; the daemon sends them now\n",
                    ""};
            }
        }
        return failure("unknown command");
    }

    control::Answer control_reconcile(const control::Request& req, std::string payload) {
        std::promise<Result<reconcile::RunReport>> done;
        auto result = done.get_future();
        auto finished = [&done](Result<reconcile::RunReport> r) { done.set_value(std::move(r)); };
        if (req.source.empty()) {
            if (!poller_) {
                return failure(
                    "the daemon has no officernd section: nothing to reconcile "
                    "against (use --from-file SNAPSHOT.json)");
            }
            poller_->trigger({req.dry_run, req.allow_mass_removal, finished});
        } else {
            // The operator's file through the worker, like a poll: the daemon's own copy of
            // the snapshot is replaced with it (nothing behind the daemon's back).
            auto snap = snapshot::parse_snapshot(payload);
            payload.clear();
            if (!snap) {
                return failure(req.source + ": " + snap.error().message);
            }
            reconcile::RunOptions run;
            run.dry_run = req.dry_run;
            run.allow_mass_removal = req.allow_mass_removal;
            run.mode = "file";
            run.source = req.source;
            worker_->submit_full(std::move(*snap), std::move(run), std::nullopt, finished);
        }
        auto report = result.get();
        if (!report) {
            return failure("reconcile failed: " + report.error().message);
        }
        return {0, req.json ? reconcile::report_json(*report) : reconcile::describe(*report), ""};
    }

    static control::Answer failure(const std::string& message) {
        return {1, "", "error: " + message + "\n"};
    }

    // Runs `read` on the io thread (which owns the listeners' counters) and waits for it.
    control::Answer on_io_thread(std::function<std::string()> read) {
        auto answer = std::make_shared<std::promise<std::string>>();
        auto text = answer->get_future();
        net::post(ioc_, [answer, read = std::move(read)] { answer->set_value(read()); });
        if (text.wait_for(std::chrono::seconds{10}) != std::future_status::ready) {
            return failure("the daemon is shutting down");
        }
        return {0, text.get(), ""};
    }

    Task<void> shutdown() {
        if (stopping_.exchange(true)) {
            co_return;  // a second signal, or the organization check, while draining
        }
        sd_notify(0, "STOPPING=1");
        tick_timer_.cancel();
        stall_timer_.cancel();
        signals_.cancel();
        reload_signal_.cancel();
        reconcile_signal_.cancel();
        // Stop accepting and let requests in flight finish: their events reach the inbox
        // before the worker stops.
        control_->stop_accepting();
        if (webhook_server_) {
            co_await webhook_server_->shutdown(kShutdownGrace);
        }
        co_await metrics_server_->shutdown(std::chrono::seconds{1});
        if (poller_) {
            // Not waiting for the organization check (a request in flight runs to its
            // timeout): it is joined after the loop, and starts no poller once this holds.
            const std::lock_guard lock(poller_start_mu_);
            poller_->stop();  // finishes (or abandons) the run in progress
        }
        if (mailer_) {
            mailer_->stop();  // finishes the e-mails being handed over, records them
        }
        if (checkins_) {
            checkins_->stop();  // before the store worker it asks for the directory
        }
        worker_->stop();  // answers what control requests still wait for
        sessions_->stop();
        control_->join();
        ioc_.stop();
    }

    // SIGUSR1: reconcile against OfficeRnD now.
    void watch_reconcile_signal() {
        reconcile_signal_.async_wait([this](boost::system::error_code ec, int) {
            if (ec) {
                return;
            }
            if (poller_) {
                log_->info("SIGUSR1: full reconcile requested");
                poller_->trigger({});
            }
            watch_reconcile_signal();
        });
    }

    void watch_reload() {
        reload_signal_.async_wait([this](boost::system::error_code ec, int) {
            if (ec) {
                return;
            }
            reload();
            watch_reload();
        });
    }

    // SIGHUP: re-read the configuration and the secrets; keep the old ones on any problem.
    // systemd hears RELOADING=1 before and READY=1 after, whatever the outcome.
    void reload() {
        if (stopping_) {
            return;  // a SIGHUP queued before the drain began
        }
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                       static_cast<unsigned long long>(now.tv_nsec) / 1000ULL);
        apply_reload();
        sd_notify(0, "READY=1");
        tick();  // STATUS= at once
    }

    void apply_reload() {
        auto loaded = config::load(config_->source_file);
        if (!loaded.config) {
            for (const auto& p : loaded.problems) {
                log_->error("reload rejected: {}", p.to_string());
            }
            return;
        }
        const auto& next = *loaded.config;
        if (next.webhook.has_value() != config_->webhook.has_value()) {
            log_->error("reload rejected: adding or removing the webhook section needs a restart");
            return;
        }
        // The webhook secrets are read again from their files: secret rotation is a reload
        // (README.md, "Rotating the webhook secret").
        std::shared_ptr<const webhook::Verifier> verifier;
        if (next.webhook) {
            auto made = make_verifier(*next.webhook);
            if (!made) {
                log_->error("reload rejected: {}", made.error().message);
                return;
            }
            verifier = *made;
        }
        if (next.radius_database != config_->radius_database ||
            next.state_database != config_->state_database ||
            next.control.socket != config_->control.socket ||
            (next.webhook && (next.webhook->listen_address != config_->webhook->listen_address ||
                              next.webhook->listen_port != config_->webhook->listen_port))) {
            log_->warn(
                "reload: databases, the control socket and listen addresses need a "
                "restart; ignored");
        }
        if (next.webhook && !next.webhook->plain_http) {
            if (auto s = webhook_server_->reload_tls(
                    {next.webhook->tls_cert_file, next.webhook->tls_key_file});
                !s) {
                log_->error("reload rejected: {}", s.error().message);
                return;
            }
        }
        // The OfficeRnD client secret too: the poller fetches with the new client from its
        // next run on. Adding or removing the section needs a restart, like the webhook's.
        if (next.officernd.org_slug.empty() != config_->officernd.org_slug.empty()) {
            log_->error(
                "reload rejected: adding or removing the officernd section needs a "
                "restart");
            return;
        }
        std::optional<OfficeRndAccess> access;
        if (poller_) {
            // Other credentials or scopes get a token of their own (officernd::TokenShare);
            // the check-in worker keeps the ones it started with until the next start.
            auto made = make_officernd_access(
                next, clock_, [this] { return stopping_.load(); }, &metrics_, std::nullopt,
                poller_progress(), token_share_);
            if (!made) {
                log_->error("reload rejected: {}", made.error().message);
                return;
            }
            access = std::move(*made);
        }
        if (next.notify.has_value() != config_->notify.has_value()) {
            log_->error("reload rejected: adding or removing the notify section needs a restart");
            return;
        }
        if (next.accounting_database != config_->accounting_database) {
            log_->error("reload rejected: a new accounting_database needs a restart");
            return;
        }
        // Everything that can refuse the reload comes before anything switches to it (the
        // mailer switches only when it accepts).
        auto next_config = std::make_shared<const config::Config>(next);
        auto sessions = SessionWorker::prepare(next_config);
        if (!sessions) {
            log_->error("reload rejected: {}", sessions.error().message);
            return;
        }
        if (mailer_) {
            if (auto s = mailer_->set_config(next_config); !s) {
                log_->error("reload rejected: {}", s.error().message);
                return;
            }
        }
        if (access) {
            poller_->replace_source({std::move(access->fetch), std::move(access->confirm),
                                     static_cast<std::size_t>(next.sync.confirm_vanished)});
        }
        if (verifier) {
            verifier_ = verifier;
            log_->info("webhook secrets reloaded count={}", next.webhook->secret_files.size());
        }
        sessions_->apply(std::move(*sessions));
        if (checkins_) {
            checkins_->set_config(next_config);
        } else if (next_config->sessions.checkins.enabled) {
            log_->warn("sessions.checkins.enabled takes effect at the next start");
        }
        config_ = std::move(next_config);
        worker_->set_config(config_);
        log::setup(config_->log_level, config_->log_modules);
        log_->info("configuration reloaded groups={} plans={} locations={}",
                   config_->mapping.groups.size(), config_->mapping.plans.size(),
                   config_->mapping.locations.size());
    }

    Task<http::Response> handle_webhook(http::Request req) {
        const auto started = std::chrono::steady_clock::now();
        if (path_of(req.target) != kWebhookPath) {
            co_return status_only(404);
        }
        if (req.method != "POST") {
            auto r = status_only(405);
            r.headers.emplace_back("Allow", "POST");
            co_return r;
        }
        const auto header_it = req.headers.find("officernd-signature");
        const std::string header = header_it == req.headers.end() ? "" : header_it->second;
        // Verify the exact bytes received before anything looks inside them.
        const auto verifier = verifier_;
        const auto verdict = verifier->verify(header, req.body, clock_.now());
        if (verdict != webhook::Verdict::kValid) {
            metrics_.add("radsync_webhooks_total", {{"result", webhook::to_string(verdict)}});
            rejected_log_.warn(webhook_log_, "webhook rejected reason={} peer={}",
                               webhook::to_string(verdict), req.peer);
            co_return status_only(401);  // empty body: the reason is never echoed
        }
        const std::string t = webhook::signed_timestamp(header);
        auto envelope = webhook::parse_envelope(req.body);
        if (!envelope) {
            metrics_.add("radsync_webhooks_total", {{"result", "malformed"}});
            rejected_log_.warn(webhook_log_, "webhook malformed reason=\"{}\" peer={}",
                               envelope.error().message, req.peer);
            co_return status_only(400);
        }
        store::InboxEvent event{envelope->event_id, envelope->event_type, t, clock_.now(),
                                std::move(req.body)};
        auto durable =
            co_await async_ingest(*worker_, std::move(event), net::use_awaitable_t<Executor>{});
        if (!durable) {
            metrics_.add("radsync_webhooks_total", {{"result", "store_unavailable"}});
            webhook_log_->error("webhook not stored delivery_id={} error={}", envelope->event_id,
                                durable.error().message);
            co_return status_only(503);  // OfficeRnD retries a failed delivery
        }
        const char* result = *durable == StoreWorker::Ingest::kDuplicate    ? "duplicate"
                             : envelope->action == webhook::Action::kIgnore ? "ignored"
                                                                            : "accepted";
        metrics_.add("radsync_webhooks_total", {{"result", result}});
        metrics_.observe(
            "radsync_webhook_ack_seconds",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        webhook_log_->debug("webhook {} delivery_id={} event={}", result, envelope->event_id,
                            envelope->event_type);
        co_return status_only(200);
    }

    // The TCP listener reveals nothing and changes nothing: metrics and probes only.
    // Everything else is on the control socket, whose file permissions say who may use it.
    Task<http::Response> handle_ops(http::Request req) {
        const auto path = path_of(req.target);
        if (path != "/metrics" && path != "/healthz" && path != "/readyz") {
            co_return status_only(404);
        }
        if (req.method != "GET" && req.method != "HEAD") {
            auto r = status_only(405);
            r.headers.emplace_back("Allow", "GET, HEAD");
            co_return r;
        }
        http::Response r;
        if (path == "/healthz") {
            r.body = "ok\n";
        } else if (path == "/readyz") {
            // Ready = the store answers (migrations were applied when it was opened).
            const bool ready = worker_->healthy();
            r.status = ready ? 200 : 503;
            r.body = ready ? "ready\n" : "store unavailable\n";
        } else {
            sync_http_metrics();
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            r.body = metrics_.exposition();
        }
        co_return r;
    }

    std::string status_json() {
        sync_http_metrics();
        nlohmann::json j;
        j["inbox_depth"] = worker_->inbox_depth();
        j["store_healthy"] = worker_->healthy();
        // Counts are whole numbers: a counter's double, printed as is, reads "5.0".
        const auto count = [&](const char* name, const metrics::Labels& labels) {
            return static_cast<std::uint64_t>(metrics_.value(name, labels));
        };
        j["webhooks"] = {{"accepted", count("radsync_webhooks_total", {{"result", "accepted"}})},
                         {"duplicate", count("radsync_webhooks_total", {{"result", "duplicate"}})},
                         {"ignored", count("radsync_webhooks_total", {{"result", "ignored"}})}};
        j["accounts"] = {{"active", count("radsync_radius_users", {{"state", "active"}})},
                         {"revoked", count("radsync_radius_users", {{"state", "revoked"}})}};
        if (poller_) {
            const auto st = poller_->state();
            j["polling"] = true;
            j["reconcile_running"] = st.running;
            j["consecutive_failures"] = st.consecutive_failures;
            j["last_error"] = st.last_error;
            if (st.next_run) {
                j["next_run"] = core::format_instant(
                    std::chrono::time_point_cast<std::chrono::seconds>(*st.next_run));
            }
        } else {
            j["polling"] = false;
        }
        return j.dump() + "\n";
    }

    // The listeners count on the io thread (ServerStats); the counters catch up with them
    // whenever they are read (io thread too).
    void sync_http_metrics() {
        if (webhook_server_) {
            sync_server_metrics("webhook", *webhook_server_, exported_webhook_);
        }
        sync_server_metrics("metrics", *metrics_server_, exported_metrics_);
    }
    void sync_server_metrics(const char* name, const http::Server& server,
                             http::ServerStats& exported) {
        const http::ServerStats now = server.stats();
        const auto grew = [&](const char* metric, metrics::Labels labels, std::uint64_t current,
                              std::uint64_t& before) {
            labels.emplace("server", name);
            metrics_.add(metric, labels, static_cast<double>(current - before));
            before = current;
        };
        grew("radsync_http_connections_rejected_total", {}, now.connections_rejected,
             exported.connections_rejected);
        grew("radsync_http_connections_evicted_total", {{"phase", "idle"}},
             now.connections_evicted_idle, exported.connections_evicted_idle);
        grew("radsync_http_connections_evicted_total", {{"phase", "reading"}},
             now.connections_evicted_reading, exported.connections_evicted_reading);
        grew("radsync_http_requests_refused_total", {{"reason", "bad_request"}}, now.bad_requests,
             exported.bad_requests);
        grew("radsync_http_requests_refused_total", {{"reason", "too_large"}}, now.too_large,
             exported.too_large);
        grew("radsync_http_requests_refused_total", {{"reason", "timeout"}}, now.timeouts,
             exported.timeouts);
        grew("radsync_unhandled_exceptions_total", {}, now.handler_errors, exported.handler_errors);
    }

    std::shared_ptr<const config::Config> config_;
    ServeOptions options_;
    http::ServerStats exported_webhook_;
    http::ServerStats exported_metrics_;
    std::shared_ptr<spdlog::logger> log_;
    std::shared_ptr<spdlog::logger> webhook_log_;
    core::SystemClock clock_;
    metrics::Registry metrics_;
    std::shared_ptr<const webhook::Verifier> verifier_;
    std::unique_ptr<StoreWorker> worker_;
    std::unique_ptr<Mailer> mailer_;  // null without a notify section
    std::unique_ptr<SessionWorker> sessions_;
    std::unique_ptr<CheckinWorker> checkins_;  // null unless sessions.checkins.enabled
    // One OfficeRnD token for the organisation check, the poller and the check-in worker.
    std::shared_ptr<officernd::TokenShare> token_share_ = officernd::make_token_share();
    std::unique_ptr<Poller> poller_;
    std::atomic<bool> stopping_{false};
    net::io_context ioc_{1};
    net::signal_set signals_;
    net::signal_set reload_signal_;
    net::signal_set reconcile_signal_;
    std::unique_ptr<http::Server> webhook_server_;  // null without a webhook section
    std::unique_ptr<http::Server> metrics_server_;
    std::unique_ptr<control::Server> control_;
    std::optional<control::InstanceLock> lock_;
    LimitedLog rejected_log_{std::chrono::seconds{10}};
    int exit_code_ = 0;
    std::thread org_check_;
    std::mutex poller_start_mu_;
    std::atomic<bool> poller_started_{false};
    // Supervision (io thread): the watchdog interval (0 = off), the threads found stuck at the
    // last tick, the last STATUS= sent.
    static constexpr std::chrono::seconds kStatusPeriod{5};
    static constexpr std::chrono::seconds kMinStepLimit{2};
    static constexpr std::chrono::seconds kDefaultStepLimit{60};
    std::chrono::microseconds watchdog_{0};
    std::vector<std::string> stalled_;
    std::string last_status_;
    net::steady_timer tick_timer_{ioc_};
    net::steady_timer stall_timer_{ioc_};
};

}  // namespace

std::string reset_password_text(const reconcile::ResetOutcome& r) {
    const mapping::Decision& d = r.decision;
    const std::string username = d.account ? d.account->username : std::string();
    if (!r.emailed_to.empty()) {
        std::string to;
        for (const auto& address : r.emailed_to) {
            to += (to.empty() ? "" : ", ") + address;
        }
        return "username: " + username + "\n" + "new password e-mailed to " + to +
               " (`radsync outbox list` shows its delivery; the old password no longer works)\n";
    }
    return "username: " + username + "\n" + "password: " + d.new_password + "\n" +
           "(shown once: radsync keeps only its hash; the old password no longer works)\n";
}

std::optional<std::int64_t> parse_message_number(const std::string& text) {
    std::int64_t n = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || ptr != text.data() + text.size() || n <= 0) {
        return std::nullopt;
    }
    return n;
}

int serve(const ServeOptions& options) {
    auto loaded = config::load(options.config_file);
    for (const auto& w : loaded.warnings) {
        std::cerr << "warning: " << w.to_string() << "\n";
    }
    if (!loaded.config) {
        for (const auto& p : loaded.problems) {
            std::cerr << "error: " << p.to_string() << "\n";
        }
        return kExitConfigError;
    }
    if (!loaded.config->webhook && loaded.config->officernd.org_slug.empty()) {
        std::cerr << "error: " << options.config_file
                  << ": serve needs a `webhook` section, an `officernd` section, or both\n";
        return kExitConfigError;
    }
    log::setup(loaded.config->log_level, loaded.config->log_modules);
    App app(std::move(*loaded.config), options);
    return app.run();
}

}  // namespace radsync::service
