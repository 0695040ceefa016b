#include "radsync/control/protocol.hpp"

#include <array>
#include <utility>

#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::control {

namespace {

constexpr std::array<std::pair<Command, const char*>, 6> kCommands = {{
    {Command::kStatus, "status"},
    {Command::kReconcile, "reconcile"},
    {Command::kInboxRequeue, "inbox-requeue"},
    {Command::kResetPassword, "reset-password"},
    {Command::kOutboxRequeue, "outbox-requeue"},
    {Command::kSessionsDisconnect, "sessions-disconnect"},
}};

constexpr std::size_t kMaxFieldBytes = 4096;

Error malformed(const std::string& what) {
    return Error(Errc::kMalformedPayload, "control request: " + what);
}

// Reads an optional field of the expected type; false (and `error` set) when it has another.
template <class T>
bool field(const nlohmann::json& j, const char* name, T& out, std::string& error) {
    const auto it = j.find(name);
    if (it == j.end()) {
        return true;
    }
    if constexpr (std::is_same_v<T, bool>) {
        if (!it->is_boolean()) {
            error = std::string(name) + " must be true or false";
            return false;
        }
    } else if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string() || it->get_ref<const std::string&>().size() > kMaxFieldBytes) {
            error = std::string(name) + " must be a string of at most 4096 bytes";
            return false;
        }
    } else {
        if (!it->is_number_unsigned()) {
            error = std::string(name) + " must be a whole number";
            return false;
        }
    }
    out = it->get<T>();
    return true;
}

}  // namespace

const char* to_string(Command c) {
    for (const auto& [command, name] : kCommands) {
        if (command == c) {
            return name;
        }
    }
    return "?";
}

std::string encode(const Request& r) {
    nlohmann::json j = {{"command", to_string(r.command)},
                        {"dry_run", r.dry_run},
                        {"allow_mass_removal", r.allow_mass_removal},
                        {"source", r.source},
                        {"payload_bytes", r.payload_bytes},
                        {"event_id", r.event_id},
                        {"all", r.all},
                        {"member", r.member},
                        {"print", r.print},
                        {"json", r.json}};
    return j.dump() + "\n";
}

Result<Request> decode_request(std::string_view header) {
    if (header.size() > kMaxHeaderBytes) {
        return malformed("header larger than 64 KiB");
    }
    auto parsed = core::parse_json(header, 4);
    if (!parsed || !parsed->is_object()) {
        return malformed("not a JSON object");
    }
    const auto& j = *parsed;
    Request r;
    std::string command;
    std::string error;
    if (!field(j, "command", command, error)) {
        return malformed(error);
    }
    bool known = false;
    for (const auto& [c, name] : kCommands) {
        if (command == name) {
            r.command = c;
            known = true;
        }
    }
    if (!known) {
        return malformed("unknown command '" + command.substr(0, 64) + "'");
    }
    std::uint64_t payload = 0;
    if (!field(j, "dry_run", r.dry_run, error) ||
        !field(j, "allow_mass_removal", r.allow_mass_removal, error) ||
        !field(j, "source", r.source, error) || !field(j, "payload_bytes", payload, error) ||
        !field(j, "event_id", r.event_id, error) || !field(j, "all", r.all, error) ||
        !field(j, "member", r.member, error) || !field(j, "print", r.print, error) ||
        !field(j, "json", r.json, error)) {
        return malformed(error);
    }
    if (payload > snapshot::kMaxSnapshotBytes ||
        (payload > 0 && r.command != Command::kReconcile)) {
        return malformed("payload_bytes out of range");
    }
    r.payload_bytes = static_cast<std::size_t>(payload);
    return r;
}

std::string encode(const Answer& a) {
    return nlohmann::json{{"exit_code", a.exit_code}, {"out", a.out}, {"err", a.err}}.dump();
}

Result<Answer> decode_answer(std::string_view text) {
    if (text.size() > kMaxAnswerBytes) {
        return Error(Errc::kMalformedPayload, "the daemon's answer is larger than 64 MiB");
    }
    auto parsed = core::parse_json(text, 4);
    if (!parsed || !parsed->is_object() || !parsed->contains("exit_code") ||
        !(*parsed)["exit_code"].is_number_integer()) {
        return Error(Errc::kMalformedPayload, "the daemon's answer is not one radsync reads");
    }
    Answer a;
    a.exit_code = (*parsed)["exit_code"].get<int>();
    if (auto it = parsed->find("out"); it != parsed->end() && it->is_string()) {
        a.out = it->get<std::string>();
    }
    if (auto it = parsed->find("err"); it != parsed->end() && it->is_string()) {
        a.err = it->get<std::string>();
    }
    return a;
}

}  // namespace radsync::control
