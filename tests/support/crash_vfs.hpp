#pragma once

#include <cstddef>

namespace radsync::test {

/// Power loss, simulated under SQLite. While an instance lives, a shim over the real unix VFS is
/// SQLite's default VFS: files are real files, and the shim remembers, per file, the bytes that
/// were last made durable (at open, and at every xSync). power_loss() freezes the disk: from then
/// on writes fail as on a file system gone read-only and nothing more becomes durable. Once every
/// connection is closed, restart() puts each file back to its durable bytes, as the disk would
/// hold them after the machine came back, so what a test reads next is exactly what an fsync
/// protected. For tests only: one process, files under a temp directory.
class CrashSimulation {
public:
    CrashSimulation();
    ~CrashSimulation();
    CrashSimulation(const CrashSimulation&) = delete;
    CrashSimulation& operator=(const CrashSimulation&) = delete;

    /// The machine loses power now: nothing written from here on reaches the disk.
    void power_loss();
    /// The machine is back: files hold what was durable at power_loss(). Close every
    /// connection first.
    void restart();
    /// xSync calls so far (a cheap way to see whether a path syncs at all).
    [[nodiscard]] std::size_t syncs() const;
};

}  // namespace radsync::test
