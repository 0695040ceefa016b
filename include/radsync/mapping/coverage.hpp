#pragma once

#include <string>
#include <vector>

#include "radsync/config/config.hpp"
#include "radsync/snapshot/entities.hpp"

namespace radsync::mapping {

/// What `radsync mapping check` reports: the mapping held against what OfficeRnD really has.
/// Pure: the caller fetched the snapshot (from the API or a file).
struct Coverage {
    /// An OfficeRnD object, as the report names it.
    struct Object {
        std::string id;
        std::string name;
        std::string code;
    };
    /// A mapping entry that matches no OfficeRnD object: a typo in a name is otherwise silently
    /// never matched.
    struct DeadEntry {
        std::string section;  ///< plans, locations, companies, guests.resource_types
        std::string match;    ///< `name "Hot Desk"`
        config::Origin origin;
    };
    /// A plan that more than one plans entry matches (the first one wins in the engine).
    struct Contested {
        Object plan;
        std::vector<std::string> groups;
        std::vector<config::Origin> origins;
    };

    std::vector<Object> uncovered_plans;      ///< matched by no plans entry
    std::vector<Object> uncovered_locations;  ///< matched by no locations entry
    std::vector<DeadEntry> dead_entries;
    std::vector<Contested> contested_plans;
    std::size_t plans = 0, locations = 0, companies = 0, resource_types = 0;

    /// Nothing unmapped, nothing dead, nothing contested.
    [[nodiscard]] bool clean() const {
        return uncovered_plans.empty() && uncovered_locations.empty() && dead_entries.empty() &&
               contested_plans.empty();
    }
};

[[nodiscard]] Coverage check_coverage(const config::Mapping& mapping,
                                      const snapshot::Snapshot& snap);

}  // namespace radsync::mapping
