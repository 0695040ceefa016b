#include "radsync/officernd/token.hpp"

#include <algorithm>

#include <boost/algorithm/string/predicate.hpp>
#include <nlohmann/json.hpp>

#include "radsync/core/json.hpp"
#include "radsync/officernd/url.hpp"

namespace radsync::officernd {

using nlohmann::json;
using std::chrono::seconds;

namespace {
constexpr seconds kDocumentedTokenLifetime{3599};
}  // namespace

Result<TokenGrant> parse_token_response(std::string_view body) {
    const auto parsed = core::parse_json(body);
    if (!parsed || !parsed->is_object()) {
        return Error(Errc::kMalformedPayload, "token response is not a JSON object");
    }
    const json& doc = *parsed;
    TokenGrant grant;
    if (auto it = doc.find("access_token"); it != doc.end() && it->is_string()) {
        grant.access_token = it->get<std::string>();
    }
    if (grant.access_token.empty()) {
        return Error(Errc::kMalformedPayload, "token response has no access_token");
    }
    if (auto it = doc.find("token_type"); it != doc.end() && !it->is_null()) {
        if (!it->is_string() || !boost::algorithm::iequals(it->get<std::string>(), "bearer")) {
            return Error(Errc::kMalformedPayload, "token response is not a Bearer token");
        }
    }
    grant.expires_in = kDocumentedTokenLifetime;
    if (auto it = doc.find("expires_in"); it != doc.end() && !it->is_null()) {
        if (!it->is_number()) {
            return Error(Errc::kMalformedPayload, "token response expires_in is not a number");
        }
        const double v = it->get<double>();
        if (!(v >= 1.0)) {
            return Error(Errc::kMalformedPayload, "token response expires_in is not positive");
        }
        constexpr double kDay = 86400.0;  // longer lifetimes are capped; we refresh anyway
        grant.expires_in = seconds{static_cast<seconds::rep>(std::min(v, kDay))};
    }
    return grant;
}

core::Instant token_refresh_at(core::Instant obtained, seconds expires_in) {
    constexpr seconds kMargin{60};
    const seconds margin = expires_in >= 2 * kMargin ? kMargin : expires_in / 2;
    return obtained + expires_in - margin;
}

std::string token_request_body(std::string_view client_id, std::string_view client_secret,
                               std::string_view scope) {
    return "grant_type=client_credentials&client_id=" + url_encode(client_id) +
           "&client_secret=" + url_encode(client_secret) + "&scope=" + url_encode(scope);
}

}  // namespace radsync::officernd
