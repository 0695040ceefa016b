#pragma once

// Static addresses for members (private offices): which member gets which Framed-IP-Address.
// Pure; the mapping engine's only use of it is assign_addresses().

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "radsync/core/ipv4.hpp"

namespace radsync::mapping::detail {

/// What one granted member needs.
struct AddressRequest {
    std::string member_id;
    /// An explicit address (member_address_property); beats the pool.
    std::optional<std::uint32_t> fixed;
    std::string fixed_source;  ///< e.g. "member property 'wifi_ip'", for messages
    std::optional<core::Ipv4Network> pool;
    std::string pool_owner;  ///< e.g. "company 'Acme'", for messages
    /// The address the member's account holds now, if any: kept while it is still valid.
    std::optional<std::uint32_t> current;
};

struct AddressResult {
    std::optional<std::uint32_t> address;
    std::string refusal;  ///< set when no address could be given (then `address` is empty)
};

/// Gives each request an address, one member per address: explicit addresses first, then
/// members keeping an address that is still inside their pool, then the lowest free address of
/// the pool for the rest, in request order. `held` lists addresses other accounts keep (out of
/// this run's scope, or disabled and not yet removed), by member id; those are never given out.
/// Deterministic for the same inputs.
[[nodiscard]] std::vector<AddressResult> assign_addresses(
    const std::vector<AddressRequest>& requests, const std::map<std::uint32_t, std::string>& held);

}  // namespace radsync::mapping::detail
