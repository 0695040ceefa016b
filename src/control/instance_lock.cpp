#include "radsync/control/instance_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <utility>

namespace radsync::control {

namespace {

Result<InstanceLock> lock(const std::string& state_database, int operation,
                          const std::function<InstanceLock(int)>& make) {
    const std::string dir = InstanceLock::directory_of(state_database);
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return Error(Errc::kIoFailed,
                     "cannot open " + dir + " to lock it: " + std::strerror(errno));
    }
    int rc = 0;
    do {
        rc = ::flock(fd, operation);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        const int err = errno;
        ::close(fd);
        if (err == EWOULDBLOCK) {
            return Error(Errc::kConflict,
                         "another radsync process holds the lock on " + dir +
                             " (a running `radsync serve`, or a command such as `radsync "
                             "reconcile`)");
        }
        return Error(Errc::kIoFailed, "cannot lock " + dir + ": " + std::strerror(err));
    }
    return make(fd);
}

}  // namespace

std::string InstanceLock::directory_of(const std::string& state_database) {
    const auto dir = std::filesystem::path(state_database).parent_path();
    return dir.empty() ? std::string(".") : dir.string();
}

Result<InstanceLock> InstanceLock::try_acquire(const std::string& state_database) {
    return lock(state_database, LOCK_EX | LOCK_NB, [](int fd) { return InstanceLock(fd); });
}

Result<InstanceLock> InstanceLock::acquire(const std::string& state_database) {
    return lock(state_database, LOCK_EX, [](int fd) { return InstanceLock(fd); });
}

InstanceLock::InstanceLock(InstanceLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

InstanceLock& InstanceLock::operator=(InstanceLock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

InstanceLock::~InstanceLock() {
    if (fd_ >= 0) {
        ::close(fd_);  // releases the flock
    }
}

}  // namespace radsync::control
