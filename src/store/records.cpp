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

}  // namespace radsync::store
