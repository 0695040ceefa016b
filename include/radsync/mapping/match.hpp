#pragma once

#include <string>

#include "radsync/config/config.hpp"

namespace radsync::mapping {

/// Whether a mapping entry's `match` names this OfficeRnD object: by id, else by exact name
/// (never an empty one), else by code.
[[nodiscard]] bool matches(const config::Match& m, const std::string& id, const std::string& name,
                           const std::string& code);

/// How a match reads in a report: `id "5f1..."`, `name "Hot Desk"` or `code "HD"`.
[[nodiscard]] std::string describe(const config::Match& m);

}  // namespace radsync::mapping
