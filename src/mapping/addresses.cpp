#include "addresses.hpp"

namespace radsync::mapping::detail {

std::vector<AddressResult> assign_addresses(const std::vector<AddressRequest>& requests,
                                            const std::map<std::uint32_t, std::string>& held) {
    std::vector<AddressResult> out(requests.size());
    std::map<std::uint32_t, std::string> taken = held;
    const auto holder = [&](std::uint32_t a) -> const std::string* {
        const auto it = taken.find(a);
        return it == taken.end() ? nullptr : &it->second;
    };

    // Explicit addresses: the operator said so; a clash with another member is refused.
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto& r = requests[i];
        if (!r.fixed) {
            continue;
        }
        if (const auto* h = holder(*r.fixed); h != nullptr && *h != r.member_id) {
            out[i].refusal = "address " + core::format_ipv4(*r.fixed) + " (" + r.fixed_source +
                             ") is held by member " + *h;
            continue;
        }
        taken[*r.fixed] = r.member_id;
        out[i].address = r.fixed;
    }
    // Stable: an address still inside the member's pool stays theirs.
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto& r = requests[i];
        if (r.fixed || !r.pool || !r.current || !r.pool->contains(*r.current) ||
            *r.current < r.pool->first_usable() || *r.current > r.pool->last_usable()) {
            continue;
        }
        if (const auto* h = holder(*r.current); h != nullptr && *h != r.member_id) {
            continue;  // someone else's now (an explicit address): allocate afresh below
        }
        taken[*r.current] = r.member_id;
        out[i].address = r.current;
    }
    // New: the lowest free address. The walk skips taken addresses in order, so its cost is the
    // number of addresses held in that range, not the size of the pool.
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto& r = requests[i];
        if (out[i].address || !out[i].refusal.empty() || !r.pool) {
            continue;
        }
        std::uint64_t a = r.pool->first_usable();
        const std::uint64_t last = r.pool->last_usable();
        for (auto it = taken.lower_bound(static_cast<std::uint32_t>(a));
             it != taken.end() && it->first == a && a <= last; ++it) {
            ++a;
        }
        if (a > last) {
            out[i].refusal = "address pool " + r.pool->to_string() + " of " + r.pool_owner +
                             " is exhausted (" + std::to_string(r.pool->usable_count()) +
                             " addresses, all held)";
            continue;
        }
        const auto address = static_cast<std::uint32_t>(a);
        taken[address] = r.member_id;
        out[i].address = address;
    }
    return out;
}

}  // namespace radsync::mapping::detail
