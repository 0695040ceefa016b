#include "radsync/mapping/match.hpp"

namespace radsync::mapping {

bool matches(const config::Match& m, const std::string& id, const std::string& name,
             const std::string& code) {
    if (m.id) {
        return *m.id == id;
    }
    if (m.name) {
        return !name.empty() && *m.name == name;
    }
    if (m.code) {
        return !code.empty() && *m.code == code;
    }
    return false;
}

std::string describe(const config::Match& m) {
    if (m.id) {
        return "id \"" + *m.id + "\"";
    }
    if (m.name) {
        return "name \"" + *m.name + "\"";
    }
    if (m.code) {
        return "code \"" + *m.code + "\"";
    }
    return "nothing";
}

}  // namespace radsync::mapping
