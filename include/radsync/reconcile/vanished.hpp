#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "radsync/snapshot/entities.hpp"

namespace radsync::reconcile {

/// An entity the previous snapshot held that a complete fetch no longer lists.
struct Vanished {
    snapshot::Kind kind = snapshot::Kind::kMember;
    std::string id;
    std::string previous_raw;  ///< the copy held before, kept if the absence cannot be confirmed
};

/// The entities that grant access (members, companies, memberships) held in `previous` and
/// missing from `fetched` whose absence could cost an active account its access: a member with
/// an active account, a company one of whose members has one, a membership of either. Both
/// snapshots must be normalised. Pure.
[[nodiscard]] std::vector<Vanished> find_vanished(const snapshot::Snapshot& previous,
                                                  const snapshot::Snapshot& fetched,
                                                  const std::set<std::string>& active_members);

/// What a single GET of a vanished entity said.
struct Confirmation {
    enum class Presence {
        kGone,     ///< 404: it really is gone
        kPresent,  ///< it exists: the list left it out
        kUnknown,  ///< anything else (timeout, 5xx, 429, garbage): cannot tell yet
    };
    Presence presence = Presence::kUnknown;
    std::string object_json;  ///< for kPresent
    std::string error;        ///< for kUnknown
};

/// Asks OfficeRnD about one entity (GET /members/{id} and the like).
using Confirm = std::function<Confirmation(snapshot::Kind, const std::string& id)>;

/// How the vanished entities of one full run were settled.
struct VanishedReport {
    std::size_t vanished = 0;     ///< entities found missing
    std::size_t gone = 0;         ///< confirmed gone (404): their absence applies
    std::size_t listed_late = 0;  ///< the GET found them: their current copy is used
    std::size_t kept = 0;  ///< not confirmed: the previous copy is kept, asked again next run
    /// Set when more vanished than the bound allows asking about: every previous copy is kept
    /// and the run counts as guarded (approved with allow_mass_removal).
    std::optional<std::string> hold_reason;
    std::vector<std::string> notes;  ///< one line per entity that was not simply gone
};

/// Settles every vanished entity before a full run applies `fetched`, so that nobody loses
/// access only because a list left them out: confirmed gone -> left out; present -> the fetched
/// copy goes into `fetched`; anything else -> the previous copy goes back in (kept until a later
/// run can tell). At most `max_confirm` GETs: more vanished than that holds them all back
/// (hold_reason), unless `allow_mass_removal`, when those beyond the bound count as gone.
/// `fetched` stays normalised. Pure apart from `confirm`.
[[nodiscard]] VanishedReport settle_vanished(snapshot::Snapshot& fetched,
                                             const std::vector<Vanished>& vanished,
                                             const Confirm& confirm, std::size_t max_confirm,
                                             bool allow_mass_removal);

/// One line for a run report: "vanished from the lists: 3 (1 gone, 1 listed late, 1 kept)".
[[nodiscard]] std::string describe(const VanishedReport& report);

}  // namespace radsync::reconcile
