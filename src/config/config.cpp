#include "radsync/config/config.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>

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

bool replies_set_interim_interval(const AccessGroup& g) {
    return std::any_of(g.reply.begin(), g.reply.end(), [](const ReplyAttribute& r) {
        return r.attribute == "Acct-Interim-Interval";
    });
}

std::chrono::seconds interim_interval_of(const AccessGroup& g, const Sessions& s) {
    if (g.accounting_interval) {
        return *g.accounting_interval;
    }
    for (const auto& r : g.reply) {
        long long v = 0;
        const auto* end = r.value.data() + r.value.size();
        if (r.attribute == "Acct-Interim-Interval" && !r.value.empty() &&
            std::from_chars(r.value.data(), end, v).ptr == end && v > 0) {
            return std::chrono::seconds{v};
        }
    }
    return s.interim_interval;
}

const char* to_string(SessionKey k) {
    switch (k) {
        case SessionKey::kUserName:
            return "User-Name";
        case SessionKey::kAcctSessionId:
            return "Acct-Session-Id";
        case SessionKey::kCallingStationId:
            return "Calling-Station-Id";
        case SessionKey::kFramedIpAddress:
            return "Framed-IP-Address";
        case SessionKey::kNasIpAddress:
            return "NAS-IP-Address";
    }
    return "?";
}

const char* to_string(MessageKind k) {
    // The keys of notify.templates.
    switch (k) {
        case MessageKind::kWelcome:
            return "welcome";
        case MessageKind::kReturning:
            return "returning";
        case MessageKind::kPass:
            return "pass";
        case MessageKind::kGuest:
            return "guest";
        case MessageKind::kReset:
            return "reset";
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

Result<std::string> read_secret_file(const std::string& path) {
    constexpr std::size_t kMaxSecretBytes = 4096;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return Error(Errc::kIoFailed, "cannot read secret file " + path);
    }
    std::string text(kMaxSecretBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxSecretBytes) {
        return Error(Errc::kConfigInvalid, "secret file " + path + " is too large");
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.pop_back();
    }
    if (text.empty()) {
        return Error(Errc::kConfigInvalid, "secret file " + path + " is empty");
    }
    return text;
}

}  // namespace radsync::config
