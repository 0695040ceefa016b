#pragma once

#include <atomic>
#include <chrono>

namespace radsync::core {

/// Wall-clock time in whole seconds since the Unix epoch (UTC).
using Instant = std::chrono::sys_seconds;

/// Source of the current time. Everything time-dependent takes a Clock so tests can pin "now";
/// no code outside SystemClock reads the real clock.
class Clock {
public:
    virtual ~Clock() = default;
    [[nodiscard]] virtual Instant now() const = 0;
};

/// The real wall clock.
class SystemClock final : public Clock {
public:
    [[nodiscard]] Instant now() const override {
        return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    }
};

/// A clock that only moves when told to; for tests and for `--now` replays. Safe to move from
/// one thread while another reads it (a test stepping the clock under a running daemon).
class ManualClock final : public Clock {
public:
    explicit ManualClock(Instant start) : now_(start.time_since_epoch().count()) {}
    [[nodiscard]] Instant now() const override {
        return Instant{std::chrono::seconds{now_.load()}};
    }
    void set(Instant t) { now_ = t.time_since_epoch().count(); }
    void advance(std::chrono::seconds d) { now_ += d.count(); }

private:
    std::atomic<std::chrono::seconds::rep> now_;
};

}  // namespace radsync::core
