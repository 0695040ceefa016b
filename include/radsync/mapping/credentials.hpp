#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "radsync/core/error.hpp"

namespace radsync::mapping {

/// Longest username FreeRADIUS's radcheck.username column holds (varchar(64)), counted in its
/// escaped form.
inline constexpr std::size_t kMaxUsernameBytes = 64;

/// Escapes a login name the way rlm_sql does before it looks the user up (`sql_escape_func`):
/// bytes outside `@a-zA-Z0-9.-_: /` become "=XX" (upper-case hex), multi-byte UTF-8 sequences
/// pass unchanged. Rows must be stored under this form or FreeRADIUS never finds them.
[[nodiscard]] std::string radius_escape(std::string_view login_name);

/// Trims, optionally lower-cases (ASCII only: FreeRADIUS compares bytes, and lower-casing
/// other scripts is locale-dependent), and validates a login name. Errc::kMalformedPayload if
/// it is empty, contains control characters or invalid UTF-8, or its escaped form exceeds
/// kMaxUsernameBytes.
[[nodiscard]] Result<std::string> normalise_login_name(std::string_view raw, bool lower_case);

/// hex(MD4(UTF-16LE(password))), lower-case: the NT-Password FreeRADIUS uses for PAP and
/// MS-CHAPv2. MD4 comes from OpenSSL 3's legacy provider. Errc::kMalformedPayload if the
/// password is not valid UTF-8; Errc::kIoFailed if the legacy provider cannot be loaded.
[[nodiscard]] Result<std::string> nt_hash_hex(std::string_view utf8_password);

/// Whether FreeRADIUS and WiFi clients can use `utf8_password` at all. MS-CHAP and PEAP hash
/// the password as UCS-2, which has no room for characters outside the Basic Multilingual
/// Plane (emoji, many historic scripts): FreeRADIUS and wpa_supplicant both refuse such a
/// password, so an account carrying one could never log in. Errc::kMalformedPayload, with a
/// message that never quotes the password, if it is empty, not valid UTF-8 or has such a
/// character.
[[nodiscard]] Status check_usable_password(std::string_view utf8_password);

/// What a keyed hash of a secret looks like wherever radsync keeps one instead of the secret
/// (the stored snapshot, processed webhook bodies): "radsync-hmac-sha256:" + 64 hex digits.
inline constexpr std::string_view kKeyedHashPrefix = "radsync-hmac-sha256:";
/// True for a value of that shape (never a member's real password in practice).
[[nodiscard]] bool is_keyed_hash(std::string_view value);
/// HMAC-SHA256 of `value` under `key`, in that shape.
[[nodiscard]] std::string keyed_hash(std::string_view key, std::string_view value);

/// Produces a new random password of the given length.
using PasswordGenerator = std::function<std::string(int length)>;

/// A password from OpenSSL's CSPRNG over an alphabet without look-alike characters
/// (no 0/O, 1/l/I), chosen without modulo bias. Aborts only if the CSPRNG itself fails.
[[nodiscard]] std::string generate_password(int length);

}  // namespace radsync::mapping
