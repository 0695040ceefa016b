// `radsync sessions list|disconnect` and the open sessions `accounts show` lists: what
// FreeRADIUS's accounting database says is on the air right now.

#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "radsync/core/json.hpp"
#include "radsync/core/timezone.hpp"
#include "radsync/mapping/credentials.hpp"
#include "radsync/metrics/registry.hpp"
#include "radsync/service/session_worker.hpp"
#include "radsync/store/accounting.hpp"

namespace radsync::cli {

namespace {

constexpr std::size_t kMaxListed = 1000;

// The name as FreeRADIUS records it in radacct: normalised as radsync's own usernames are
// (lower-cased with accounts.username.case: lower, as configure-freeradius makes FreeRADIUS
// do), in its escaped form. Errc::kMalformedPayload for an empty or unusable name.
Result<std::string> recorded_username(const config::Config& cfg, const std::string& name) {
    auto login = mapping::normalise_login_name(
        name, cfg.accounts.username_case == config::UsernameCase::kLower);
    if (!login) {
        return login.error();
    }
    return mapping::radius_escape(*login);
}

nlohmann::json session_json(const store::Session& s) {
    return {{"username", s.username},
            {"session_id", s.session_id},
            {"nas_ip", s.nas_ip},
            {"device", s.calling_station_id},
            {"called_station_id", s.called_station_id},
            {"address", s.framed_ip},
            {"started", core::format_instant(s.started)},
            {"last_heard", core::format_instant(s.last_heard)},
            {"input_octets", s.input_octets},
            {"output_octets", s.output_octets}};
}

void print_session(const store::Session& s, const std::string& indent, std::ostream& out) {
    out << indent << s.session_id << " at " << (s.nas_ip.empty() ? "?" : s.nas_ip);
    if (!s.calling_station_id.empty()) {
        out << " device " << s.calling_station_id;
    }
    if (!s.framed_ip.empty()) {
        out << " address " << s.framed_ip;
    }
    out << " since " << core::format_instant(s.started) << ", last heard "
        << core::format_instant(s.last_heard) << "\n";
}

}  // namespace

Result<std::vector<store::Session>> read_open_sessions(const config::Config& cfg,
                                                       const std::optional<std::string>& username) {
    auto db = store::open_accounting_store_read_only(cfg.accounting_database);
    if (!db) {
        return db.error();
    }
    return (*db)->open_sessions(username, kMaxListed);
}

void describe_open_sessions(const config::Config& cfg, const std::string& username,
                            std::ostream& out, nlohmann::json& j) {
    j["sessions"] = nlohmann::json::array();
    auto sessions = read_open_sessions(cfg, username);
    if (!sessions) {
        out << "sessions:  unknown (" << sessions.error().message << ")\n";
        j["sessions"] = nullptr;
        return;
    }
    if (sessions->empty()) {
        out << "sessions:  none open\n";
        return;
    }
    out << "sessions:\n";
    for (const auto& s : *sessions) {
        print_session(s, "  ", out);
        j["sessions"].push_back(session_json(s));
    }
}

int sessions_list(const Options& opt) {
    auto cfg = load_config_for_command(opt);
    if (!cfg) {
        return kExitFailure;
    }
    std::optional<std::string> user;
    if (!opt.account_key.empty()) {
        auto name = recorded_username(*cfg, opt.account_key);
        if (!name) {
            return fail(name.error());
        }
        user = std::move(*name);
    }
    auto sessions = read_open_sessions(*cfg, user);
    if (!sessions) {
        return fail(sessions.error());
    }
    if (opt.json) {
        auto j = nlohmann::json::array();
        for (const auto& s : *sessions) {
            j.push_back(session_json(s));
        }
        std::cout << core::to_output(j);
        return kExitOk;
    }
    if (sessions->empty()) {
        std::cout << "no open sessions" << (user ? " of " + *user : std::string()) << "\n";
        return kExitOk;
    }
    std::string last_user;
    for (const auto& s : *sessions) {
        if (s.username != last_user) {
            std::cout << s.username << ":\n";
            last_user = s.username;
        }
        print_session(s, "  ", std::cout);
    }
    if (sessions->size() == kMaxListed) {
        std::cout << "(the first " << kMaxListed << " only)\n";
    }
    return kExitOk;
}

int sessions_disconnect(const Options& opt) {
    auto cfg = load_config_for_command(opt);
    if (!cfg) {
        return kExitFailure;
    }
    Write w;
    w.request.command = control::Command::kSessionsDisconnect;
    auto name = recorded_username(*cfg, opt.account_key);
    if (!name) {
        return fail(name.error());
    }
    const std::string user = std::move(*name);
    w.request.member = user;
    w.run_here = [&]() -> int {
        const core::SystemClock clock;
        metrics::Registry metrics;
        service::SessionWorker worker(std::make_shared<const config::Config>(*cfg), clock, metrics);
        if (auto s = worker.start(); !s) {
            return fail(s.error());
        }
        const auto answer = service::sessions_disconnect_answer(worker, user);
        worker.stop();
        std::cout << answer.out;
        std::cerr << answer.err;
        return answer.exit_code;
    };
    return write_through_daemon_or_here(*cfg, w);
}

}  // namespace radsync::cli
