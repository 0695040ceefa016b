#include "radsync/notify/plan.hpp"

#include <algorithm>

#include "radsync/snapshot/merge.hpp"

namespace radsync::notify {

namespace {

using config::MessageKind;
using store::AccountKind;
using store::AccountState;

template <class Entity>
const Entity* by_id(const std::vector<Entity>& list, const std::string& id) {
    const auto it =
        std::lower_bound(list.begin(), list.end(), id,
                         [](const Entity& e, const std::string& v) { return e.id < v; });
    return it != list.end() && it->id == id ? &*it : nullptr;
}

const snapshot::Location* location_of(const config::LocationRule& rule,
                                      const snapshot::Snapshot& snap) {
    for (const auto& l : snap.locations) {
        const auto& m = rule.match;
        if ((m.id && *m.id == l.id) || (m.name && *m.name == l.name) ||
            (m.code && *m.code == l.code)) {
            return &l;
        }
    }
    return nullptr;
}

// The mapping's location rules an account may use ("*": every one).
std::vector<const config::LocationRule*> rules_of(const store::AccountRecord& account,
                                                  const config::Config& cfg) {
    std::vector<const config::LocationRule*> out;
    const std::string& list = account.locations;
    for (const auto& rule : cfg.mapping.locations) {
        bool listed = list == "*";
        for (std::size_t start = 0; !listed && start <= list.size();) {
            const auto comma = std::min(list.find(',', start), list.size());
            listed = list.compare(start, comma - start, rule.key) == 0 &&
                     comma - start == rule.key.size();
            start = comma + 1;
        }
        if (listed) {
            out.push_back(&rule);
        }
    }
    return out;
}

// The message a password this run generated goes out in: reset when the operator asked for it
// (accounts reset-password), else by what the account is for.
MessageKind kind_for_new_password(const store::AccountRecord& account, bool reset) {
    if (reset) {
        return MessageKind::kReset;
    }
    switch (account.kind) {
        case AccountKind::kPass:
            return MessageKind::kPass;
        case AccountKind::kGuest:
            return MessageKind::kGuest;
        case AccountKind::kMember:
            break;
    }
    return MessageKind::kWelcome;
}

// The booking a guest account's key (guest:<booking>:<person>) names, if it is in the snapshot.
const snapshot::Booking* booking_of_guest(const std::string& key, const snapshot::Snapshot& snap) {
    const std::string_view rest = std::string_view(key).substr(snapshot::kGuestKeyPrefix.size());
    return by_id(snap.bookings, std::string(rest.substr(0, rest.find(':'))));
}

}  // namespace

Payload payload_for(const store::AccountRecord& account, const std::string& name,
                    const std::string& email, const snapshot::Snapshot& snap,
                    const config::Config& cfg, MessageKind kind) {
    Payload p;
    p.kind = kind;
    p.name = name;
    p.email = email;
    p.username = account.username;
    p.valid_until = account.expires;
    for (const auto* rule : rules_of(account, cfg)) {
        const auto* loc = location_of(*rule, snap);
        p.locations.push_back(loc != nullptr && !loc->name.empty() ? loc->name : rule->key);
        for (const auto& ssid : rule->ssids) {
            if (std::find(p.ssids.begin(), p.ssids.end(), ssid) == p.ssids.end()) {
                p.ssids.push_back(ssid);
            }
        }
        if (p.timezone.empty()) {
            p.timezone = rule->timezone ? *rule->timezone : loc != nullptr ? loc->timezone : "";
        }
    }
    if (p.locations.empty() && account.locations == "*") {
        p.locations.push_back("every location");
    }
    if (p.timezone.empty()) {
        p.timezone = cfg.default_timezone;
    }
    if (account.kind == AccountKind::kGuest) {
        if (const auto* b = booking_of_guest(account.member_id, snap)) {
            if (const auto* host = snapshot::find_member(snap, b->member)) {
                p.host = host->name;
            }
            if (const auto* room = by_id(snap.resources, b->resource)) {
                p.booking = room->name;
            }
            if (!b->timezone.empty()) {
                p.timezone = b->timezone;
            }
        }
    }
    return p;
}

OutboxPlan plan_messages(const std::vector<mapping::Decision>& decisions,
                         const std::map<std::string, store::AccountRecord>& before,
                         const snapshot::Snapshot& snap, const config::Config& cfg,
                         const std::set<std::string>& resets,
                         const mapping::PasswordGenerator& random) {
    OutboxPlan plan;
    if (!cfg.notify) {
        return plan;
    }
    const config::Notify& notify = *cfg.notify;
    constexpr int kMessageIdRandom = 24;
    for (const auto& d : decisions) {
        const auto old = before.find(d.member_id);
        const store::AccountRecord* was = old == before.end() ? nullptr : &old->second;
        const bool active_now = d.account && d.account->state == AccountState::kActive;
        if (!active_now) {
            if (was != nullptr && was->state == AccountState::kActive) {
                plan.cancel[d.member_id] = "the account lost access";
            }
            continue;
        }
        const store::AccountRecord& account = *d.account;
        std::optional<MessageKind> kind;
        std::optional<std::string> password;
        if (!d.new_password.empty()) {
            kind = kind_for_new_password(account, resets.count(d.member_id) > 0);
            password = d.new_password;
        } else if (was == nullptr && account.kind != AccountKind::kGuest) {
            kind = account.kind == AccountKind::kPass ? MessageKind::kPass : MessageKind::kWelcome;
        } else if (was != nullptr && was->state == AccountState::kRevoked &&
                   account.kind != AccountKind::kGuest) {
            kind = MessageKind::kReturning;
        }
        if (!kind) {
            continue;
        }
        Payload payload = payload_for(account, d.member_name, d.member_email, snap, cfg, *kind);
        payload.password = password;
        if (d.valid_from) {
            payload.valid_from = d.valid_from;
        }
        // Who receives it, and as whom.
        std::vector<std::pair<std::string, std::string>> recipients;
        if (account.kind == AccountKind::kGuest) {
            const auto to = notify.guest_codes_to;
            if (to != config::GuestRecipients::kBooker) {
                recipients.emplace_back(d.member_email, "visitor");
            }
            if (to != config::GuestRecipients::kVisitor) {
                const auto* b = booking_of_guest(d.member_id, snap);
                const auto* host = b != nullptr ? snapshot::find_member(snap, b->member) : nullptr;
                recipients.emplace_back(host != nullptr ? host->email : "", "booker");
            }
        } else {
            recipients.emplace_back(d.member_email, "member");
        }
        std::set<std::string> sent_to;
        for (const auto& [email, role] : recipients) {
            const std::string address = bare_address(email);
            if (address.empty()) {
                plan.undeliverable.push_back(
                    d.member_id + " (" + role +
                    "): " + (email.empty() ? "no e-mail address" : "unusable e-mail address"));
                continue;
            }
            if (!sent_to.insert(address).second) {
                continue;  // the booking member is also the visitor
            }
            store::OutboxMessage m;
            m.subject = d.member_id;
            m.username = account.username;
            m.kind = config::to_string(*kind);
            m.recipient = address;
            m.recipient_role = role;
            m.message_id = make_message_id(notify, random(kMessageIdRandom));
            m.payload = to_json(payload);
            m.carries_password = password.has_value();
            plan.messages.push_back(std::move(m));
        }
    }
    return plan;
}

}  // namespace radsync::notify
