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

}  // namespace radsync::test
