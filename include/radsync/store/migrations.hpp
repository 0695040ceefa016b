#pragma once

#include <string>
#include <vector>

namespace radsync::store {

/// One numbered schema step from migrations/NNNN_name.sql, compiled into the binary.
struct Migration {
    int version;
    std::string name;
    std::string sql;
};

/// The RADIUS database's migrations (migrations/radius), in ascending version order. Versions 2
/// to 4 built the one-file layout of earlier releases; 5 moves radsync's state out.
[[nodiscard]] const std::vector<Migration>& radius_migrations();
/// The state database's migrations (migrations/state), in ascending version order.
[[nodiscard]] const std::vector<Migration>& state_migrations();
/// FreeRADIUS's accounting database's migrations (migrations/accounting).
[[nodiscard]] const std::vector<Migration>& accounting_migrations();

}  // namespace radsync::store
