#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "radsync/store/records.hpp"

namespace radsync::reconcile {

/// One change to a FreeRADIUS table.
struct RowChange {
    enum class Op { kInsert, kUpdate, kDelete };
    Op op = Op::kInsert;
    std::optional<std::int64_t> id;  ///< row id for updates and deletes
    std::optional<store::RadRow> before;
    std::optional<store::RadRow> after;
};

[[nodiscard]] const char* to_string(RowChange::Op op);

/// Desired rows vs. the rows radsync owns now → the smallest list of changes that makes the
/// owned rows equal the desired multiset. Rows equal in every column are left alone; a row that
/// differs only in op/value/priority becomes an update of the existing row (keeping its id, so
/// FreeRADIUS's `ORDER BY id` evaluation order is stable). Pure and deterministic.
[[nodiscard]] std::vector<RowChange> diff_rows(const std::vector<store::RadRow>& desired,
                                               const std::vector<store::OwnedRow>& current);

}  // namespace radsync::reconcile
