// A Clock that moves only when a test says so. Wall and monotonic time are the same number.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/clock.h"

namespace aquawatch::testing {

class ManualClock : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ns) : now_(start_ns) {}
  std::int64_t NowNs() const override { return now_.load(); }
  std::int64_t MonotonicNs() const override { return now_.load(); }
  void Advance(std::int64_t ns) { now_ += ns; }
  void Set(std::int64_t ns) { now_ = ns; }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace aquawatch::testing
