// Clock: the one way code reads time, so tests can drive it.
//
// NowNs() is wall-clock UTC (nanoseconds since the Unix epoch) for timestamps; MonotonicNs() is
// for measuring durations. Thread-safety: implementations must be safe to call from any thread.
#pragma once

#include <cstdint>

namespace aquawatch {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t NowNs() const = 0;
  virtual std::int64_t MonotonicNs() const = 0;
};

// The process clock (std::chrono::system_clock / steady_clock).
Clock& SystemClock();

inline constexpr std::int64_t kNsPerMs = 1'000'000;
inline constexpr std::int64_t kNsPerSecond = 1'000'000'000;

}  // namespace aquawatch
