// Time sources. The protocol core never reads a clock itself: callers pass `now`
// (monotonic) and, for TAI64N timestamps, wall-clock time. Tests use FakeClock.
#pragma once

#include <chrono>

namespace keymesh {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using WallTime = std::chrono::system_clock::time_point;

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual TimePoint now() const = 0;
  virtual WallTime wall_now() const = 0;
};

class SystemTimeSource final : public TimeSource {
 public:
  TimePoint now() const override { return Clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
};

// The system clocks, with the wall clock shifted by a fixed offset (testing: a daemon that
// believes it is Friday 17:59, to cross a policy schedule boundary in a real-kernel test).
class ShiftedTimeSource final : public TimeSource {
 public:
  explicit ShiftedTimeSource(std::chrono::system_clock::duration offset) : offset_(offset) {}
  TimePoint now() const override { return Clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now() + offset_; }

 private:
  std::chrono::system_clock::duration offset_;
};

// Starts at an arbitrary fixed point; moves only when advanced.
class FakeTimeSource final : public TimeSource {
 public:
  TimePoint now() const override { return now_; }
  WallTime wall_now() const override { return wall_; }
  void advance(Duration d) {
    now_ += d;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }

 private:
  TimePoint now_{std::chrono::hours(1000)};
  WallTime wall_{std::chrono::seconds(1'800'000'000)};
};

}  // namespace keymesh
