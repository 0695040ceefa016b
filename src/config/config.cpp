#include "radsync/config/config.hpp"

#include "radsync/config/loader.hpp"

namespace radsync::config {

const char* to_string(Roaming r) {
    // The same spellings the YAML uses, so log lines can be pasted back into a mapping file.
    switch (r) {
        case Roaming::kHome:
            return "home";
        case Roaming::kMembership:
            return "membership";
        case Roaming::kAll:
            return "all";
    }
    return "unknown";
}

std::string Problem::to_string() const {
    std::string out = origin.file;
    if (origin.line > 0) {
        out += ":" + std::to_string(origin.line) + ":" + std::to_string(origin.column);
    }
    // File-level problems (unreadable file, YAML syntax) have no key path.
    if (!path.empty()) {
        out += ": " + path;
    }
    return out + ": " + message;
}

}  // namespace radsync::config
