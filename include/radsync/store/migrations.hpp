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

/// Every migration this binary knows, in ascending version order.
[[nodiscard]] const std::vector<Migration>& embedded_migrations();

}  // namespace radsync::store
