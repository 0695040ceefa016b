#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "radsync/control/channel.hpp"
#include "radsync/core/json.hpp"
#include "radsync/core/timezone.hpp"
#include "radsync/mapping/engine.hpp"
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
void print_daemon(const config::Config& cfg) {
    control::Request req;
    req.command = control::Command::kStatus;
    auto answer = control::call(cfg.control.socket, req, {}, std::chrono::seconds{5});
    if (!answer) {
        std::cout << "daemon:    "
                  << (answer.error().kind == control::Unreached::kNoDaemon
                          ? "not running (nothing answers on " + cfg.control.socket + ")"
                          : "cannot ask: " + answer.error().message)
                  << "\n";
        return;
    }
    auto parsed = core::parse_json(answer->out);
    const nlohmann::json j = parsed ? std::move(*parsed) : nlohmann::json();
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

}  // namespace

int status(const Options& opt) {
    auto opened = open_for_reading(opt);
    if (!opened) {
        return kExitFailure;
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
        std::cout << out.dump(2) << "\n";
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
    std::cout << "member:    " << member_id;
    if (decision != nullptr && !decision->member_name.empty()) {
        std::cout << " (" << decision->member_name << ")";
    }
    std::cout << "\n";
    if (stored != accounts->end()) {
        const auto& a = stored->second;
        std::cout << "username:  " << a.username << "\n"
                  << "state:     " << store::to_string(a.state) << " since "
                  << core::format_instant(a.state_since) << "\n"
                  << "group:     " << (a.group.empty() ? "-" : a.group) << "\n"
                  << "locations: " << (a.locations.empty() ? "-" : a.locations) << "\n"
                  << "kind:      " << store::to_string(a.kind) << "\n"
                  << "expires:   " << format_expiry(a.expires) << "\n"
                  << "address:   " << (a.address.empty() ? "-" : a.address) << "\n"
                  << "password:  "
                  << (!a.secret_mac.empty() ? "from the OfficeRnD custom property"
                      : a.secret.empty()    ? "none yet"
                                            : "generated; kept only as its hash "
                                              "(`radsync accounts reset-password` sets a new one)")
                  << "\n"
                  << "reason:    " << a.reason << "\n";
    } else {
        std::cout << "account:   none\n";
    }
    if (decision != nullptr) {
        std::cout << "now:       " << mapping::to_string(decision->outcome) << ": "
                  << decision->reason << "\n";
        std::cout << "next:      "
                  << (decision->next_change ? core::format_instant(*decision->next_change) + ": " +
                                                  decision->next_change_what
                                            : std::string("nothing scheduled"))
                  << "\n";
    }
    if (auto messages = store.outbox_list(std::nullopt, member_id, 20);
        messages && !messages->empty()) {
        std::cout << "e-mails:\n";
        print_messages(*messages, "  ");
    } else if (cfg.notify && stored != accounts->end()) {
        std::cout << "e-mails:   none\n";
    }
    if (stored != accounts->end()) {
        std::cout << "rows:\n";
        for (const auto& o : *owned) {
            if (o.row.name != stored->second.username) {
                continue;
            }
            const auto& r = o.row;
            const bool secret = r.attribute.find("Password") != std::string::npos;
            std::cout << "  " << store::to_string(r.table) << " " << r.attribute << " "
                      << (r.table == store::Table::kRadusergroup
                              ? "priority " + std::to_string(r.priority)
                              : r.op + " " + (secret ? std::string("(secret)") : r.value))
                      << "\n";
        }
        auto audit = store.audit(10, stored->second.username);
        if (audit && !audit->empty()) {
            std::cout << "recent changes:\n";
            for (const auto& e : *audit) {
                std::cout << "  " << core::format_instant(e.at) << " run " << e.run_id << " "
                          << e.op << " " << e.table << " " << e.attribute << "\n";
            }
        }
    }
    return kExitOk;
}

// A new generated password for one member, printed once: radsync keeps only its hash, so this

}  // namespace radsync::cli
