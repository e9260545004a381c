#include "detect/rules.h"

#include <cmath>

namespace aquawatch {

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kNormal:
      return "normal";
    case Level::kWarnLow:
      return "warn_low";
    case Level::kWarnHigh:
      return "warn_high";
    case Level::kCriticalLow:
      return "critical_low";
    case Level::kCriticalHigh:
      return "critical_high";
  }
  return "unknown";
}

namespace {

int Severity(Level l) {
  if (l == Level::kNormal) return 0;
  return IsCritical(l) ? 2 : 1;
}

// The level a value is in by the entry thresholds alone.
Level Entered(const ThresholdRule& r, double v) {
  if (v < r.critical_low) return Level::kCriticalLow;
  if (v > r.critical_high) return Level::kCriticalHigh;
  if (v < r.warn_low) return Level::kWarnLow;
  if (v > r.warn_high) return Level::kWarnHigh;
  return Level::kNormal;
}

// The level the value still holds given the current one and the hysteresis band.
Level Held(const ThresholdRule& r, Level current, double v) {
  const double h = r.hysteresis;
  switch (current) {
    case Level::kCriticalHigh:
      if (v > r.critical_high - h) return Level::kCriticalHigh;
      [[fallthrough]];
    case Level::kWarnHigh:
      if (v > r.warn_high - h) return Level::kWarnHigh;
      return Level::kNormal;
    case Level::kCriticalLow:
      if (v < r.critical_low + h) return Level::kCriticalLow;
      [[fallthrough]];
    case Level::kWarnLow:
      if (v < r.warn_low + h) return Level::kWarnLow;
      return Level::kNormal;
    case Level::kNormal:
      return Level::kNormal;
  }
  return Level::kNormal;
}

}  // namespace

Level EvaluateThreshold(const ThresholdRule& rule, Level current, double value) {
  if (!rule.enabled || std::isnan(value)) return current;
  Level entered = Entered(rule, value);
  Level held = Held(rule, current, value);
  // The more severe wins; at equal severity a fresh crossing (possibly the other side) wins.
  return Severity(held) > Severity(entered) ? held : entered;
}

double ThresholdFor(const ThresholdRule& rule, Level level) {
  switch (level) {
    case Level::kWarnLow:
      return rule.warn_low;
    case Level::kWarnHigh:
      return rule.warn_high;
    case Level::kCriticalLow:
      return rule.critical_low;
    case Level::kCriticalHigh:
      return rule.critical_high;
    case Level::kNormal:
      break;
  }
  return std::nan("");
}

RuleSet DrinkingWaterDefaults() {
  RuleSet rules;
  // pH: EPA secondary standard 6.5-8.5 (warn); outside 6.0-9.0 is corrosive or scaling enough
  // to treat as critical.
  ThresholdRule& ph = rules.For(ParameterId::kPh);
  ph = {true, 6.0, 6.5, 8.5, 9.0, 0.1};
  // Turbidity: EPA surface water treatment rule: <= 0.3 NTU in 95 % of samples (warn above
  // 0.3) and never above 1 NTU (critical).
  ThresholdRule& turbidity = rules.For(ParameterId::kTurbidityNtu);
  turbidity = {true, -kNoLimit, -kNoLimit, 0.3, 1.0, 0.05};
  // Free chlorine: a residual of at least 0.2 mg/L must be kept in the distribution system
  // (critical below); EPA's MRDL is 4.0 mg/L (critical above). Warn when near either limit.
  ThresholdRule& chlorine = rules.For(ParameterId::kFreeChlorineMgL);
  chlorine = {true, 0.2, 0.3, 3.5, 4.0, 0.05};
  return rules;
}

}  // namespace aquawatch
