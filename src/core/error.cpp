#include "radsync/core/error.hpp"

#include <stdexcept>

namespace radsync {

const char* to_string(Errc code) {
    switch (code) {
        case Errc::kConfigInvalid:
            return "config_invalid";
        case Errc::kMalformedPayload:
            return "malformed_payload";
        case Errc::kBadSignature:
            return "bad_signature";
        case Errc::kStaleTimestamp:
            return "stale_timestamp";
        case Errc::kUnknownEventType:
            return "unknown_event_type";
        case Errc::kStoreBusy:
            return "store_busy";
        case Errc::kStoreFailed:
            return "store_failed";
        case Errc::kStoreSchemaTooNew:
            return "store_schema_too_new";
        case Errc::kNotFound:
            return "not_found";
        case Errc::kConflict:
            return "conflict";
        case Errc::kApiUnavailable:
            return "api_unavailable";
        case Errc::kApiRateLimited:
            return "api_rate_limited";
        case Errc::kApiUnauthorized:
            return "api_unauthorized";
        case Errc::kIoFailed:
            return "io_failed";
        case Errc::kIncomplete:
            return "incomplete";
    }
    return "unknown";
}

void throw_exception_from_error(const Error& e, const boost::source_location& /*loc*/) {
    throw std::runtime_error(std::string(to_string(e.code)) + ": " + e.message);
}

}  // namespace radsync
