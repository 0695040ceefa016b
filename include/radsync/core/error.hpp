#pragma once

#include <string>
#include <system_error>
#include <utility>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace radsync {

/// The expected failures radsync knows how to handle. Each I/O edge converts its own error codes
/// (SQLite, Asio, OpenSSL) to one of these where it decides what the failure means.
enum class Errc {
    kConfigInvalid = 1,
    kMalformedPayload,
    kBadSignature,
    kStaleTimestamp,
    kUnknownEventType,
    kStoreBusy,
    kStoreFailed,
    kStoreSchemaTooNew,
    kNotFound,
    kConflict,
    kApiUnavailable,
    kApiRateLimited,
    kApiUnauthorized,
    kIoFailed,
    /// Data that does not add up (a list page skipped or empty mid-walk): nothing is applied.
    kIncomplete,
};

/// Short stable name of an error code, for logs and metric labels.
[[nodiscard]] const char* to_string(Errc code);

/// A failure as a value: what kind, plus a human-readable message for logs and operators.
/// Messages never contain secrets; the code decides behaviour, the message is for people.
struct Error {
    Errc code{};
    std::string message;

    Error() = default;  // boost::system::result needs it; never a meaningful error
    Error(Errc c, std::string m) : code(c), message(std::move(m)) {}
};

/// boost::system::result calls this when value() is taken from an error result: that is a bug
/// in the caller, reported as an exception carrying the message.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

/// What every fallible I/O-edge function returns (std::expected is C++23; g++ 12 lacks it).
template <class T>
using Result = boost::system::result<T, Error>;

/// Convenience for the void case.
using Status = Result<void>;

}  // namespace radsync
