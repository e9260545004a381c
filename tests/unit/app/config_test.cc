#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "app/config.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

TEST(Config, EveryOptionHasHelpEnvAndFlag) {
  for (const ConfigOption& o : ConfigOptions()) {
    EXPECT_FALSE(o.help.empty()) << o.key;
    EXPECT_EQ(o.EnvName().rfind("AQUAWATCH_", 0), 0u);
    EXPECT_EQ(o.FlagName().rfind("--", 0), 0u);
  }
  const ConfigOption* port = nullptr;
  for (const ConfigOption& o : ConfigOptions()) {
    if (o.key == "http.port") port = &o;
  }
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->EnvName(), "AQUAWATCH_HTTP_PORT");
  EXPECT_EQ(port->FlagName(), "--http-port");
}

TEST(Config, LaterSourcesOverrideEarlierOnes) {
  testing::TempDir dir;
  std::string path = dir.path() + "/c.yaml";
  std::ofstream(path) << "http:\n  port: 9000\ntcp:\n  port: 9001\n"
                         "rules:\n  groundwater:\n    ph:\n      warn_high: 8.8\n";
  Config c;
  ASSERT_TRUE(ApplyYamlFile(path, c).ok());
  EXPECT_EQ(c.http.port, 9000);
  EXPECT_DOUBLE_EQ(
      c.pipeline.rules.For(*SiteProfileIndex("groundwater")).For(ParameterId::kPh).warn_high, 8.8);
  EXPECT_DOUBLE_EQ(c.pipeline.rules.For(DefaultSiteProfileIndex()).For(ParameterId::kPh).warn_high,
                   8.5)
      << "one profile's rules leave the others alone";
  std::string e1 = "AQUAWATCH_TCP_PORT=9002", e2 = "PATH=/bin";
  char* env[] = {e1.data(), e2.data(), nullptr};
  ASSERT_TRUE(ApplyEnvironment(env, c).ok());
  EXPECT_EQ(c.tcp.port, 9002);
  ASSERT_TRUE(ApplyFlags({{"tcp.port", "9003"}}, c).ok());
  EXPECT_EQ(c.tcp.port, 9003);
  EXPECT_EQ(c.http.port, 9000);
}

TEST(Config, RejectsUnknownKeysAndBadValuesByName) {
  testing::TempDir dir;
  std::string path = dir.path() + "/c.yaml";
  std::ofstream(path) << "http:\n  prot: 9000\n";
  Config c;
  Status s = ApplyYamlFile(path, c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("http.prot"), std::string::npos);

  Status bad = ApplyFlags({{"http.port", "70000"}}, c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("--http-port"), std::string::npos);

  std::string e = "AQUAWATCH_NOPE=1";
  char* env[] = {e.data(), nullptr};
  Status unknown = ApplyEnvironment(env, c);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("AQUAWATCH_NOPE"), std::string::npos);

  EXPECT_FALSE(ApplyFlags({{"role", "ingest"}}, c).ok());
}

TEST(Config, DetectorTuningIsSetByKeyAndCheckedAsAWhole) {
  testing::TempDir dir;
  std::string path = dir.path() + "/c.yaml";
  std::ofstream(path) << "detect:\n  outlier_z: 8\n  joint_p: 1e-9\n";
  Config c;
  ASSERT_TRUE(ApplyYamlFile(path, c).ok());
  EXPECT_DOUBLE_EQ(c.detect.outlier_z, 8);
  EXPECT_DOUBLE_EQ(c.detect.joint_p, 1e-9);
  EXPECT_TRUE(c.detect_enabled);
  ASSERT_TRUE(ApplyFlags({{"detect.enabled", "false"}, {"detect.daily_days", "0"}}, c).ok());
  EXPECT_FALSE(c.detect_enabled);
  EXPECT_DOUBLE_EQ(c.detect.daily_days, 0);
  EXPECT_NE(RenderYaml(c).find("outlier_z: 8"), std::string::npos);

  Status bad = ApplyFlags({{"detect.outlier_z", "-1"}}, c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("detect-outlier-z"), std::string::npos) << bad.message();
  // Each field is in range, but the model refuses the whole (window over 64 rows).
  ASSERT_TRUE(ApplyFlags({{"detect.window", "100"}}, c).ok());
  Status invalid = Validate(c);
  ASSERT_FALSE(invalid.ok());
  EXPECT_NE(invalid.message().find("window"), std::string::npos) << invalid.message();
}

TEST(Config, ValidateChecksThresholdOrder) {
  Config c;
  EXPECT_TRUE(Validate(c).ok());
  ASSERT_TRUE(ApplyFlags({{"rules.treated_drinking_water.ph.warn_high", "5"}}, c).ok());
  Status s = Validate(c);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rules.treated_drinking_water.ph"), std::string::npos) << s.message();
  Config d;
  ASSERT_TRUE(ApplyFlags({{"rules.groundwater.ph.min_duration", "-1"}}, d).ok());
  EXPECT_FALSE(Validate(d).ok());
  ASSERT_TRUE(ApplyFlags({{"rules.groundwater.ph.min_duration", "none"}}, d).ok());
  EXPECT_EQ(
      d.pipeline.rules.For(*SiteProfileIndex("groundwater")).For(ParameterId::kPh).min_duration_s,
      0);
}

TEST(Config, NoneRemovesALimitAndRenderShowsIt) {
  Config c;
  ASSERT_TRUE(
      ApplyFlags({{"rules.treated_drinking_water.turbidity_ntu.warn_high", "none"}}, c).ok());
  EXPECT_TRUE(std::isinf(
      c.pipeline.rules.For(DefaultSiteProfileIndex()).For(ParameterId::kTurbidityNtu).warn_high));
  std::string yaml = RenderYaml(c);
  EXPECT_NE(yaml.find("turbidity_ntu:"), std::string::npos);
  EXPECT_NE(yaml.find("warn_high: none"), std::string::npos);
  EXPECT_NE(yaml.find("port: 8080"), std::string::npos);
}

}  // namespace
}  // namespace aquawatch

namespace aquawatch {
namespace {

// Found by the config fuzz target's first seeds: yaml-cpp throws when a key is not a scalar,
// and that exception escaped config loading and terminated the process.
TEST(Config, ANonScalarKeyIsAnErrorNotACrash) {
  Config c;
  Status s = ApplyYamlText("[a, b]: 1\n", "config file x.yaml", c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("config file x.yaml"), std::string::npos) << s.message();
  EXPECT_FALSE(ApplyYamlText("http: {[1]: 2}\n", "x", c).ok());
  EXPECT_FALSE(ApplyYamlText("{{{{", "x", c).ok());
  EXPECT_TRUE(ApplyYamlText("", "x", c).ok());
}

TEST(Config, NotifySecretsAreMaskedAndThePolicyFileIsChecked) {
  testing::TempDir dir;
  Config c;
  ASSERT_TRUE(ApplyFlags({{"notify.sms.auth_token", "tok-secret"},
                          {"notify.email.password", "pw-secret"},
                          {"rabbitmq.password", "rmq-secret"}},
                         c)
                  .ok());
  EXPECT_EQ(c.notify.channels.sms.auth_token, "tok-secret");
  const std::string yaml = RenderYaml(c);
  EXPECT_EQ(yaml.find("secret"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("auth_token: \"***\""), std::string::npos) << yaml;

  const std::string path = dir.path() + "/policy.yaml";
  std::ofstream(path) << "receivers:\n  - name: ops\n    targets:\n      - {channel: sms}\n";
  c.notify.policy_file = path;
  auto bad = LoadNotifyPolicy(c);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "notify.policy_file " + path + ": receivers[0].targets[0].to: required for sms");
  EXPECT_FALSE(Validate(c).ok()) << "a bad policy stops the server at start";
  std::ofstream(path, std::ios::trunc)
      << "receivers:\n  - name: ops\n    targets:\n      - {channel: sms, to: \"+1555\"}\n"
         "policies:\n  - name: p\n    send_resolved: false\n    stages:\n"
         "      - {after: 0s, receivers: [ops]}\n"
         "routes:\n  - {match: {priority: [high]}, policy: p}\n";
  auto good = LoadNotifyPolicy(c);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_FALSE(good->policies[0].send_resolved) << "YAML booleans are booleans";
  EXPECT_EQ(good->routes[0].match.priorities.size(), 1u);
  EXPECT_TRUE(Validate(c).ok());
}

TEST(Config, RoleNotifyNeedsTheRabbitMqBus) {
  Config c;
  ASSERT_TRUE(ApplyFlags({{"role", "notify"}}, c).ok());
  EXPECT_FALSE(Validate(c).ok());
  ASSERT_TRUE(ApplyFlags({{"alert_bus", "rabbitmq"}}, c).ok());
  EXPECT_TRUE(Validate(c).ok());
  EXPECT_FALSE(ApplyFlags({{"alert_bus", "kafka"}}, c).ok());
}

}  // namespace
}  // namespace aquawatch
