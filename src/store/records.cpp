#include "radsync/store/records.hpp"

namespace radsync::store {

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

}  // namespace radsync::store
