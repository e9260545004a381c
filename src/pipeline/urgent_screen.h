// UrgentScreen: which submitted readings cross a critical threshold, decided at admission.
//
// The router does not have a sensor's state, only its readings. A canonical value past a
// critical limit of the default profile makes the reading urgent (ShardInbox's urgent lane) at
// the cost of two comparisons. When other profiles are in use, a value past the loosest of their
// limits sends the router to the sensor's own profile (a lookup) to decide. The shard still
// decides, with the sensor's rule and level, whether an alert opens: a false "urgent" only costs
// the reading its place in the normal lane, and a critical reading is never left out while the
// screen has the rules in force.
// Thread-safety: Update from any thread (rule and profile changes are rare), IsUrgent from any
// thread. Each limit is read on its own, so a reader may see half of an update for an instant,
// which only moves a reading between lanes.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/reading.h"
#include "detect/rules.h"

namespace aquawatch {

class UrgentScreen {
 public:
  // `in_use`: bit p set when some sensor follows profile p (the default's bit is implied).
  UrgentScreen(const ProfileRules& rules, std::uint64_t in_use) { Update(rules, in_use); }

  void Update(const ProfileRules& rules, std::uint64_t in_use);

  // Whether reading `i` of `batch` has a canonical value past a critical limit of its sensor's
  // profile. `profile_of(sensor)` gives that profile; it is called only for values past another
  // profile's limits than the default's.
  template <typename ProfileOf>
  bool IsUrgent(const ReadingBatch& batch, std::size_t i, ProfileOf&& profile_of) const {
    int profile = -1;  // looked up on first need
    for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
      const auto p = static_cast<std::size_t>(batch.field_param(f));
      if (p >= kCanonicalParameterCount) continue;
      const double v = batch.field_value(f);
      if (Past(default_[p], v)) return true;
      if (!Past(others_[p], v)) continue;
      if (profile < 0) profile = static_cast<int>(profile_of(batch.sensor(i)));
      if (Past(by_profile_[static_cast<std::size_t>(profile)][p], v)) return true;
    }
    return false;
  }

 private:
  struct Limits {
    std::atomic<double> low{-kNoLimit}, high{kNoLimit};
  };
  static bool Past(const Limits& l, double v) {
    return v < l.low.load(std::memory_order_relaxed) || v > l.high.load(std::memory_order_relaxed);
  }
  static void Set(Limits& l, double low, double high) {
    l.low.store(low, std::memory_order_relaxed);
    l.high.store(high, std::memory_order_relaxed);
  }

  using PerParameter = std::array<Limits, kCanonicalParameterCount>;
  PerParameter default_;  // the default profile's critical limits
  PerParameter others_;   // the loosest of the other profiles in use (none: no limit)
  std::array<PerParameter, kSiteProfiles.size()> by_profile_;
};

}  // namespace aquawatch
