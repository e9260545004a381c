#include "api/profile_json.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>

namespace aquawatch {
namespace {

namespace json = boost::json;

const SiteProfile& Groundwater() { return kSiteProfiles[*SiteProfileIndex("groundwater")]; }

TEST(ProfileJson, ListsEveryRuleWithNullForAMissingLimit) {
  const RuleSet rules = DefaultProfileRules().For(*SiteProfileIndex("groundwater"));
  std::string out;
  AppendProfileJson(out, Groundwater(), rules);
  json::value v = json::parse(out);
  EXPECT_EQ(v.at("name").as_string(), "groundwater");
  EXPECT_FALSE(v.at("description").as_string().empty());
  const json::object& r = v.at("rules").as_object();
  EXPECT_EQ(r.size(), 3u);  // ph, conductivity, turbidity
  EXPECT_EQ(r.at("ph").at("warn_low").as_double(), 6.5);
  EXPECT_EQ(r.at("ph").at("min_duration").to_number<double>(), 300);
  EXPECT_TRUE(r.at("conductivity_us_cm").at("critical_low").is_null());
  EXPECT_EQ(r.at("conductivity_us_cm").at("warn_high").to_number<double>(), 800);
}

TEST(ProfileJson, UpdateChangesOnlyWhatItNames) {
  RuleSet rules = DefaultProfileRules().For(*SiteProfileIndex("groundwater"));
  std::vector<ParameterId> changed;
  ASSERT_TRUE(ApplyProfileUpdate(
                  R"({"rules":{"ph":{"warn_high":8.2,"critical_low":null},"orp_mv":{"warn_low":150},
                      "turbidity_ntu":null}})",
                  rules, changed)
                  .ok());
  EXPECT_EQ(changed.size(), 3u);
  const ThresholdRule& ph = rules.For(ParameterId::kPh);
  EXPECT_EQ(ph.warn_high, 8.2);
  EXPECT_EQ(ph.warn_low, 6.5) << "untouched";
  EXPECT_TRUE(std::isinf(ph.critical_low) && ph.critical_low < 0) << "null removes a limit";
  EXPECT_TRUE(rules.For(ParameterId::kOrpMv).enabled) << "a new rule";
  EXPECT_EQ(rules.For(ParameterId::kOrpMv).warn_low, 150);
  EXPECT_FALSE(rules.For(ParameterId::kTurbidityNtu).enabled) << "null removes the rule";
  EXPECT_TRUE(rules.For(ParameterId::kConductivityUsCm).enabled) << "not named: untouched";
}

TEST(ProfileJson, BadBodiesNameTheProblemAndChangeNothing) {
  const RuleSet before = DefaultProfileRules().For(*SiteProfileIndex("groundwater"));
  struct Case {
    const char* body;
    const char* says;
  } cases[] = {
      {"not json", "not valid JSON"},
      {"[1]", "JSON object"},
      {R"({"rules":5})", "field 'rules'"},
      {R"({"name":"x","rules":{}})", "read-only"},
      {R"({"rulez":{}})", "unknown field 'rulez'"},
      {R"({"rules":{"chlorophyll":{"warn_high":1}}})", "unknown parameter 'chlorophyll'"},
      {R"({"rules":{"ph":{"warn_hi":9}}})", "rules.ph: unknown field 'warn_hi'"},
      {R"({"rules":{"ph":{"warn_high":"9"}}})", "rules.ph.warn_high: must be a number"},
      {R"({"rules":{"ph":{"warn_high":5}}})", "rules.ph: need critical_low <= warn_low"},
      {R"({"rules":{"ph":{"min_duration":-1}}})", "min_duration must be finite and >= 0"},
      {R"({"rules":{"ph":[1,2]}})", "rules.ph: must be an object"},
      // A good change and a bad one: nothing applies.
      {R"({"rules":{"orp_mv":{"warn_low":150},"ph":{"hysteresis":-1}}})", "hysteresis"},
  };
  for (const Case& c : cases) {
    RuleSet rules = before;
    std::vector<ParameterId> changed;
    Status s = ApplyProfileUpdate(c.body, rules, changed);
    ASSERT_FALSE(s.ok()) << c.body;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(c.says), std::string::npos) << c.body << " -> " << s.message();
    EXPECT_FALSE(rules.For(ParameterId::kOrpMv).enabled) << c.body;
    EXPECT_EQ(rules.For(ParameterId::kPh).warn_high, 8.5) << c.body;
    EXPECT_TRUE(changed.empty());
  }
}

}  // namespace
}  // namespace aquawatch
