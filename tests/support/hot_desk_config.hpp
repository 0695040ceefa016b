#pragma once

#include <memory>
#include <optional>
#include <string>

#include "radsync/config/config.hpp"

namespace radsync::test {

/// The smallest mapping the worker and poller tests need: plan "Hot Desk" → group "basic".
inline std::shared_ptr<const config::Config> hot_desk_config() {
    auto cfg = std::make_shared<config::Config>();
    config::AccessGroup basic;
    basic.name = "basic";
    cfg->mapping.groups = {basic};
    cfg->mapping.plans = {{{std::nullopt, std::string("Hot Desk"), std::nullopt}, "basic", {}, {}}};
    return cfg;
}

/// Plan "Hot Desk" → group "basic" (rank 10, 10M down, 2M up) at location "Downtown" (key
/// downtown, VLAN 100, NAS downtown), dates in Europe/Berlin: what the reconciler tests and the
/// one-file fixture (tests/fixtures/one-file) use.
inline config::Config hot_desk_downtown_config() {
    config::Config cfg;
    cfg.default_timezone = "Europe/Berlin";
    config::AccessGroup basic;
    basic.name = "basic";
    basic.rank = 10;
    basic.bandwidth_down_bps = 10'000'000;
    basic.bandwidth_up_bps = 2'000'000;
    cfg.mapping.groups = {basic};
    cfg.mapping.plans = {{{std::nullopt, std::string("Hot Desk"), std::nullopt}, "basic", {}, {}}};
    config::LocationRule downtown;
    downtown.match.name = "Downtown";
    downtown.key = "downtown";
    downtown.vlan = 100;
    downtown.nas_identifiers = {"downtown"};
    cfg.mapping.locations = {downtown};
    return cfg;
}

}  // namespace radsync::test
