#pragma once

#include <string>

#include "radsync/core/error.hpp"

namespace radsync::control {

/// One writer at a time per installation: `radsync serve` holds this for its whole life, and a
/// command that writes with no daemon running (reconcile, inbox requeue, reset-password,
/// migrate) holds it while it runs, so a starting daemon waits for it and nothing writes
/// behind a running daemon. It is an flock(2) on the state database's directory: no file to
/// create (a command run as root must not leave one the daemon's user cannot open), and the
/// kernel releases it when its holder dies.
class InstanceLock {
public:
    /// Errc::kConflict when another process holds it; Errc::kIoFailed when the directory
    /// cannot be opened.
    [[nodiscard]] static Result<InstanceLock> try_acquire(const std::string& state_database);
    /// Blocks until the lock is free. Errc::kIoFailed when the directory cannot be opened.
    [[nodiscard]] static Result<InstanceLock> acquire(const std::string& state_database);

    InstanceLock(InstanceLock&& other) noexcept;
    InstanceLock& operator=(InstanceLock&& other) noexcept;
    InstanceLock(const InstanceLock&) = delete;
    InstanceLock& operator=(const InstanceLock&) = delete;
    ~InstanceLock();

    /// The directory locked (for messages).
    [[nodiscard]] static std::string directory_of(const std::string& state_database);

private:
    explicit InstanceLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace radsync::control
