#pragma once

#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "radsync/core/error.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::snapshot {

/// A keyed hash of a secret (mapping::keyed_hash shape), what the stored snapshot keeps
/// instead of the secret.
using SecretHash = std::function<std::string(std::string_view)>;

/// Whether a member custom property holds a secret: one of `named` (the configured password
/// property), or any property whose name contains "password" in any case, so that a password
/// kept for another purpose is not written down in clear either.
[[nodiscard]] bool is_secret_property(std::string_view name, const std::set<std::string>& named);

/// Whether any of these properties is a secret (is_secret_property) not hashed yet: the cheap
/// test that lets most members skip redact_member().
[[nodiscard]] bool has_cleartext_secret(const Properties& properties,
                                        const std::set<std::string>& named);

/// A member's JSON object as it may be stored: the value of every secret property replaced by
/// `hash` of its flattened text (as Properties holds it). Values that already are keyed hashes
/// stay. Errc::kMalformedPayload if `raw` is not a JSON object.
[[nodiscard]] Result<std::string> redact_member(std::string_view raw,
                                                const std::set<std::string>& named,
                                                const SecretHash& hash);

}  // namespace radsync::snapshot
