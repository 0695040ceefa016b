#include "radsync/store/records.hpp"

#include <utility>

namespace radsync::store {

bool is_secret_attribute(const std::string& attribute) {
    return attribute.find("Password") != std::string::npos;
}

const char* to_string(Table t) {
    switch (t) {
        case Table::kRadcheck:
            return "radcheck";
        case Table::kRadreply:
            return "radreply";
        case Table::kRadgroupcheck:
            return "radgroupcheck";
        case Table::kRadgroupreply:
            return "radgroupreply";
        case Table::kRadusergroup:
            return "radusergroup";
    }
    return "unknown";
}

const char* to_string(AccountState s) {
    return s == AccountState::kActive ? "active" : "revoked";
}

const char* to_string(AccountKind k) {
    switch (k) {
        case AccountKind::kMember:
            return "member";
        case AccountKind::kPass:
            return "pass";
        case AccountKind::kGuest:
            return "guest";
    }
    return "member";
}

AccountKind account_kind(std::string_view text) {
    if (text == "pass") {
        return AccountKind::kPass;
    }
    if (text == "guest") {
        return AccountKind::kGuest;
    }
    return AccountKind::kMember;
}

namespace {
constexpr std::pair<OutboxStatus, std::string_view> kOutboxStatuses[] = {
    {OutboxStatus::kPending, "pending"},
    {OutboxStatus::kSending, "sending"},
    {OutboxStatus::kSent, "sent"},
    {OutboxStatus::kParked, "parked"},
    {OutboxStatus::kCancelled, "cancelled"}};
}  // namespace

const char* to_string(OutboxStatus s) {
    for (const auto& [status, name] : kOutboxStatuses) {
        if (status == s) {
            return name.data();
        }
    }
    return "pending";
}

OutboxStatus outbox_status(std::string_view text) {
    for (const auto& [status, name] : kOutboxStatuses) {
        if (name == text) {
            return status;
        }
    }
    return OutboxStatus::kPending;
}

}  // namespace radsync::store
