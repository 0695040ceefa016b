#include <cstdio>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "radsync/control/channel.hpp"
#include "radsync/core/json.hpp"
#include "radsync/core/timezone.hpp"
#include "radsync/mapping/engine.hpp"
#include "radsync/notify/message.hpp"
#include "radsync/notify/plan.hpp"
#include "radsync/snapshot/entities.hpp"

// The commands that only read: they work with the daemon stopped and its credential files
// absent, against the databases opened read-only.

namespace radsync::cli {

namespace {

constexpr std::size_t kParkedShown = 5;
constexpr std::size_t kParkedListed = 1000;

void print_parked(const std::vector<store::ParkedEvent>& parked) {
    for (const auto& p : parked) {
        std::cout << "  " << core::format_instant(p.received_at) << " " << p.event_id << " "
                  << p.event_type << " after " << p.attempts << " attempts: " << p.error << "\n";
    }
}

// The daemon's own view (polling, next run, failures), asked over the control socket.
struct DaemonView {
    bool running = false;
    std::string unreached;  ///< why not, when not running
    nlohmann::json state;   ///< its status_json object (null if it answered something else)
};

DaemonView ask_daemon(const config::Config& cfg) {
    control::Request req;
    req.command = control::Command::kStatus;
    auto answer = control::call(cfg.control.socket, req, {}, std::chrono::seconds{5});
    if (!answer) {
        return {false,
                answer.error().kind == control::Unreached::kNoDaemon
                    ? "not running (nothing answers on " + cfg.control.socket + ")"
                    : "cannot ask: " + answer.error().message,
                {}};
    }
    auto parsed = core::parse_json(answer->out);
    return {true, "", parsed && parsed->is_object() ? std::move(*parsed) : nlohmann::json()};
}

void print_daemon(const config::Config& cfg) {
    const auto daemon = ask_daemon(cfg);
    if (!daemon.running) {
        std::cout << "daemon:    " << daemon.unreached << "\n";
        return;
    }
    const nlohmann::json& j = daemon.state;
    std::cout << "daemon:    running";
    if (j.is_object() && j.value("polling", false)) {
        std::cout << ", next full reconcile " << j.value("next_run", std::string("now"));
        if (j.value("consecutive_failures", 0) > 0) {
            std::cout << " (after " << j.value("consecutive_failures", 0)
                      << " failed run(s): " << j.value("last_error", std::string()) << ")";
        }
    } else if (j.is_object()) {
        std::cout << ", webhooks only (no officernd section)";
    }
    if (j.is_object() && j.contains("inbox_depth")) {
        std::cout << ", " << j.value("inbox_depth", 0) << " webhook(s) in its queue";
    }
    std::cout << "\n";
}

std::string format_expiry(const std::optional<core::Instant>& t) {
    return t ? core::format_instant(*t) : "never";
}

// An expiry or validity time as an operator at the location reads it, and in UTC:
// "2026-12-01T17:00:00Z (2026-12-01 18:00 (Europe/Berlin))".
std::string both_clocks(const std::optional<core::Instant>& t, const std::string& timezone) {
    if (!t) {
        return "never";
    }
    return core::format_instant(*t) + " (" + notify::format_local(*t, timezone) + ")";
}

nlohmann::json time_json(const std::optional<core::Instant>& t, const std::string& timezone) {
    if (!t) {
        return nullptr;
    }
    return {{"utc", core::format_instant(*t)},
            {"local", notify::format_local(*t, timezone)},
            {"timezone", timezone}};
}

nlohmann::json messages_json(const std::vector<store::OutboxMessage>& messages) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : messages) {
        out.push_back({{"id", m.id},
                       {"created_at", core::format_instant(m.created_at)},
                       {"kind", m.kind},
                       {"recipient", m.recipient},
                       {"role", m.recipient_role},
                       {"status", store::to_string(m.status)},
                       {"attempts", m.attempts},
                       {"sent_at", m.sent_at ? nlohmann::json(core::format_instant(*m.sent_at))
                                             : nlohmann::json(nullptr)},
                       {"error", m.last_error}});
    }
    return out;
}

// `status --json`: what the text shows, as one object (the daemon's own view under "daemon").
int status_json(const ConfiguredStore& opened) {
    auto& st = opened.stores.state;
    auto runs = st->recent_runs(5);
    auto inbox = st->inbox_counts();
    auto accounts = st->load_accounts();
    auto parked = st->inbox_parked(kParkedShown);
    auto outbox = st->outbox_counts();
    auto next = st->next_transition();
    if (!runs || !inbox || !accounts || !parked || !outbox || !next) {
        return fail(!runs       ? runs.error()
                    : !inbox    ? inbox.error()
                    : !accounts ? accounts.error()
                    : !parked   ? parked.error()
                    : !outbox   ? outbox.error()
                                : next.error());
    }
    nlohmann::json j;
    auto daemon = ask_daemon(opened.cfg);
    j["daemon"] = !daemon.running            ? nlohmann::json{{"error", daemon.unreached}}
                  : daemon.state.is_object() ? std::move(daemon.state)
                                             : nlohmann::json::object();
    j["daemon"]["running"] = daemon.running;
    std::size_t active = 0;
    for (const auto& [id, a] : *accounts) {
        active += a.state == store::AccountState::kActive ? 1 : 0;
    }
    j["accounts"] = {{"active", active}, {"disabled", accounts->size() - active}};
    j["next_transition"] = *next ? nlohmann::json{{"at", core::format_instant((*next)->at)},
                                                  {"what", (*next)->what},
                                                  {"subject", (*next)->subject}}
                                 : nlohmann::json(nullptr);
    j["webhooks"] = nlohmann::json::object();
    for (const auto& [result, n] : *inbox) {
        j["webhooks"][result.empty() ? "waiting" : result] = n;
    }
    j["parked_webhooks"] = nlohmann::json::array();
    for (const auto& p : *parked) {
        j["parked_webhooks"].push_back({{"received_at", core::format_instant(p.received_at)},
                                        {"event_id", p.event_id},
                                        {"event_type", p.event_type},
                                        {"attempts", p.attempts},
                                        {"error", p.error}});
    }
    j["emails"] = *outbox;
    if (outbox->count("parked") > 0) {
        auto messages = st->outbox_list(store::OutboxStatus::kParked, std::nullopt, kParkedShown);
        j["parked_emails"] = messages ? messages_json(*messages) : nlohmann::json::array();
    }
    j["runs"] = nlohmann::json::array();
    for (const auto& r : *runs) {
        j["runs"].push_back({{"id", r.id},
                             {"started_at", core::format_instant(r.started_at)},
                             {"mode", r.mode},
                             {"result", r.result},
                             {"rows",
                              {{"inserted", r.rows_inserted},
                               {"updated", r.rows_updated},
                               {"deleted", r.rows_deleted}}},
                             {"error", r.error}});
    }
    std::cout << core::to_output(j);
    return kExitOk;
}

}  // namespace

int status(const Options& opt) {
    auto opened = open_for_reading(opt);
    if (!opened) {
        return kExitFailure;
    }
    if (opt.json) {
        return status_json(*opened);
    }
    auto& cfg = opened->cfg;
    auto& st = opened->stores.state;
    auto runs = st->recent_runs(5);
    auto inbox = st->inbox_counts();
    auto accounts = st->load_accounts();
    if (!runs || !inbox || !accounts) {
        return fail(!runs ? runs.error() : !inbox ? inbox.error() : accounts.error());
    }
    print_daemon(cfg);
    std::size_t active = 0;
    for (const auto& [id, a] : *accounts) {
        active += a.state == store::AccountState::kActive ? 1 : 0;
    }
    std::cout << "accounts:  " << active << " active, " << accounts->size() - active
              << " disabled\n";
    if (auto next = st->next_transition(); !next) {
        std::cout << "schedule:  cannot read (" << next.error().message << ")\n";
    } else if (*next) {
        std::cout << "schedule:  next " << core::format_instant((*next)->at) << ": "
                  << (*next)->what << " (" << (*next)->subject << ")\n";
    } else {
        std::cout << "schedule:  nothing scheduled\n";
    }
    std::size_t pending = inbox->count("") ? inbox->at("") : 0;
    std::cout << "webhooks:  " << pending << " waiting";
    for (const auto& [result, n] : *inbox) {
        if (!result.empty()) {
            std::cout << ", " << n << " " << result;
        }
    }
    std::cout << " (inbox keeps 8 days)\n";
    if (auto parked = st->inbox_parked(kParkedShown); !parked) {
        std::cout << "parked webhooks: cannot read (" << parked.error().message << ")\n";
    } else if (!parked->empty()) {
        std::cout << "parked webhooks (newest first; `radsync inbox requeue` retries them):\n";
        print_parked(*parked);
    }
    if (auto counts = st->outbox_counts(); !counts) {
        std::cout << "e-mails:   cannot read (" << counts.error().message << ")\n";
    } else if (!counts->empty()) {
        std::cout << "e-mails:  ";
        for (const auto& [status_name, n] : *counts) {
            std::cout << " " << n << " " << status_name;
        }
        std::cout << "\n";
        if (counts->count("parked") > 0) {
            auto parked = st->outbox_list(store::OutboxStatus::kParked, std::nullopt, kParkedShown);
            if (parked) {
                std::cout << "parked e-mails (newest first; `radsync outbox requeue` retries "
                             "them):\n";
                print_messages(*parked, "  ");
            }
        }
    }
    std::cout << "last runs:\n";
    for (const auto& r : *runs) {
        std::cout << "  #" << r.id << " " << core::format_instant(r.started_at) << " " << r.mode
                  << " " << r.result << " rows +" << r.rows_inserted << " ~" << r.rows_updated
                  << " -" << r.rows_deleted;
        if (!r.error.empty()) {
            std::cout << " (" << r.error << ")";
        }
        std::cout << "\n";
    }
    return kExitOk;
}

int inbox_parked(const Options& opt) {
    auto opened = open_for_reading(opt);
    if (!opened) {
        return kExitFailure;
    }
    auto& st = opened->stores.state;
    auto parked = st->inbox_parked(kParkedListed);
    if (!parked) {
        return fail(parked.error());
    }
    if (parked->empty()) {
        std::cout << "no parked webhooks\n";
        return kExitOk;
    }
    print_parked(*parked);
    return kExitOk;
}

int accounts_list(const Options& opt) {
    auto opened = open_for_reading(opt);
    if (!opened) {
        return kExitFailure;
    }
    auto& st = opened->stores.state;
    auto accounts = st->load_accounts();
    if (!accounts) {
        return fail(accounts.error());
    }
    if (opt.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& [id, a] : *accounts) {
            out.push_back({{"member_id", id},
                           {"username", a.username},
                           {"state", store::to_string(a.state)},
                           {"group", a.group},
                           {"locations", a.locations},
                           {"expires", a.expires ? nlohmann::json(core::format_instant(*a.expires))
                                                 : nlohmann::json(nullptr)},
                           {"kind", store::to_string(a.kind)},
                           {"address", a.address},
                           {"reason", a.reason}});
        }
        std::cout << core::to_output(out);
        return kExitOk;
    }
    std::printf("%-40s %-26s %-8s %-16s %-20s %s\n", "USERNAME", "MEMBER", "STATE", "GROUP",
                "LOCATIONS", "EXPIRES");
    for (const auto& [id, a] : *accounts) {
        std::printf("%-40s %-26s %-8s %-16s %-20s %s\n", a.username.c_str(), id.c_str(),
                    store::to_string(a.state), a.group.c_str(), a.locations.c_str(),
                    format_expiry(a.expires).c_str());
    }
    std::printf("%zu account(s)\n", accounts->size());
    return kExitOk;
}

int accounts_show(const Options& opt) {
    auto opened = open_for_reading(opt);
    if (!opened) {
        return kExitFailure;
    }
    auto& cfg = opened->cfg;
    auto& store = *opened->stores.state;
    auto& radius = *opened->stores.radius;
    auto snap = store.load_snapshot();
    auto accounts = store.load_accounts();
    auto owned = radius.load_owned_rows();
    auto foreign = radius.foreign_usernames();
    if (!snap || !accounts || !owned || !foreign) {
        return fail(!snap       ? snap.error()
                    : !accounts ? accounts.error()
                    : !owned    ? owned.error()
                                : foreign.error());
    }

    const std::string member_id = mapping::find_member_id(opt.account_key, *snap, *accounts);
    if (member_id.empty()) {
        std::cerr << "no member or account matches '" << opt.account_key << "'\n";
        return kExitFailure;
    }

    // Re-run the mapping read-only to explain the current decision, even for members without
    // an account. The generator is never used for the output (no password is shown for
    // members who have none yet).
    mapping::Context ctx;
    ctx.now = core::SystemClock().now();
    ctx.accounts = *accounts;
    ctx.foreign_usernames = *foreign;
    ctx.generate_password = [](int) { return std::string("not-yet-generated"); };
    const auto desired = mapping::map_snapshot(*snap, cfg, ctx);
    const mapping::Decision* decision = nullptr;
    for (const auto& d : desired.decisions) {
        if (d.member_id == member_id) {
            decision = &d;
        }
    }
    const auto stored = accounts->find(member_id);
    // Times in the zone the account's e-mails use (its first location's, else the default).
    const std::string zone =
        stored != accounts->end()
            ? notify::payload_for(stored->second, "", "", *snap, cfg, config::MessageKind::kWelcome)
                  .timezone
            : cfg.default_timezone;
    std::ostringstream out;
    nlohmann::json j = {{"member_id", member_id}};
    out << "member:    " << member_id;
    if (decision != nullptr && !decision->member_name.empty()) {
        out << " (" << decision->member_name << ")";
        j["member_name"] = decision->member_name;
    }
    out << "\n";
    if (stored != accounts->end()) {
        const auto& a = stored->second;
        const char* password = !a.secret_mac.empty() ? "from the OfficeRnD custom property"
                               : a.secret.empty()
                                   ? "none yet"
                                   : "generated; kept only as its hash "
                                     "(`radsync accounts reset-password` sets a new one)";
        out << "username:  " << a.username << "\n"
            << "state:     " << store::to_string(a.state) << " since "
            << both_clocks(a.state_since, zone) << "\n"
            << "group:     " << (a.group.empty() ? "-" : a.group) << "\n"
            << "locations: " << (a.locations.empty() ? "-" : a.locations) << "\n"
            << "kind:      " << store::to_string(a.kind) << "\n"
            << "expires:   " << both_clocks(a.expires, zone) << "\n"
            << "address:   " << (a.address.empty() ? "-" : a.address) << "\n"
            << "password:  " << password << "\n"
            << "reason:    " << a.reason << "\n";
        j["account"] = {{"username", a.username},
                        {"state", store::to_string(a.state)},
                        {"state_since", time_json(a.state_since, zone)},
                        {"group", a.group},
                        {"locations", a.locations},
                        {"kind", store::to_string(a.kind)},
                        {"expires", time_json(a.expires, zone)},
                        {"address", a.address},
                        {"password", password},
                        {"reason", a.reason}};
    } else {
        out << "account:   none\n";
        j["account"] = nullptr;
    }
    if (decision != nullptr) {
        out << "now:       " << mapping::to_string(decision->outcome) << ": " << decision->reason
            << "\n";
        out << "next:      "
            << (decision->next_change
                    ? both_clocks(decision->next_change, zone) + ": " + decision->next_change_what
                    : std::string("nothing scheduled"))
            << "\n";
        j["now"] = {{"outcome", mapping::to_string(decision->outcome)},
                    {"reason", decision->reason}};
        j["next"] = decision->next_change
                        ? nlohmann::json{{"at", time_json(decision->next_change, zone)},
                                         {"what", decision->next_change_what}}
                        : nlohmann::json(nullptr);
    }
    j["emails"] = nlohmann::json::array();
    if (auto messages = store.outbox_list(std::nullopt, member_id, 20);
        messages && !messages->empty()) {
        out << "e-mails:\n";
        print_messages(*messages, "  ", out);
        j["emails"] = messages_json(*messages);
    } else if (cfg.notify && stored != accounts->end()) {
        out << "e-mails:   none\n";
    }
    j["rows"] = nlohmann::json::array();
    j["recent_changes"] = nlohmann::json::array();
    if (stored != accounts->end()) {
        out << "rows:\n";
        for (const auto& o : *owned) {
            if (o.row.name != stored->second.username) {
                continue;
            }
            const auto& r = o.row;
            const bool secret = store::is_secret_attribute(r.attribute);
            const std::string value = secret ? std::string("(secret)") : r.value;
            out << "  " << store::to_string(r.table) << " " << r.attribute << " "
                << (r.table == store::Table::kRadusergroup
                        ? "priority " + std::to_string(r.priority)
                        : r.op + " " + value)
                << "\n";
            j["rows"].push_back({{"table", store::to_string(r.table)},
                                 {"attribute", r.attribute},
                                 {"op", r.op},
                                 {"value", value},
                                 {"priority", r.priority}});
        }
        describe_open_sessions(cfg, stored->second.username, out, j);
        auto audit = store.audit(10, stored->second.username);
        if (audit && !audit->empty()) {
            out << "recent changes:\n";
            for (const auto& e : *audit) {
                out << "  " << core::format_instant(e.at) << " run " << e.run_id << " " << e.op
                    << " " << e.table << " " << e.attribute << "\n";
                j["recent_changes"].push_back({{"at", core::format_instant(e.at)},
                                               {"run", e.run_id},
                                               {"op", e.op},
                                               {"table", e.table},
                                               {"attribute", e.attribute}});
            }
        }
    }
    std::cout << (opt.json ? core::to_output(j) : out.str());
    return kExitOk;
}

// A new generated password for one member, printed once: radsync keeps only its hash, so this

}  // namespace radsync::cli
