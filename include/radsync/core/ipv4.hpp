#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "radsync/core/error.hpp"

namespace radsync::core {

/// A dotted quad, each part 0..255 without leading zeros (which some parsers read as octal);
/// nullopt for anything else.
[[nodiscard]] std::optional<std::uint32_t> parse_ipv4(std::string_view text);
[[nodiscard]] std::string format_ipv4(std::uint32_t address);

/// An IPv4 network in CIDR notation, e.g. 10.20.30.0/28.
struct Ipv4Network {
    std::uint32_t network = 0;
    int prefix = 32;

    /// The addresses members can be given: all but the network and broadcast addresses, except
    /// in a /31 or /32 (RFC 3021), where every address is usable.
    [[nodiscard]] std::uint32_t first_usable() const;
    [[nodiscard]] std::uint32_t last_usable() const;
    [[nodiscard]] std::uint64_t usable_count() const {
        return std::uint64_t{last_usable()} - first_usable() + 1;
    }
    [[nodiscard]] bool contains(std::uint32_t address) const;
    [[nodiscard]] bool overlaps(const Ipv4Network& other) const;
    [[nodiscard]] std::string to_string() const;

    bool operator==(const Ipv4Network&) const = default;
};

/// Parses "A.B.C.D/N" (N 0..32) whose host bits are zero. Errc::kConfigInvalid with a message
/// an operator can act on ("host bits set: did you mean 10.20.30.0/28?") otherwise.
[[nodiscard]] Result<Ipv4Network> parse_ipv4_network(std::string_view text);

}  // namespace radsync::core
