#include "file_owner.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace radsync::store::detail {

Status give_to_directory_owner(int fd, const std::string& path) {
    if (::geteuid() != 0) {
        return {};
    }
    const auto dir = std::filesystem::absolute(path).parent_path();
    struct stat owner {};
    if (::stat(dir.c_str(), &owner) != 0 || owner.st_uid == 0) {
        return {};
    }
    struct stat file {};
    if (::fstat(fd, &file) != 0 || !S_ISREG(file.st_mode) || file.st_uid != 0 ||
        file.st_nlink != 1) {
        return Error(Errc::kStoreFailed, path +
                                             " is not a file radsync just created; not "
                                             "giving it to the owner of " +
                                             dir.string());
    }
    if (::fchown(fd, owner.st_uid, owner.st_gid) != 0) {
        return Error(Errc::kStoreFailed, "cannot give " + path + " to the owner of " +
                                             dir.string() + ": " + std::strerror(errno));
    }
    return {};
}

Status give_to_directory_owner(const std::string& path) {
    if (::geteuid() != 0) {
        return {};
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return Error(Errc::kStoreFailed,
                     "cannot open " + path + " without following links: " + std::strerror(errno));
    }
    auto given = give_to_directory_owner(fd, path);
    ::close(fd);
    return given;
}

}  // namespace radsync::store::detail
