#include "sim/bench_command.h"

#include <gtest/gtest.h>

namespace aquawatch::sim {
namespace {

TEST(Bench, SumsEveryPrometheusSeriesOfOneName) {
  const char* text =
      "# HELP aquawatch_readings_durable_total Readings made durable.\n"
      "# TYPE aquawatch_readings_durable_total counter\n"
      "aquawatch_readings_durable_total{shard=\"0\"} 1500\n"
      "aquawatch_readings_durable_total{shard=\"1\"} 2500 1700000000000\n"
      "aquawatch_readings_durable_total_created 17\n"
      "aquawatch_sensors 42\n"
      "process_resident_memory_bytes 1.5e+08\n";
  EXPECT_EQ(SumPrometheusMetric(text, "aquawatch_readings_durable_total"), 4000.0);
  EXPECT_EQ(SumPrometheusMetric(text, "aquawatch_sensors"), 42.0);
  EXPECT_EQ(SumPrometheusMetric(text, "process_resident_memory_bytes"), 1.5e8);
  EXPECT_FALSE(SumPrometheusMetric(text, "aquawatch_missing").has_value());
  EXPECT_FALSE(SumPrometheusMetric("", "x").has_value());
}

TEST(Bench, PicksHistogramBucketsByLabelAndTakesTheLargestSample) {
  const char* text =
      "aquawatch_shard_loop_seconds_bucket{shard=\"0\",le=\"0.005\"} 90\n"
      "aquawatch_shard_loop_seconds_bucket{shard=\"0\",le=\"0.01\"} 98\n"
      "aquawatch_shard_loop_seconds_bucket{shard=\"1\",le=\"0.01\"} 40\n"
      "aquawatch_shard_loop_seconds_count{shard=\"0\"} 100\n"
      "aquawatch_shard_loop_max_seconds{shard=\"0\"} 0.004\n"
      "aquawatch_shard_loop_max_seconds{shard=\"1\"} 0.012\n";
  EXPECT_EQ(SumPrometheusMetric(text, "aquawatch_shard_loop_seconds_bucket", "le=\"0.01\""), 138.0);
  EXPECT_EQ(SumPrometheusMetric(text, "aquawatch_shard_loop_seconds_bucket"), 228.0);
  EXPECT_FALSE(
      SumPrometheusMetric(text, "aquawatch_shard_loop_seconds_bucket", "le=\"9\"").has_value());
  EXPECT_EQ(MaxPrometheusMetric(text, "aquawatch_shard_loop_max_seconds"), 0.012);
  EXPECT_FALSE(MaxPrometheusMetric(text, "aquawatch_missing").has_value());
}

TEST(Bench, QuantileByNearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 1000; ++i) v.push_back(i);
  EXPECT_EQ(Quantile(v, 0.5), 500);
  EXPECT_EQ(Quantile(v, 0.99), 990);
  EXPECT_EQ(Quantile(v, 0.999), 999);
  EXPECT_EQ(Quantile(v, 1.0), 1000);
  EXPECT_EQ(Quantile({}, 0.5), 0);
  EXPECT_EQ(Quantile({3.0}, 0.999), 3.0);
}

}  // namespace
}  // namespace aquawatch::sim
