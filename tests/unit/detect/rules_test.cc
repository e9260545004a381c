#include <gtest/gtest.h>

#include <cmath>

#include "detect/rules.h"

namespace aquawatch {
namespace {

ThresholdRule Chlorine() { return DrinkingWaterDefaults().For(ParameterId::kFreeChlorineMgL); }

TEST(Rules, NormalValuesStayNormal) {
  ThresholdRule r = Chlorine();
  EXPECT_EQ(EvaluateThreshold(r, Level::kNormal, 0.8), Level::kNormal);
  EXPECT_EQ(EvaluateThreshold(r, Level::kNormal, 0.3), Level::kNormal);  // at the limit
}

TEST(Rules, CrossingEntersWarnThenCritical) {
  ThresholdRule r = Chlorine();  // critical < 0.2, warn < 0.3
  EXPECT_EQ(EvaluateThreshold(r, Level::kNormal, 0.25), Level::kWarnLow);
  EXPECT_EQ(EvaluateThreshold(r, Level::kWarnLow, 0.1), Level::kCriticalLow);
  EXPECT_EQ(EvaluateThreshold(r, Level::kNormal, 0.1), Level::kCriticalLow);
  EXPECT_EQ(EvaluateThreshold(r, Level::kNormal, 4.5), Level::kCriticalHigh);
}

TEST(Rules, HysteresisHoldsLevelNearTheLimit) {
  ThresholdRule r = Chlorine();  // hysteresis 0.05
  // Back above 0.2 but not above 0.25: still critical.
  EXPECT_EQ(EvaluateThreshold(r, Level::kCriticalLow, 0.22), Level::kCriticalLow);
  // Past the band: drops to warn (still below the warn clear level 0.35).
  EXPECT_EQ(EvaluateThreshold(r, Level::kCriticalLow, 0.26), Level::kWarnLow);
  EXPECT_EQ(EvaluateThreshold(r, Level::kWarnLow, 0.32), Level::kWarnLow);
  EXPECT_EQ(EvaluateThreshold(r, Level::kWarnLow, 0.36), Level::kNormal);
  // From critical straight to normal when the value recovers fully.
  EXPECT_EQ(EvaluateThreshold(r, Level::kCriticalLow, 0.8), Level::kNormal);
}

TEST(Rules, HoveringValueDoesNotFlap) {
  ThresholdRule r = DrinkingWaterDefaults().For(ParameterId::kTurbidityNtu);  // warn > 0.3
  Level l = Level::kNormal;
  int changes = 0;
  const double series[] = {0.29, 0.31, 0.29, 0.31, 0.28, 0.31, 0.27, 0.3};
  for (double v : series) {
    Level next = EvaluateThreshold(r, l, v);
    if (next != l) ++changes;
    l = next;
  }
  EXPECT_EQ(changes, 1);  // entered warn once, never cleared inside the band
  EXPECT_EQ(l, Level::kWarnHigh);
  EXPECT_EQ(EvaluateThreshold(r, l, 0.2), Level::kNormal);
}

TEST(Rules, SwitchesSidesOnAFreshCrossing) {
  ThresholdRule r = DrinkingWaterDefaults().For(ParameterId::kPh);
  EXPECT_EQ(EvaluateThreshold(r, Level::kWarnHigh, 6.2), Level::kWarnLow);
  EXPECT_EQ(EvaluateThreshold(r, Level::kWarnLow, 9.5), Level::kCriticalHigh);
}

TEST(Rules, NanKeepsTheLevelAndADisabledRuleIsNormal) {
  ThresholdRule r = Chlorine();
  EXPECT_EQ(EvaluateThreshold(r, Level::kWarnLow, std::nan("")), Level::kWarnLow);
  ThresholdRule off;
  EXPECT_EQ(EvaluateThreshold(off, Level::kNormal, 1e9), Level::kNormal);
  EXPECT_EQ(EvaluateThreshold(off, Level::kCriticalLow, 0), Level::kNormal)
      << "a removed rule lets a held level go";
  EXPECT_EQ(EvaluateThreshold(off, Level::kCriticalLow, std::nan("")), Level::kCriticalLow);
  EXPECT_FALSE(DrinkingWaterDefaults().For(ParameterId::kTemperatureC).enabled);
}

TEST(Rules, ThresholdForNamesTheCrossedLimit) {
  ThresholdRule r = Chlorine();
  EXPECT_DOUBLE_EQ(ThresholdFor(r, Level::kCriticalLow), 0.2);
  EXPECT_DOUBLE_EQ(ThresholdFor(r, Level::kWarnHigh), 3.5);
  EXPECT_TRUE(std::isnan(ThresholdFor(r, Level::kNormal)));
}

TEST(Rules, EveryProfileHasValidDefaultsOfItsOwn) {
  const ProfileRules rules = DefaultProfileRules();
  for (std::size_t p = 0; p < kSiteProfiles.size(); ++p) {
    int enabled = 0;
    for (int i = 0; i < kCanonicalParameterCount; ++i) {
      const ThresholdRule& r = rules.For(p).by_parameter[static_cast<std::size_t>(i)];
      EXPECT_TRUE(ValidateRule(r, "x").ok()) << kSiteProfiles[p].name << " " << i;
      enabled += r.enabled;
    }
    EXPECT_GE(enabled, 2) << kSiteProfiles[p].name;
  }
  // Profiles differ where their standards do.
  EXPECT_EQ(rules.For(DefaultSiteProfileIndex()).For(ParameterId::kTurbidityNtu).warn_high, 0.3);
  EXPECT_EQ(rules.For(*SiteProfileIndex("raw_surface_water")).For(ParameterId::kPh).warn_high, 9.0);
  EXPECT_TRUE(rules.For(*SiteProfileIndex("raw_surface_water"))
                  .For(ParameterId::kDissolvedOxygenMgL)
                  .enabled);
  EXPECT_EQ(rules.For(*SiteProfileIndex("wastewater_effluent")).For(ParameterId::kPh).critical_low,
            6.0);
  EXPECT_FALSE(SiteProfileIndex("moon_base").has_value());
}

TEST(Rules, ValidateRuleNamesWhereAndWhy) {
  ThresholdRule r = Chlorine();
  r.warn_low = 5;  // above warn_high
  Status s = ValidateRule(r, "rules.x.free_chlorine_mg_l");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rules.x.free_chlorine_mg_l"), std::string::npos);
  r = Chlorine();
  r.min_duration_s = -1;
  EXPECT_FALSE(ValidateRule(r, "x").ok());
  r.min_duration_s = std::nan("");
  EXPECT_FALSE(ValidateRule(r, "x").ok());
}

}  // namespace
}  // namespace aquawatch
