// Threshold rules with warn/critical levels and hysteresis (detection v0).
//
// A value enters a level when it crosses the level's threshold and leaves it only when it comes
// back past the threshold by the rule's hysteresis band, so a value hovering at a limit does not
// open and close alerts on every sample. Defaults follow public drinking-water standards; see
// docs/detection-v0.md for the sources. Thread-safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string_view>

#include "core/reading.h"

namespace aquawatch {

inline constexpr double kNoLimit = std::numeric_limits<double>::infinity();

struct ThresholdRule {
  bool enabled = false;
  double critical_low = -kNoLimit;
  double warn_low = -kNoLimit;
  double warn_high = kNoLimit;
  double critical_high = kNoLimit;
  double hysteresis = 0;  // how far back inside a threshold a value must come to clear it
};

// Ordered by severity within each side; persisted nowhere, so free to change.
enum class Level : std::uint8_t {
  kNormal = 0,
  kWarnLow,
  kWarnHigh,
  kCriticalLow,
  kCriticalHigh,
};

inline bool IsCritical(Level l) { return l == Level::kCriticalLow || l == Level::kCriticalHigh; }
inline bool IsLow(Level l) { return l == Level::kWarnLow || l == Level::kCriticalLow; }
std::string_view LevelName(Level l);  // "normal", "warn_low", ...

// The level after observing `value` in level `current`. NaN keeps the current level.
Level EvaluateThreshold(const ThresholdRule& rule, Level current, double value);
// The threshold a level is entered at (e.g. warn_low for kWarnLow); NaN for kNormal.
double ThresholdFor(const ThresholdRule& rule, Level level);

struct RuleSet {
  std::array<ThresholdRule, kCanonicalParameterCount> by_parameter{};
  const ThresholdRule& For(ParameterId id) const {
    return by_parameter[static_cast<std::size_t>(id)];
  }
  ThresholdRule& For(ParameterId id) { return by_parameter[static_cast<std::size_t>(id)]; }
};

// US EPA drinking-water defaults (pH, turbidity, free chlorine). Other parameters have no rule.
RuleSet DrinkingWaterDefaults();

}  // namespace aquawatch
