#pragma once

#include <string>
#include <string_view>

#include "radsync/core/error.hpp"

namespace radsync::store {

/// The state database's own key (32 random bytes in a 0600 file next to it): what radsync
/// keeps instead of secrets is derived from it, keyed hashes of password properties and sealed
/// webhook bodies, so that a copy of the database alone gives neither away.
class AtRestKey {
public:
    /// Reads the key at `path`, or creates it (0600, from OpenSSL's CSPRNG) when the file does
    /// not exist. Errc::kStoreFailed if it cannot be read or written, or has the wrong size.
    [[nodiscard]] static Result<AtRestKey> load_or_create(const std::string& path);
    /// Reads the key at `path` without creating it: Errc::kNotFound when it does not exist,
    /// Errc::kStoreFailed when it cannot be read or has the wrong size.
    [[nodiscard]] static Result<AtRestKey> load_existing(const std::string& path);
    /// A fresh key that is never written anywhere (a dry run's scratch copy).
    [[nodiscard]] static AtRestKey random();
    /// A key from bytes (tests).
    explicit AtRestKey(std::string bytes);

    /// mapping::keyed_hash of `value` under the key's hashing half.
    [[nodiscard]] std::string keyed_hash(std::string_view value) const;
    /// AES-256-GCM of `plain` under the key's sealing half: "radsync-sealed:v1:" followed by
    /// the nonce, the ciphertext and the tag, base64 in one line. Errc::kStoreFailed if OpenSSL
    /// fails (no random nonce, no cipher): nothing half-sealed is ever returned.
    [[nodiscard]] Result<std::string> seal(std::string_view plain) const;
    /// Undoes seal(). Text that was never sealed is returned as it is (inbox rows written
    /// before sealing existed); Errc::kMalformedPayload if a sealed text does not authenticate.
    [[nodiscard]] Result<std::string> open(std::string_view text) const;

    /// The name of the key file that belongs to a state database.
    [[nodiscard]] static std::string path_for(const std::string& state_database);

private:
    std::string hash_key_;
    std::string seal_key_;
};

}  // namespace radsync::store
