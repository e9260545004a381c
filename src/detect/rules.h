// Threshold rules with warn/critical levels, hysteresis and a minimum duration, per site profile.
//
// A value enters a level when it crosses the level's threshold and leaves it only when it comes
// back past the threshold by the rule's hysteresis band, so a value hovering at a limit does not
// open and close alerts on every sample. Each site profile (core/profiles.h) has its own rules;
// defaults follow public standards, with their sources in docs/detection-v0.md.
// Thread-safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "core/profiles.h"
#include "core/reading.h"
#include "core/status.h"

namespace aquawatch {

inline constexpr double kNoLimit = std::numeric_limits<double>::infinity();

struct ThresholdRule {
  bool enabled = false;
  double critical_low = -kNoLimit;
  double warn_low = -kNoLimit;
  double warn_high = kNoLimit;
  double critical_high = kNoLimit;
  double hysteresis = 0;  // how far back inside a threshold a value must come to clear it
  // A crossing opens an alert only once the value has stayed beyond the threshold this long
  // (sensor time); clearing needs no wait, the hysteresis guards it. 0 = at once.
  double min_duration_s = 0;
};

// The limits of a rule, by name, for the configuration and the API.
struct RuleField {
  std::string_view name;  // "critical_low", ..., "hysteresis", "min_duration"
  double ThresholdRule::*field;
  bool is_limit;  // a threshold ("none" / null removes it) rather than a non-negative amount
};
inline constexpr RuleField kRuleFields[] = {
    {"critical_low", &ThresholdRule::critical_low, true},
    {"warn_low", &ThresholdRule::warn_low, true},
    {"warn_high", &ThresholdRule::warn_high, true},
    {"critical_high", &ThresholdRule::critical_high, true},
    {"hysteresis", &ThresholdRule::hysteresis, false},
    {"min_duration", &ThresholdRule::min_duration_s, false},
};
// The value meaning "no such limit" for a limit field: -inf for the low ones, +inf for the high.
double NoLimit(double ThresholdRule::*field);
// enabled = some limit is finite.
void UpdateEnabled(ThresholdRule& rule);
// InvalidArgument naming `where` unless critical_low <= warn_low <= warn_high <= critical_high,
// hysteresis >= 0 and min_duration >= 0 (and none is NaN).
Status ValidateRule(const ThresholdRule& rule, std::string_view where);

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
int LevelSeverity(Level l);           // 0 normal, 1 warn, 2 critical

// The level after observing `value` in level `current`. NaN keeps the current level; a disabled
// rule gives normal.
Level EvaluateThreshold(const ThresholdRule& rule, Level current, double value);
// What is left of `current` after observing `value`, by the hysteresis alone (no fresh crossing):
// `current`, a milder level on the same side, or normal. NaN keeps the current level.
Level HeldLevel(const ThresholdRule& rule, Level current, double value);
// One parameter's threshold state over time, with the rule's minimum duration: entering or
// worsening a level waits until the value has been beyond it for min_duration_s (sensor time);
// easing is at once, so while a crossing waits the level keeps only what HeldLevel allows.
// `pending_since` is the time the waiting crossing began, kNotPending when none. Returns the new
// level (the caller compares it with the old one to raise or resolve alerts).
inline constexpr std::int64_t kNotPending = std::numeric_limits<std::int64_t>::min();
Level TrackThreshold(const ThresholdRule& rule, Level level, std::int64_t& pending_since,
                     std::int64_t time_ns, double value);

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

// The rules of every site profile, in kSiteProfiles order.
struct ProfileRules {
  std::array<RuleSet, kSiteProfiles.size()> by_profile{};
  const RuleSet& For(std::size_t profile) const { return by_profile[profile]; }
  RuleSet& For(std::size_t profile) { return by_profile[profile]; }
};
// Each profile's defaults from public standards (docs/detection-v0.md has the sources).
ProfileRules DefaultProfileRules();
// The index of a profile in kSiteProfiles, if it is one.
std::optional<std::size_t> SiteProfileIndex(std::string_view name);
// The index of kDefaultSiteProfile.
std::size_t DefaultSiteProfileIndex();

}  // namespace aquawatch
