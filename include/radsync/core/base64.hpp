#pragma once

#include <string>
#include <string_view>

#include "radsync/core/error.hpp"

namespace radsync::core {

/// Standard base64 (RFC 4648 §4) with padding, in one line.
[[nodiscard]] std::string base64_encode(std::string_view bytes);
/// base64_encode's output cut into lines of `width` characters ending in CRLF (MIME bodies
/// and attachments, RFC 2045 §6.8: at most 76).
[[nodiscard]] std::string base64_lines(std::string_view bytes, std::size_t width = 76);
/// Undoes base64_encode; Errc::kMalformedPayload on anything that is not padded base64.
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

}  // namespace radsync::core
