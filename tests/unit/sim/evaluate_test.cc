#include <gtest/gtest.h>

#include "sim/evaluate.h"

namespace aquawatch::sim {
namespace {

// The detection engine against the simulator's ground truth, small enough for a unit test; the
// full-size figures come from `aquawatch evaluate` (docs/detection.md).
TEST(Evaluate, CatchesInjectedContaminationWithoutFalseAlarmsOnHealthySensors) {
  EvaluateOptions o;
  o.fleet.sensors = 100;
  o.fleet.interval_ns = 10 * kNanosPerSecond;
  o.fleet.contamination_every_ns = 600 * kNanosPerSecond;
  o.fleet.seed = 3;
  o.duration_ns = 12 * 3600 * kNanosPerSecond;
  auto report = EvaluateDetector(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(report->contamination_events, 50u);
  EXPECT_EQ(report->detected, report->contamination_events);
  EXPECT_EQ(report->classified_contamination, report->detected);
  EXPECT_LE(report->median_delay_samples, 3);
  EXPECT_EQ(report->false_alarms, 0u);
  EXPECT_DOUBLE_EQ(report->sensor_days, 50);
}

TEST(Evaluate, SensorFaultsAreNeverCalledContamination) {
  EvaluateOptions o;
  o.fleet.sensors = 100;
  o.fleet.fault_rate_per_sensor_day = 2;
  o.fleet.seed = 4;
  o.duration_ns = 12 * 3600 * kNanosPerSecond;
  auto report = EvaluateDetector(o);
  ASSERT_TRUE(report.ok());
  EXPECT_GT(report->fault_labels, 20u);
  EXPECT_EQ(report->false_contamination, 0u);
}

}  // namespace
}  // namespace aquawatch::sim
