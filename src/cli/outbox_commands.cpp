// The e-mail commands: `outbox list|requeue` and `accounts profile`. Listing and profiles only
// read; requeue goes through the daemon when it runs.

#include <fstream>
#include <iostream>

#include <sys/stat.h>

#include "common.hpp"
#include "radsync/config/loader.hpp"
#include "radsync/core/timezone.hpp"
#include "radsync/mapping/engine.hpp"
#include "radsync/notify/plan.hpp"
#include "radsync/notify/profile.hpp"
#include "radsync/service/app.hpp"
#include "radsync/service/mailer.hpp"

namespace radsync::cli {

namespace {

constexpr std::size_t kListed = 200;

}  // namespace

void print_messages(const std::vector<store::OutboxMessage>& messages, const char* indent,
                    std::ostream& out) {
    for (const auto& m : messages) {
        out << indent << "#" << m.id << " " << core::format_instant(m.created_at) << " " << m.kind
            << " to " << m.recipient << " (" << m.recipient_role << ") "
            << store::to_string(m.status);
        if (m.sent_at) {
            out << " " << core::format_instant(*m.sent_at);
        }
        if (m.attempts > 0) {
            out << ", " << m.attempts << " attempt(s)";
        }
        if (!m.last_error.empty()) {
            out << ": " << m.last_error;
        }
        out << "\n";
    }
}

int outbox_list(const Options& opt) {
    auto opened = open_for_reading(opt);
    if (!opened) {
        return kExitFailure;
    }
    std::optional<store::OutboxStatus> status;
    if (!opt.status_filter.empty()) {
        status = store::outbox_status(opt.status_filter);
        if (store::to_string(*status) != opt.status_filter) {
            std::cerr << "unknown status '" << opt.status_filter
                      << "': use pending, sending, sent, parked or cancelled\n";
            return kExitFailure;
        }
    }
    auto messages = opened->stores.state->outbox_list(status, std::nullopt, kListed);
    if (!messages) {
        return fail(messages.error());
    }
    if (messages->empty()) {
        std::cout << "no e-mails" << (status ? std::string(" ") + store::to_string(*status) : "")
                  << "\n";
        return kExitOk;
    }
    std::cout << "e-mails, newest first (#number, queued, kind, recipient, status):\n";
    print_messages(*messages, "  ");
    return kExitOk;
}

int outbox_requeue(const Options& opt) {
    if (opt.event_id.empty() == !opt.all) {
        std::cerr << "name one message number (see `radsync outbox list`), or --all for every "
                     "parked e-mail\n";
        return kExitFailure;
    }
    std::optional<std::int64_t> id;
    if (!opt.all) {
        id = service::parse_message_number(opt.event_id);
        if (!id) {
            std::cerr << "'" << opt.event_id << "' is not a message number\n";
            return kExitFailure;
        }
    }
    auto cfg = load_config_for_command(opt);
    if (!cfg) {
        return kExitFailure;
    }
    Write w;
    w.request.command = control::Command::kOutboxRequeue;
    w.request.event_id = opt.event_id;
    w.request.all = opt.all;
    w.run_here = [&]() -> int {
        auto st = store::open_sqlite_stores(paths_of(*cfg), open_options_of(*cfg));
        if (!st) {
            return fail(st.error());
        }
        auto n = st->state->outbox_requeue(id, core::SystemClock().now());
        if (!n) {
            return fail(n.error());
        }
        if (*n == 0) {
            std::cerr << (opt.all ? "no parked e-mails\n"
                                  : "no parked e-mail " + opt.event_id + "\n");
            return kExitFailure;
        }
        std::cout << *n << " e-mail(s) pending again; the daemon sends them when it runs\n";
        return kExitOk;
    };
    return write_through_daemon_or_here(*cfg, w);
}

int accounts_profile(const Options& opt) {
    auto opened = open_for_reading(opt);
    if (!opened) {
        return kExitFailure;
    }
    const auto& cfg = opened->cfg;
    if (!cfg.notify || !cfg.notify->profile) {
        std::cerr << "error: " << opt.config_file << " has no notify.profile section\n";
        return kExitFailure;
    }
    auto snap = opened->stores.state->load_snapshot();
    auto accounts = opened->stores.state->load_accounts();
    if (!snap || !accounts) {
        return fail(!snap ? snap.error() : accounts.error());
    }
    const std::string member_id = mapping::find_member_id(opt.account_key, *snap, *accounts);
    const auto account = accounts->find(member_id);
    if (member_id.empty() || account == accounts->end()) {
        std::cerr << "no account matches '" << opt.account_key << "'\n";
        return kExitFailure;
    }
    // The password is not in it: radsync keeps only its hash.
    const auto payload =
        notify::payload_for(account->second, "", "", *snap, cfg, config::MessageKind::kWelcome);
    auto material = service::read_profile_material(*cfg.notify->profile);
    if (!material) {
        return fail(material.error());
    }
    auto made = service::make_profile(*cfg.notify, payload, *material);
    if (!made) {
        return fail(made.error());
    }
    if (!*made) {
        std::cerr << "error: no SSID for " << account->second.username
                  << ": its locations list no ssids and notify.ssid is not set\n";
        return kExitFailure;
    }
    const std::string& bytes = **made;
    const bool is_signed = !material->signing_certificate_pem.empty();
    if (opt.output_file.empty() || opt.output_file == "-") {
        std::cout << bytes;
        return kExitOk;
    }
    std::ofstream out(opt.output_file, std::ios::binary | std::ios::trunc);
    out << bytes;
    if (!out.flush()) {
        std::cerr << "cannot write " << opt.output_file << "\n";
        return kExitFailure;
    }
    std::cerr << "wrote " << opt.output_file << " (" << (is_signed ? "signed" : "unsigned")
              << ", for " << account->second.username << ")\n";
    return kExitOk;
}

}  // namespace radsync::cli
