// Admission: what the shards refuse before the log (limits), and that the rest of a batch is
// kept and nothing refused comes back after a restart.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alert/alert_manager.h"
#include "pipeline/pipeline.h"
#include "store/tsdb/chunk.h"
#include "testing/submit.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

using testing::SubmitForResult;

constexpr std::int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24
constexpr std::int64_t kMs = 1'000'000;

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  AlertManager alerts;
  PipelineOptions options;
  Fixture() {
    options.data_dir = dir.path();
    options.shards = 1;
    options.partitions = 1;
    options.station_model = nullptr;  // admission only; detection is tested elsewhere
    for (auto& r : options.store.retention_ns) r = 0;  // the test times are long past
  }
  std::unique_ptr<Pipeline> Open() {
    auto p = Pipeline::Open(DefaultEnv(), SystemClock(), metrics, alerts, options);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }
  std::vector<SeriesPoint> Read(Pipeline& p, std::string_view sensor, std::string_view param) {
    std::vector<SeriesPoint> out;
    SeriesRead read;
    read.sensor = sensor;
    read.parameter = param;
    read.from_ns = 0;
    read.to_ns = kT0 + 1'000 * 86'400'000'000'000LL;
    read.max_points = 1'000'000;
    Status s = p.ReadSeries(read, out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
};

// Readings of one sensor, one per `step` ns from `t`, with line numbers from 1.
ReadingBatch Series(std::string_view sensor, std::int64_t t, std::int64_t step, int n) {
  ReadingBatch b;
  for (int i = 0; i < n; ++i) {
    b.BeginReading(sensor, t + i * step, "", "", static_cast<std::uint32_t>(i + 1));
    b.AddField(ParameterId::kPh, 7.0);
  }
  return b;
}

// A window holds at most kMaxChunkSamples samples of a series; the rest is refused before the
// log, in the same batch or a later one, and never dropped after being acknowledged.
TEST(Admission, RefusesSamplesPastAFullChunkWindowBeforeTheLog) {
  Fixture f;
  f.options.store.head.stagger_windows = false;
  const std::int64_t hour = 3'600'000'000'000LL;
  const std::int64_t window = kT0 - kT0 % hour;
  const int n = static_cast<int>(kMaxChunkSamples) + 5;
  f.options.store.checkpoint_on_stop = false;  // the restart below replays the whole log
  {
    auto p = f.Open();
    WriteResult r = SubmitForResult(*p, Series("fast", window, kMs, n));
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.refused, 5u);
    EXPECT_EQ(r.refused_by_limit[static_cast<int>(Limit::kChunkSamples)], 5u);
    ASSERT_FALSE(r.refusals.empty());
    EXPECT_EQ(r.refusals.front().line, kMaxChunkSamples + 1);
    EXPECT_EQ(r.refusals.front().limit, Limit::kChunkSamples);
    EXPECT_NE(r.refusals.front().reason.find("store.chunk_span"), std::string::npos);
    // A later batch into the same window is refused too; the next window takes readings.
    r = SubmitForResult(*p, Series("fast", window + n * kMs, kMs, 2));
    EXPECT_EQ(r.refused, 2u);
    r = SubmitForResult(*p, Series("fast", window + hour, kMs, 3));
    EXPECT_EQ(r.refused, 0u);
    EXPECT_EQ(f.Read(*p, "fast", "ph").size(), kMaxChunkSamples + 3);
  }
  // Replay of the log: what was refused never reached it.
  auto p = f.Open();
  EXPECT_EQ(p->recovery().readings, kMaxChunkSamples + 3);
  EXPECT_EQ(f.Read(*p, "fast", "ph").size(), kMaxChunkSamples + 3);
}

TEST(Admission, LimitsParametersPerSensorAcrossReadingsOfOneBatch) {
  Fixture f;
  f.options.limits.max_parameters_per_sensor = 4;
  auto p = f.Open();
  ReadingBatch b;
  b.BeginReading("probe", kT0, "", "", 1);
  b.AddField(ParameterId::kPh, 7);
  b.AddCustomField("a", 1);
  b.AddCustomField("b", 1);
  b.BeginReading("probe", kT0 + 1, "", "", 2);  // one more: 4, at the limit
  b.AddCustomField("c", 1);
  b.BeginReading("probe", kT0 + 2, "", "", 3);  // a fifth: refused
  b.AddCustomField("d", 1);
  b.BeginReading("probe", kT0 + 3, "", "", 4);  // known ones: fine
  b.AddCustomField("a", 2);
  b.AddField(ParameterId::kPh, 7.1);
  WriteResult r = SubmitForResult(*p, b);
  ASSERT_TRUE(r.status.ok());
  ASSERT_EQ(r.refused, 1u);
  EXPECT_EQ(r.refusals[0].line, 3u);
  EXPECT_EQ(r.refusals[0].field, "d");
  EXPECT_EQ(r.refusals[0].limit, Limit::kParametersPerSensor);
  EXPECT_NE(r.refusals[0].reason.find("ingest.max_parameters_per_sensor"), std::string::npos);
  // A later batch cannot add one either; another sensor can.
  ReadingBatch later;
  later.BeginReading("probe", kT0 + 10, "", "", 1);
  later.AddCustomField("e", 1);
  later.BeginReading("other", kT0 + 10, "", "", 2);
  later.AddCustomField("e", 1);
  r = SubmitForResult(*p, later);
  EXPECT_EQ(r.refused, 1u);
  EXPECT_EQ(f.Read(*p, "probe", "a").size(), 2u);
  EXPECT_TRUE(f.Read(*p, "probe", "d").empty());
  EXPECT_EQ(f.Read(*p, "other", "e").size(), 1u);
}

TEST(Admission, LimitsDistinctSensors) {
  Fixture f;
  f.options.limits.max_sensors = 3;
  auto p = f.Open();
  ReadingBatch b;
  for (const char* id : {"s1", "s2", "s1", "s3", "s4", "s5"}) {
    b.BeginReading(id, kT0 + b.size(), "", "", static_cast<std::uint32_t>(b.size() + 1));
    b.AddField(ParameterId::kPh, 7);
  }
  WriteResult r = SubmitForResult(*p, b);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.refused, 2u);  // s1 twice is one sensor
  EXPECT_EQ(r.refused_by_limit[static_cast<int>(Limit::kSensors)], 2u);
  EXPECT_EQ(r.refusals[0].sensor, "s4");
  EXPECT_EQ(p->SensorCount(), 3u);
  // Known sensors still write.
  EXPECT_EQ(SubmitForResult(*p, Series("s2", kT0 + 100, 1, 3)).refused, 0u);
}

TEST(Admission, LimitsDistinctLabelValues) {
  Fixture f;
  f.options.limits.max_label_values = 3;  // sites, zones and custom field names together
  auto p = f.Open();
  ReadingBatch b;
  auto add = [&](const char* sensor, const char* site, const char* zone) {
    b.BeginReading(sensor, kT0 + b.size(), site, zone, static_cast<std::uint32_t>(b.size() + 1));
    b.AddField(ParameterId::kPh, 7);
  };
  add("s1", "plant-a", "zone-1");
  add("s2", "plant-a", "zone-1");  // nothing new
  add("s3", "plant-b", "");        // the third value
  add("s4", "plant-c", "zone-1");  // a fourth: refused
  add("s5", "plant-b", "zone-1");  // known values: fine
  WriteResult r = SubmitForResult(*p, b);
  ASSERT_TRUE(r.status.ok());
  ASSERT_EQ(r.refused, 1u);
  EXPECT_EQ(r.refusals[0].sensor, "s4");
  EXPECT_EQ(r.refusals[0].limit, Limit::kLabelValues);
  EXPECT_FALSE(p->Latest("s4").has_value());
  EXPECT_EQ(p->Latest("s5")->site, "plant-b");
}

TEST(Admission, TooLateReadingsAreRefusedWithTheirLine) {
  Fixture f;
  auto p = f.Open();
  ASSERT_TRUE(SubmitForResult(*p, Series("s", kT0, kMs, 1)).status.ok());
  ReadingBatch b = Series("s", kT0 - 2 * 3'600'000'000'000LL, kMs, 2);  // two hours back
  b.BeginReading("s", kT0 + 1, "", "", 3);
  b.AddField(ParameterId::kPh, 7.5);
  WriteResult r = SubmitForResult(*p, b);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.refused, 2u);
  EXPECT_EQ(r.refusals[0].line, 1u);
  EXPECT_EQ(r.refusals[0].limit, Limit::kLateWindow);
  EXPECT_NE(r.refusals[0].reason.find("store.late_window"), std::string::npos);
  EXPECT_EQ(p->Latest("s")->last_time_ns, kT0 + 1);
}

// The reading that made a version 1 log unreadable (65,537 fields) is stored and replays.
TEST(Admission, AReadingWithManyFieldsSurvivesARestart) {
  Fixture f;
  f.options.store.checkpoint_on_stop = false;
  ReadingBatch b;
  b.BeginReading("wide", kT0, "", "", 1);
  for (int i = 0; i < 65'537; ++i) b.AddField(ParameterId::kPh, 7.0 + (i % 10) * 0.01);
  {
    auto p = f.Open();
    ASSERT_TRUE(SubmitForResult(*p, b).status.ok());
  }
  auto p = f.Open();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->recovery().readings, 1u);
  EXPECT_EQ(p->Latest("wide")->readings, 1u);
}

}  // namespace
}  // namespace aquawatch
