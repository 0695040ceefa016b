#include "radsync/officernd/classify.hpp"

#include <cstddef>

#include <boost/algorithm/string/predicate.hpp>
#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"

namespace radsync::officernd {

namespace {

using nlohmann::json;

std::string with_detail(std::string head, std::string_view detail) {
    if (!detail.empty()) {
        head.append(": ").append(detail);
    }
    return head;
}

// Replaces control characters and bounds the length, cutting on a UTF-8 character boundary.
std::string printable(std::string_view text, std::size_t max_bytes) {
    std::string out;
    if (text.size() > max_bytes) {
        // If the first byte left out continues a multi-byte character, that character
        // straddles the cut: end before its lead byte.
        std::size_t cut = max_bytes;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) {
            --cut;
        }
        out = std::string(text.substr(0, cut)) + "...";
    } else {
        out = std::string(text);
    }
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20U || u == 0x7FU) {
            c = ' ';
        }
    }
    return out;
}

constexpr std::size_t kMaxServerMessage = 200;

}  // namespace

Verdict classify_status(Endpoint endpoint, unsigned status, std::string_view server_msg,
                        bool may_refresh_token, std::string_view org_slug) {
    const std::string code_text = std::to_string(status);
    if (status >= 200 && status < 300) {
        return {Action::kAccept, Errc::kApiUnavailable, {}};
    }
    if (endpoint == Endpoint::kToken) {
        if (status == 401) {
            return {Action::kFail, Errc::kApiUnauthorized,
                    with_detail("OfficeRnD rejected the client credentials (401", server_msg) +
                        ") — check officernd.client_id and the client secret"};
        }
        if (status == 400) {
            return {Action::kFail, Errc::kApiUnauthorized,
                    with_detail("OfficeRnD refused the token request (400", server_msg) +
                        ") — check the client credentials and that the application has every "
                        "requested scope"};
        }
        if (status == 429) {
            return {Action::kRetry, Errc::kApiRateLimited,
                    with_detail("OfficeRnD token endpoint rate limit (429)", server_msg)};
        }
        if (status >= 500 && status < 600) {
            return {Action::kRetry, Errc::kApiUnavailable,
                    with_detail("OfficeRnD token endpoint answered " + code_text, server_msg)};
        }
        return {Action::kFail, Errc::kApiUnavailable,
                with_detail("OfficeRnD token endpoint answered " + code_text, server_msg)};
    }
    switch (status) {
        case 400:
            // Our request is wrong (an unknown filter, a bad limit): sending it again cannot
            // help, and the server's message is the only useful diagnosis.
            return {Action::kFail, Errc::kApiUnavailable,
                    with_detail("OfficeRnD rejected the request (400)", server_msg)};
        case 401:
            if (may_refresh_token) {
                return {Action::kRefreshToken, Errc::kApiUnauthorized, "token refused (401)"};
            }
            return {Action::kFail, Errc::kApiUnauthorized,
                    "OfficeRnD refused the token (401) — the application may lack a scope"};
        case 403:
            return {Action::kFail, Errc::kApiUnauthorized,
                    with_detail("OfficeRnD forbade the request (403)", server_msg) +
                        " — the application may lack a scope"};
        case 404:
            return {Action::kFail, Errc::kNotFound,
                    with_detail("OfficeRnD has no such item (404)", server_msg)};
        case 429:
            return {Action::kRetry, Errc::kApiRateLimited,
                    with_detail("OfficeRnD rate limit (429)", server_msg)};
        default:
            break;
    }
    if (status == 500 && boost::algorithm::icontains(server_msg, "organization not found")) {
        // OfficeRnD answers a wrong slug with a 500 (officernd-api.md §7.12); retrying will
        // not conjure the organisation up.
        return {Action::kFail, Errc::kConfigInvalid,
                "OfficeRnD organization '" + std::string(org_slug) +
                    "' not found (check officernd.org_slug)"};
    }
    if (status >= 500 && status < 600) {
        return {Action::kRetry, Errc::kApiUnavailable,
                with_detail("OfficeRnD answered " + code_text, server_msg)};
    }
    return {Action::kFail, Errc::kApiUnavailable,
            with_detail("OfficeRnD answered unexpected status " + code_text, server_msg)};
}

Verdict classify_transport(TransportFailure failure, std::string_view detail) {
    switch (failure) {
        case TransportFailure::kTimeout:
        case TransportFailure::kResolve:
        case TransportFailure::kConnection:
        case TransportFailure::kTlsHandshake:
        case TransportFailure::kProtocol:
            return {Action::kRetry, Errc::kApiUnavailable, std::string(detail)};
        case TransportFailure::kTlsVerify:
        case TransportFailure::kTooLarge:
            break;
    }
    return {Action::kFail, Errc::kApiUnavailable, std::string(detail)};
}

std::string server_message(std::string_view body) {
    const auto parsed = core::parse_json(body);
    if (parsed && parsed->is_object()) {
        const json& doc = *parsed;
        std::string text;
        if (auto it = doc.find("message"); it != doc.end()) {
            if (it->is_string()) {
                text = it->get<std::string>();
            } else if (it->is_array()) {
                for (const auto& part : *it) {
                    if (part.is_string()) {
                        text += (text.empty() ? "" : "; ") + part.get<std::string>();
                    }
                }
            }
        }
        if (text.empty()) {
            if (auto it = doc.find("error"); it != doc.end() && it->is_string()) {
                text = it->get<std::string>();
            }
            if (auto it = doc.find("error_description"); it != doc.end() && it->is_string()) {
                text += (text.empty() ? "" : ": ") + it->get<std::string>();
            }
        }
        if (!text.empty()) {
            return printable(text, kMaxServerMessage);
        }
    }
    return printable(body, kMaxServerMessage);
}

}  // namespace radsync::officernd
