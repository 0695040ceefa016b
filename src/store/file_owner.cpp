#include "file_owner.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace radsync::store::detail {

Status give_to_directory_owner(const std::string& path) {
    if (::geteuid() != 0) {
        return {};
    }
    const auto dir = std::filesystem::absolute(path).parent_path();
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || st.st_uid == 0) {
        return {};
    }
    if (::chown(path.c_str(), st.st_uid, st.st_gid) != 0) {
        return Error(Errc::kStoreFailed, "cannot give " + path + " to the owner of " +
                                             dir.string() + ": " + std::strerror(errno));
    }
    return {};
}

}  // namespace radsync::store::detail
