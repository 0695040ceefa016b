#pragma once

#include <string>

#include "radsync/core/error.hpp"

namespace radsync::store::detail {

/// A file radsync just created, as root, goes to the owner of its directory (radsync's, made
/// by tmpfiles): `radsync reconcile` run by root before the service ever started would
/// otherwise leave root's databases and key, which the service cannot open. Nothing happens
/// unless the process is root and the directory belongs to someone else. Only a regular
/// file root owns with one link is given away, through its descriptor (O_NOFOLLOW): a link
/// planted in the group-writable directory is refused, never followed.
[[nodiscard]] Status give_to_directory_owner(const std::string& path);

/// The same for a file radsync holds open (the key, before it is closed).
[[nodiscard]] Status give_to_directory_owner(int fd, const std::string& path);

}  // namespace radsync::store::detail
