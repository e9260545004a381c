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
