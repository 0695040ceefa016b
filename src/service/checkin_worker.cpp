#include "radsync/service/checkin_worker.hpp"

#include <algorithm>
#include <chrono>

#include "radsync/core/timezone.hpp"
#include "radsync/log/log.hpp"

namespace radsync::service {

namespace {

using session::CheckinAction;
using session::CheckinRecord;
using session::CheckinState;

// Sessions and records this far back are read each sweep: enough to check out yesterday's
// check-ins in any zone, and to see a session that started before midnight.
constexpr auto kLookBack = std::chrono::hours{48};
constexpr std::size_t kMaxSessions = 20000;
// Settled records are kept this long (what a support case wants), then pruned, once an hour.
constexpr auto kKeepRecords = std::chrono::days{40};
constexpr auto kPruneEvery = std::chrono::hours{1};

std::string utc_day(core::Instant t) {
    return core::format_date(core::TimeZone::utc().local_date(t));
}

}  // namespace

CheckinWorker::CheckinWorker(std::shared_ptr<const config::Config> config, const core::Clock& clock,
                             metrics::Registry& metrics, Directory directory,
                             std::shared_ptr<officernd::TokenShare> tokens)
    : clock_(clock),
      metrics_(metrics),
      directory_(std::move(directory)),
      tokens_(std::move(tokens)),
      log_(log::get("session")),
      config_(std::move(config)) {}

CheckinWorker::~CheckinWorker() {
    stop();
}

Status CheckinWorker::start() {
    const auto cfg = current_config();
    auto store = store::open_accounting_store(cfg->accounting_database);
    if (!store) {
        return store.error();
    }
    store_ = std::move(*store);
    auto access = make_officernd_access(
        *cfg, clock_, [this] { return stopping(); }, &metrics_, std::nullopt,
        [this] { heartbeat_.beat(); }, tokens_);
    if (!access) {
        return access.error();
    }
    api_ = std::move(*access);
    thread_ = std::thread([this] { run(); });
    log_->info("check-ins from presence on: checkout_after={} s",
               cfg->sessions.checkins.checkout_after.count());
    return {};
}

void CheckinWorker::stop() {
    {
        const std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void CheckinWorker::set_config(std::shared_ptr<const config::Config> config) {
    {
        const std::lock_guard lock(mu_);
        config_ = std::move(config);
    }
    cv_.notify_all();
}

std::shared_ptr<const config::Config> CheckinWorker::current_config() {
    const std::lock_guard lock(mu_);
    return config_;
}

bool CheckinWorker::stopping() {
    const std::lock_guard lock(mu_);
    return stopping_;
}

void CheckinWorker::run() {
    auto next = std::chrono::steady_clock::now();
    std::unique_lock lock(mu_);
    while (!stopping_) {
        heartbeat_.beat();
        const auto now = std::chrono::steady_clock::now();
        if (now < next) {
            // A second at a time, so the watchdog sees an idle worker beat.
            cv_.wait_for(lock, std::min<std::chrono::steady_clock::duration>(
                                   std::chrono::seconds{1}, next - now));
            continue;
        }
        const auto interval = config_->sessions.sweep_interval;
        const bool enabled = config_->sessions.checkins.enabled;
        lock.unlock();
        if (enabled) {
            try {
                sweep();
            } catch (const std::exception& e) {
                log_->error("check-in sweep failed: {}", e.what());
                metrics_.add("radsync_unhandled_exceptions_total");
            }
        }
        next = std::chrono::steady_clock::now() + interval;
        lock.lock();
    }
}

void CheckinWorker::sweep() {
    const auto cfg = current_config();
    const core::Instant now = clock_.now();
    auto directory = [this] {
        const sched::Heartbeat::HandOff waiting(heartbeat_);  // the store worker's pulse covers it
        return directory_();
    }();
    if (!directory) {
        log_->warn("check-ins: cannot read accounts and locations: {}", directory.error().message);
        return;
    }
    auto sessions = store_->sessions_since(now - kLookBack, kMaxSessions);
    auto records = store_->checkins(utc_day(now - kLookBack));
    if (!sessions || !records) {
        log_->warn("check-ins: cannot read the accounting database: {}",
                   (!sessions ? sessions.error() : records.error()).message);
        return;
    }
    if (sessions->size() == kMaxSessions) {
        log_->warn(
            "check-ins: more than {} sessions in the last {} h; the oldest stopped ones "
            "are not looked at",
            kMaxSessions, kLookBack.count());
    }
    session::PresenceInput in;
    in.members = std::move(directory->first);
    in.sites = std::move(directory->second);
    in.records = std::move(*records);
    in.now = now;
    in.checkout_after = cfg->sessions.checkins.checkout_after;
    in.sessions.reserve(sessions->size());
    for (auto& s : *sessions) {
        // A session radsync closed as stale ended when it was last heard of.
        const bool stale = s.stopped && s.terminate_cause == store::kStaleTerminateCause;
        in.sessions.push_back({std::move(s.username), std::move(s.nas_ip),
                               std::move(s.called_station_id), s.started, s.last_heard,
                               stale ? std::optional(s.last_heard) : s.stopped});
    }
    const auto actions = session::plan_checkins(in);
    log_->debug("check-in sweep sessions={} records={} actions={}", in.sessions.size(),
                in.records.size(), actions.size());
    std::size_t done = 0;
    for (const auto& action : actions) {
        if (stopping() || done == kMaxActionsPerSweep) {
            break;  // the rest at the next sweep, planned afresh
        }
        ++done;
        auto it = std::find_if(in.records.begin(), in.records.end(), [&](const CheckinRecord& r) {
            return r.member_id == action.member_id && r.location_id == action.location_id &&
                   r.day == action.day;
        });
        const bool recorded = it != in.records.end();
        if (!carry_out(action,
                       recorded ? *it
                                : CheckinRecord{action.member_id, action.location_id, action.day,
                                                CheckinState::kPending, action.at, std::nullopt, "",
                                                0, ""},
                       recorded)) {
            break;  // OfficeRnD failed: the rest would likely fail too; all at the next sweep
        }
    }
    if (now >= next_prune_) {
        next_prune_ = now + kPruneEvery;
        if (auto pruned = store_->checkin_prune(utc_day(now - kKeepRecords)); !pruned) {
            log_->warn("check-in records not pruned: {}", pruned.error().message);
        } else if (*pruned > 0) {
            log_->debug("check-in records pruned count={}", *pruned);
        }
    }
}

bool CheckinWorker::carry_out(const CheckinAction& action, CheckinRecord record, bool recorded) {
    if (action.kind == CheckinAction::Kind::kCheckOut) {
        if (record.attempts > 0) {
            // The last POST failed, perhaps after OfficeRnD had carried it out: a check-out
            // sent twice could end a check-in made since (by reception, the member app).
            auto day = api_.checkins(record.member_id, record.location_id, action.day_start,
                                     action.day_end);
            if (!day) {
                return failed(record, "checkout", day.error());
            }
            auto it = std::find_if(day->begin(), day->end(), [&](const officernd::Checkin& c) {
                return c.id == record.checkin_id;
            });
            if (it == day->end() || it->end) {
                record.state = CheckinState::kClosed;
                record.end = it == day->end() ? action.at : *it->end;
                settle(record, "checkout", "created");
                return true;
            }
        }
        if (auto st = api_.check_out(record.member_id, record.location_id, action.at); !st) {
            return failed(record, "checkout", st.error());
        }
        record.state = CheckinState::kClosed;
        record.end = action.at;
        settle(record, "checkout", "created");
        return true;
    }
    // Written before OfficeRnD is asked: a crash from here on leaves a pending record, which
    // the next sweep resolves by reading first.
    if (!recorded) {
        auto inserted = store_->checkin_insert(record, clock_.now());
        if (!inserted) {
            log_->warn("check-in member={} location={}: cannot record it, not sending: {}",
                       record.member_id, record.location_id, inserted.error().message);
            return true;
        }
        if (!*inserted) {
            return true;  // recorded meanwhile (another radsync on this file): its business
        }
    }
    auto existing =
        api_.checkins(record.member_id, record.location_id, action.day_start, action.day_end);
    if (!existing) {
        return failed(record, "checkin", existing.error());
    }
    if (!existing->empty()) {
        // Ours if it starts when radsync said (the answer to our POST was lost); else someone
        // else's (reception, the member app), which radsync leaves to them.
        auto own =
            std::find_if(existing->begin(), existing->end(),
                         [&](const officernd::Checkin& c) { return c.start == record.start; });
        record.checkin_id = own != existing->end() ? own->id : existing->front().id;
        record.state = own != existing->end() ? CheckinState::kOpen : CheckinState::kAdopted;
        settle(record, "checkin", own != existing->end() ? "created" : "adopted");
        return true;
    }
    if (clock_.now() >= action.day_end) {
        // Its day is over and OfficeRnD has none: a check-in for a past day is not made late.
        record.state = CheckinState::kFailed;
        record.error = "the day ended before OfficeRnD could be asked";
        if (auto st = store_->checkin_update(record, clock_.now()); !st) {
            log_->warn("checkin member={}: cannot record it as failed: {}", record.member_id,
                       st.error().message);
        }
        metrics_.add("radsync_checkins_total", {{"action", "checkin"}, {"result", "failed"}});
        log_->warn("checkin member={} location={} day={} not made: {}", record.member_id,
                   record.location_id, record.day, record.error);
        return true;
    }
    auto id = api_.check_in(record.member_id, record.location_id, record.start);
    if (!id) {
        return failed(record, "checkin", id.error());
    }
    record.checkin_id = std::move(*id);
    record.state = CheckinState::kOpen;
    settle(record, "checkin", "created");
    return true;
}

void CheckinWorker::settle(CheckinRecord& record, const char* action, const char* result) {
    record.attempts = 0;
    record.error.clear();
    if (auto st = store_->checkin_update(record, clock_.now()); !st) {
        // The next sweep reads OfficeRnD before acting again, so this costs no duplicate.
        log_->warn("{} member={} location={}: done in OfficeRnD, not recorded: {}", action,
                   record.member_id, record.location_id, st.error().message);
    }
    metrics_.add("radsync_checkins_total", {{"action", action}, {"result", result}});
    log_->info(
        "{} {} member={} location={} day={} at={} id={}", action, result, record.member_id,
        record.location_id, record.day,
        core::format_instant(record.end && std::string_view(action) == "checkout" ? *record.end
                                                                                  : record.start),
        record.checkin_id);
}

bool CheckinWorker::failed(CheckinRecord& record, const char* action, const Error& error) {
    // Counted, never given up on: the record stays pending or open, and the next sweep reads
    // OfficeRnD before it sends anything again (a pending one whose day ends is resolved then).
    ++record.attempts;
    record.error = error.message;
    if (auto st = store_->checkin_update(record, clock_.now()); !st) {
        log_->warn("{} member={} location={}: cannot record the failure: {}", action,
                   record.member_id, record.location_id, st.error().message);
    }
    metrics_.add("radsync_checkins_total", {{"action", action}, {"result", "retried"}});
    log_->warn("{} member={} location={} day={} failed (attempt {}), again at the next sweep: {}",
               action, record.member_id, record.location_id, record.day, record.attempts,
               error.message);
    return false;
}

}  // namespace radsync::service
