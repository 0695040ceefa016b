#pragma once

#include <functional>

#include "radsync/config/config.hpp"
#include "radsync/core/clock.hpp"
#include "radsync/core/error.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::service {

/// A blocking "fetch the whole account" function over the OfficeRnD API client configured by
/// `cfg.officernd` (secret read from its file now). For a dedicated thread only. Retry waits
/// end early once `cancelled()` turns true, so a shutdown never sits out a back-off.
/// Errc::kConfigInvalid if the section is missing; config::read_secret_file's errors.
[[nodiscard]] Result<std::function<Result<snapshot::Snapshot>()>> make_officernd_fetch(
    const config::Config& cfg, const core::Clock& clock, std::function<bool()> cancelled);

}  // namespace radsync::service
