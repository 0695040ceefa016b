#include "radsync/core/ipv4.hpp"

#include <charconv>

namespace radsync::core {

namespace {

std::uint32_t mask_of(int prefix) {
    return prefix == 0 ? 0U : ~std::uint32_t{0} << (32 - prefix);
}

}  // namespace

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
    std::uint32_t out = 0;
    std::size_t i = 0;
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (i >= text.size() || text[i] != '.') {
                return std::nullopt;
            }
            ++i;
        }
        const std::size_t start = i;
        unsigned value = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 3) {
            value = value * 10 + static_cast<unsigned>(text[i] - '0');
            ++i;
        }
        const std::size_t len = i - start;
        if (len == 0 || value > 255 || (len > 1 && text[start] == '0')) {
            return std::nullopt;
        }
        out = (out << 8) | value;
    }
    if (i != text.size()) {
        return std::nullopt;
    }
    return out;
}

std::string format_ipv4(std::uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xFF) + "." +
           std::to_string((a >> 8) & 0xFF) + "." + std::to_string(a & 0xFF);
}

std::uint32_t Ipv4Network::first_usable() const {
    return prefix >= 31 ? network : network + 1;
}

std::uint32_t Ipv4Network::last_usable() const {
    const std::uint32_t broadcast = network | ~mask_of(prefix);
    return prefix >= 31 ? broadcast : broadcast - 1;
}

bool Ipv4Network::contains(std::uint32_t address) const {
    return (address & mask_of(prefix)) == network;
}

bool Ipv4Network::overlaps(const Ipv4Network& other) const {
    const int shorter = prefix < other.prefix ? prefix : other.prefix;
    return (network & mask_of(shorter)) == (other.network & mask_of(shorter));
}

std::string Ipv4Network::to_string() const {
    return format_ipv4(network) + "/" + std::to_string(prefix);
}

Result<Ipv4Network> parse_ipv4_network(std::string_view text) {
    const auto slash = text.find('/');
    const auto address = parse_ipv4(text.substr(0, slash));
    int prefix = -1;
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        const auto [end, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
            (digits.size() > 1 && digits[0] == '0')) {
            prefix = -1;
        }
    }
    if (!address || prefix < 0 || prefix > 32) {
        return Error(
            Errc::kConfigInvalid,
            "expected an IPv4 network such as 10.20.30.0/28, got \"" + std::string(text) + "\"");
    }
    Ipv4Network n{*address & mask_of(prefix), prefix};
    if (n.network != *address) {
        return Error(Errc::kConfigInvalid, "host bits set in \"" + std::string(text) +
                                               "\": did you mean " + n.to_string() + "?");
    }
    return n;
}

}  // namespace radsync::core
