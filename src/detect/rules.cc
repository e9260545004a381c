#include "detect/rules.h"

#include <fmt/format.h>
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

int LevelSeverity(Level l) {
  if (l == Level::kNormal) return 0;
  return IsCritical(l) ? 2 : 1;
}

Level HeldLevel(const ThresholdRule& rule, Level current, double value) {
  if (std::isnan(value)) return current;
  return rule.enabled ? Held(rule, current, value) : Level::kNormal;
}

Level EvaluateThreshold(const ThresholdRule& rule, Level current, double value) {
  if (std::isnan(value)) return current;
  if (!rule.enabled) return Level::kNormal;  // e.g. the rule was removed while a level was held
  Level entered = Entered(rule, value);
  Level held = Held(rule, current, value);
  // The more severe wins; at equal severity a fresh crossing (possibly the other side) wins.
  return LevelSeverity(held) > LevelSeverity(entered) ? held : entered;
}

Level TrackThreshold(const ThresholdRule& rule, Level level, std::int64_t& pending_since,
                     std::int64_t time_ns, double value) {
  const Level next = EvaluateThreshold(rule, level, value);
  if (next == level) {
    pending_since = kNotPending;
    return level;
  }
  if (LevelSeverity(next) >= LevelSeverity(level) && rule.min_duration_s > 0) {
    if (pending_since == kNotPending) pending_since = time_ns;
    if (static_cast<double>(time_ns - pending_since) / 1e9 < rule.min_duration_s) {
      return HeldLevel(rule, level, value);
    }
  }
  pending_since = kNotPending;
  return next;
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

double NoLimit(double ThresholdRule::*field) {
  return field == &ThresholdRule::critical_low || field == &ThresholdRule::warn_low ? -kNoLimit
                                                                                    : kNoLimit;
}

void UpdateEnabled(ThresholdRule& rule) {
  rule.enabled = std::isfinite(rule.critical_low) || std::isfinite(rule.warn_low) ||
                 std::isfinite(rule.warn_high) || std::isfinite(rule.critical_high);
}

Status ValidateRule(const ThresholdRule& r, std::string_view where) {
  if (!(r.critical_low <= r.warn_low && r.warn_low <= r.warn_high &&
        r.warn_high <= r.critical_high)) {
    return Status::InvalidArgument(fmt::format(
        "{}: need critical_low <= warn_low <= warn_high <= critical_high, got {} <= {} <= {} <= {}",
        where, r.critical_low, r.warn_low, r.warn_high, r.critical_high));
  }
  if (!(r.hysteresis >= 0) || !(r.min_duration_s >= 0) || std::isinf(r.hysteresis) ||
      std::isinf(r.min_duration_s)) {
    return Status::InvalidArgument(
        fmt::format("{}: hysteresis and min_duration must be finite and >= 0", where));
  }
  return Status::Ok();
}

std::optional<std::size_t> SiteProfileIndex(std::string_view name) {
  for (std::size_t i = 0; i < kSiteProfiles.size(); ++i) {
    if (kSiteProfiles[i].name == name) return i;
  }
  return std::nullopt;
}

std::size_t DefaultSiteProfileIndex() { return *SiteProfileIndex(kDefaultSiteProfile); }

ProfileRules DefaultProfileRules() {
  constexpr double kNone = kNoLimit;
  ProfileRules rules;
  auto set = [&](std::string_view profile, ParameterId id, ThresholdRule rule) {
    rule.enabled = true;
    rules.For(*SiteProfileIndex(profile)).For(id) = rule;
  };
  // Treated drinking water: the EPA limits above.
  rules.For(*SiteProfileIndex("treated_drinking_water")) = DrinkingWaterDefaults();

  // Distribution network: the same pH and chlorine residual limits (the 0.2 mg/L residual and
  // the 4.0 mg/L MRDL apply throughout the system); turbidity against WHO's guidance (ideally
  // below 1 NTU, noticeable above 5 NTU), held for a minute so a valve or flow change does not
  // alarm.
  set("distribution_network", ParameterId::kPh, {true, 6.0, 6.5, 8.5, 9.0, 0.1, 0});
  set("distribution_network", ParameterId::kFreeChlorineMgL, {true, 0.2, 0.3, 3.5, 4.0, 0.05, 0});
  set("distribution_network", ParameterId::kTurbidityNtu,
      {true, -kNone, -kNone, 1.0, 5.0, 0.1, 60});

  // Raw surface water: EPA's national recommended aquatic-life criteria: pH 6.5-9 (warn; the
  // critical margins are an operator choice) and dissolved oxygen (5.0 mg/L for early life
  // stages, 3.0 mg/L one-day minimum for warm water, held 15 minutes); storm turbidity limits
  // for the intake (no federal criterion: an operator choice).
  set("raw_surface_water", ParameterId::kPh, {true, 6.0, 6.5, 9.0, 9.5, 0.1, 300});
  set("raw_surface_water", ParameterId::kDissolvedOxygenMgL,
      {true, 3.0, 5.0, kNone, kNone, 0.2, 900});
  set("raw_surface_water", ParameterId::kTurbidityNtu, {true, -kNone, -kNone, 50, 100, 5, 300});

  // Groundwater: EPA secondary standards: pH 6.5-8.5, total dissolved solids 500 mg/L (about
  // 800 uS/cm at TDS = 0.64 x conductivity; critical at WHO's 1000 mg/L palatability limit,
  // about 1600 uS/cm); turbidity as WHO (1 / 5 NTU). Held 5 minutes: well water changes slowly.
  set("groundwater", ParameterId::kPh, {true, 6.0, 6.5, 8.5, 9.0, 0.1, 300});
  set("groundwater", ParameterId::kConductivityUsCm, {true, -kNone, -kNone, 800, 1600, 20, 300});
  set("groundwater", ParameterId::kTurbidityNtu, {true, -kNone, -kNone, 1.0, 5.0, 0.1, 300});

  // Wastewater effluent: secondary treatment pH 6.0-9.0 (40 CFR 133.102), with warn margins;
  // a continuous pH monitor may be outside for at most 60 minutes at a time (40 CFR 401.17), so
  // the critical alert waits 10 minutes. Residual chlorine after dechlorination against EPA's
  // aquatic-life criteria for total residual chlorine: 0.011 mg/L chronic, 0.019 mg/L acute.
  set("wastewater_effluent", ParameterId::kPh, {true, 6.0, 6.5, 8.5, 9.0, 0.1, 600});
  set("wastewater_effluent", ParameterId::kFreeChlorineMgL,
      {true, -kNone, -kNone, 0.011, 0.019, 0.002, 300});
  return rules;
}

}  // namespace aquawatch
