#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace radsync::core {

/// HMAC-SHA256 of `data` under `key`. OpenSSL 3's one-shot HMAC() looks the algorithm up in
/// the provider tables on every call, which costs more than hashing a webhook body; this
/// looks it up once per process. Thread-safe. Empty only if OpenSSL itself fails.
[[nodiscard]] std::optional<std::array<unsigned char, 32>> hmac_sha256(std::string_view key,
                                                                       std::string_view data);

}  // namespace radsync::core
