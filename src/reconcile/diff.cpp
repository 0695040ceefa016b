#include "radsync/reconcile/diff.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace radsync::reconcile {

namespace {

using store::OwnedRow;
using store::RadRow;

}  // namespace

const char* to_string(RowChange::Op op) {
    switch (op) {
        case RowChange::Op::kInsert:
            return "insert";
        case RowChange::Op::kUpdate:
            return "update";
        case RowChange::Op::kDelete:
            return "delete";
    }
    return "unknown";
}

std::vector<RowChange> diff_rows(const std::vector<RadRow>& desired,
                                 const std::vector<OwnedRow>& current) {
    // Pass 1: rows identical in every column cancel out (multiset semantics: two identical
    // desired rows need two identical current rows). Lowest ids are kept, so duplicates
    // created by hand are the ones removed.
    std::map<RadRow, std::vector<std::int64_t>> current_exact;
    for (const auto& owned : current) {
        current_exact[owned.row].push_back(owned.id);
    }
    for (auto& [row, ids] : current_exact) {
        std::sort(ids.begin(), ids.end(), std::greater<>());  // pop_back yields the lowest id
    }
    std::vector<RadRow> to_add;
    for (const auto& row : desired) {
        auto it = current_exact.find(row);
        if (it != current_exact.end() && !it->second.empty()) {
            it->second.pop_back();
            continue;
        }
        to_add.push_back(row);
    }
    std::vector<OwnedRow> to_remove;
    for (const auto& [row, ids] : current_exact) {
        for (auto id : ids) {
            to_remove.push_back({id, row});
        }
    }
    std::sort(to_remove.begin(), to_remove.end(),
              [](const OwnedRow& a, const OwnedRow& b) { return a.id < b.id; });

    // Pass 2: pair leftovers in the same slot (table, name, attribute) into updates, keeping the
    // old row's id so FreeRADIUS's ORDER BY id evaluation order does not shift.
    using Slot = std::tuple<store::Table, std::string, std::string>;
    std::map<Slot, std::vector<std::size_t>> removable_by_slot;  // indices, highest first
    for (std::size_t i = to_remove.size(); i-- > 0;) {
        const auto& r = to_remove[i].row;
        removable_by_slot[Slot{r.table, r.name, r.attribute}].push_back(i);
    }
    std::vector<RowChange> changes;
    std::vector<bool> consumed(to_remove.size(), false);
    for (const auto& row : to_add) {
        auto it = removable_by_slot.find(Slot{row.table, row.name, row.attribute});
        if (it != removable_by_slot.end() && !it->second.empty()) {
            const std::size_t i = it->second.back();  // lowest id in the slot
            it->second.pop_back();
            consumed[i] = true;
            changes.push_back({RowChange::Op::kUpdate, to_remove[i].id, to_remove[i].row, row});
        } else {
            changes.push_back({RowChange::Op::kInsert, std::nullopt, std::nullopt, row});
        }
    }
    for (std::size_t i = 0; i < to_remove.size(); ++i) {
        if (!consumed[i]) {
            changes.push_back(
                {RowChange::Op::kDelete, to_remove[i].id, to_remove[i].row, std::nullopt});
        }
    }
    // Deletes first, then updates, then inserts: a user never has old and new rows at once
    // inside the transaction, and the order reads naturally in a dry-run listing.
    std::stable_sort(changes.begin(), changes.end(), [](const RowChange& a, const RowChange& b) {
        auto rank = [](RowChange::Op op) {
            return op == RowChange::Op::kDelete ? 0 : op == RowChange::Op::kUpdate ? 1 : 2;
        };
        return rank(a.op) < rank(b.op);
    });
    return changes;
}

}  // namespace radsync::reconcile
