#pragma once

// Private to the config module: bounded reads of operator-supplied text files (YAML, FreeRADIUS
// dictionaries) and a readability probe for secret files, as values rather than exceptions.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "radsync/core/error.hpp"

namespace radsync::config::detail {

/// Closes a descriptor on every return path.
class FdGuard {
public:
    explicit FdGuard(int fd) : fd_(fd) {}
    ~FdGuard() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    FdGuard(const FdGuard&) = delete;
    FdGuard& operator=(const FdGuard&) = delete;
    [[nodiscard]] int get() const { return fd_; }

private:
    int fd_;
};

/// Opens `path` for reading and checks it is a regular file. The message (without the path) is
/// what an operator needs to fix it, e.g. "No such file or directory" or "is a directory".
inline Result<int> open_regular_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return Error(Errc::kIoFailed, std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int saved = errno;
        ::close(fd);
        return Error(Errc::kIoFailed, std::strerror(saved));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return Error(Errc::kIoFailed,
                     S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
    }
    return fd;
}

/// "1 MiB", "64 KiB" or "100 bytes", for size-limit messages.
inline std::string describe_size(std::size_t bytes) {
    if (bytes % (1024 * 1024) == 0) {
        return std::to_string(bytes / (1024 * 1024)) + " MiB";
    }
    if (bytes % 1024 == 0) {
        return std::to_string(bytes / 1024) + " KiB";
    }
    return std::to_string(bytes) + " bytes";
}

/// Reads a whole text file of at most `max_bytes`. The size is checked while reading, not only
/// from stat, so a file that grows (or a /proc-like file reporting size 0) is still bounded.
inline Result<std::string> read_text_file(const std::string& path, std::size_t max_bytes) {
    auto fd = open_regular_file(path);
    if (!fd) {
        return fd.error();
    }
    const FdGuard guard(*fd);
    std::string text;
    char buffer[16384];
    for (;;) {
        const ssize_t n = ::read(guard.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return Error(Errc::kIoFailed, std::strerror(errno));
        }
        if (n == 0) {
            return text;
        }
        if (text.size() + static_cast<std::size_t>(n) > max_bytes) {
            return Error(Errc::kIoFailed, "larger than " + describe_size(max_bytes) + ", refused");
        }
        text.append(buffer, static_cast<std::size_t>(n));
    }
}

/// Checks that `path` is a regular file this process may open for reading, without reading
/// a byte of it: secrets are read by the modules that use them, never by the config loader.
inline Status check_readable_file(const std::string& path) {
    auto fd = open_regular_file(path);
    if (!fd) {
        return fd.error();
    }
    ::close(*fd);
    return {};
}

}  // namespace radsync::config::detail
