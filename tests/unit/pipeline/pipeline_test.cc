#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <optional>
#include <random>
#include <thread>

#include "alert/alert_manager.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/pipeline.h"
#include "testing/fault_env.h"
#include "testing/submit.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

using namespace std::chrono_literals;

ReadingBatch Readings(const std::vector<std::tuple<std::string, std::int64_t, double>>& rows) {
  ReadingBatch b;
  for (const auto& [sensor, t, chlorine] : rows) {
    b.BeginReading(sensor, t, "site-1", "zone-1");
    b.AddField(ParameterId::kFreeChlorineMgL, chlorine);
    b.AddField(ParameterId::kPh, 7.2);
  }
  b.arrival_ns = 1;
  return b;
}

using testing::SubmitAndWait;

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  AlertManager alerts;
  PipelineOptions options;
  Fixture() { options.data_dir = dir.path(); }
  std::unique_ptr<Pipeline> Open(Env& env = DefaultEnv()) {
    auto p = Pipeline::Open(env, SystemClock(), metrics, alerts, options);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }
};

TEST(Pipeline, AcknowledgesDurableReadingsAndServesLatest) {
  Fixture f;
  auto p = f.Open();
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 10, 0.8}, {"b", 10, 0.9}, {"a", 20, 0.7}})).ok());
  auto a = p->Latest("a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->last_time_ns, 20);
  EXPECT_EQ(a->readings, 2u);
  EXPECT_EQ(a->site, "site-1");
  ASSERT_FALSE(a->values.empty());
  EXPECT_EQ(p->SensorCount(), 2u);
  auto list = p->ListSensors("", 10);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "a");
  EXPECT_EQ(list[1].id, "b");
  EXPECT_EQ(p->ListSensors("a", 10).size(), 1u);
  EXPECT_FALSE(p->Latest("missing").has_value());
}

TEST(Pipeline, LateAndDuplicateReadingsDoNotMoveLatestOrRepeatAlerts) {
  Fixture f;
  auto p = f.Open();
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 100, 0.1}})).ok());
  ASSERT_EQ(f.alerts.OpenCount(), 1u);
  // The same reading again, and an older one.
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 100, 0.1}, {"a", 50, 0.9}})).ok());
  auto a = p->Latest("a");
  EXPECT_EQ(a->last_time_ns, 100);
  EXPECT_EQ(f.alerts.List(AlertManager::Filter::kAll, 10).size(), 1u);
}

TEST(Pipeline, CriticalValueOpensAlertAndRecoveryResolvesIt) {
  Fixture f;
  auto p = f.Open();
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"s1", 1, 0.8}, {"s1", 2, 0.05}})).ok());
  auto open = f.alerts.List(AlertManager::Filter::kOpen, 10);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].parameter, "free_chlorine_mg_l");
  EXPECT_EQ(open[0].level, Level::kCriticalLow);
  EXPECT_EQ(open[0].zone, "zone-1");
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"s1", 3, 0.8}})).ok());
  EXPECT_EQ(f.alerts.OpenCount(), 0u);
}

TEST(Pipeline, RestartReplaysTheLogIntoLatestValuesAndAlerts) {
  Fixture f;
  f.options.store.checkpoint_on_stop = false;  // replay the whole log, as after a crash
  {
    auto p = f.Open();
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(
          SubmitAndWait(*p, Readings({{"s" + std::to_string(i % 7), i, 0.8}, {"bad", i, 0.05}}))
              .ok());
    }
    p->Stop();
  }
  AlertManager fresh;
  MetricsRegistry metrics;
  auto p = Pipeline::Open(DefaultEnv(), SystemClock(), metrics, fresh, f.options);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->recovery().readings, 100u);
  EXPECT_EQ((*p)->SensorCount(), 8u);
  EXPECT_EQ((*p)->Latest("s6")->last_time_ns, 48);
  EXPECT_EQ((*p)->Latest("bad")->readings, 50u);
  EXPECT_EQ(fresh.OpenCount(), 1u);  // the alert state is rebuilt, once
}

TEST(Pipeline, RefusesADifferentShardLayoutForExistingData) {
  Fixture f;
  { auto p = f.Open(); }
  f.options.shards = 3;
  auto p = Pipeline::Open(DefaultEnv(), SystemClock(), f.metrics, f.alerts, f.options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("shards"), std::string::npos);
}

TEST(Pipeline, ADataDirectoryFromBeforeStaggeredWindowsKeepsItsLayout) {
  Fixture f;
  auto layout = [&] {
    std::ifstream in(f.dir.path() + "/LAYOUT");
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  {
    auto p = f.Open();
    ASSERT_NE(p, nullptr);
  }
  EXPECT_EQ(layout(), "partitions=64 shards=2 windows=staggered\n");
  // A directory written before windows were staggered: aligned windows, and it stays so.
  std::ofstream(f.dir.path() + "/LAYOUT", std::ios::trunc) << "partitions=64 shards=2\n";
  {
    auto p = f.Open();
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 1, 0.8}})).ok());
  }
  EXPECT_EQ(layout(), "partitions=64 shards=2\n");
}

TEST(Pipeline, FullQueueRefusesWholeBatchesUntilDrained) {
  Fixture f;
  f.options.shards = 1;
  f.options.partitions = 1;
  f.options.max_queued_readings = 4;
  testing::FaultEnv env;
  auto p = f.Open(env);
  const int syncs_before = env.syncs();
  env.Hold();  // the shard thread will block in its first sync
  std::promise<Status> first, second;
  ASSERT_TRUE(p->Submit(Readings({{"a", 1, 0.8}, {"a", 2, 0.8}}), [&](const WriteResult& r) {
                 first.set_value(r.status);
               }).ok());
  // Wait until the shard is inside Sync with the first batch.
  for (int i = 0; i < 1000 && env.syncs() == syncs_before; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_GT(env.syncs(), syncs_before);
  ASSERT_TRUE(p->Submit(Readings({{"a", 3, 0.8}, {"a", 4, 0.8}}), [&](const WriteResult& r) {
                 second.set_value(r.status);
               }).ok());
  Status refused = p->Submit(Readings({{"a", 5, 0.8}}), [](const WriteResult&) { FAIL(); });
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  env.Release();
  EXPECT_TRUE(first.get_future().get().ok());
  EXPECT_TRUE(second.get_future().get().ok());
  EXPECT_TRUE(SubmitAndWait(*p, Readings({{"a", 5, 0.8}})).ok());
  EXPECT_EQ(p->Latest("a")->readings, 5u);
}

TEST(Pipeline, FailedSyncStopsAcknowledging) {
  Fixture f;
  testing::FaultEnv env;
  auto p = f.Open(env);
  env.FailSyncs(true);
  Status s = SubmitAndWait(*p, Readings({{"a", 1, 0.8}}));
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_FALSE(p->Healthy());
  env.FailSyncs(false);
  Status after = p->Submit(Readings({{"a", 2, 0.8}}), [](const WriteResult&) {});
  EXPECT_EQ(after.code(), StatusCode::kUnavailable);
}

TEST(Pipeline, RoutingIsStableAndSpreadsSensors) {
  EXPECT_EQ(ShardFor("sensor-1", 64, 2), ShardFor("sensor-1", 64, 2));
  int counts[4] = {};
  for (int i = 0; i < 4000; ++i) ++counts[ShardFor("s" + std::to_string(i), 64, 4)];
  for (int c : counts) EXPECT_GT(c, 700);
}

TEST(BoundedQueue, DeliversEveryItemOnceUnderConcurrentProducers) {
  BoundedQueue<int> q(1024);
  constexpr int kPerProducer = 20000;
  std::vector<int> items(4 * kPerProducer);
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerProducer; ++i) {
        int* item = &items[t * kPerProducer + i];
        while (!q.TryPush(item)) std::this_thread::yield();
      }
    });
  }
  std::vector<int> seen(items.size(), 0);
  std::size_t got = 0;
  while (got < items.size()) {
    int* item = q.TryPop();
    if (item == nullptr) continue;
    ++seen[item - items.data()];
    ++got;
  }
  for (auto& t : producers) t.join();
  for (int s : seen) ASSERT_EQ(s, 1);
  EXPECT_EQ(q.TryPop(), nullptr);
}

TEST(BoundedQueue, FullQueueRefusesPush) {
  BoundedQueue<int> q(2);
  int a = 1, b = 2, c = 3;
  EXPECT_TRUE(q.TryPush(&a));
  EXPECT_TRUE(q.TryPush(&b));
  EXPECT_FALSE(q.TryPush(&c));
  EXPECT_EQ(q.TryPop(), &a);
  EXPECT_TRUE(q.TryPush(&c));
}

}  // namespace
}  // namespace aquawatch

namespace aquawatch {
namespace {

// One reading of a treated-water probe with quantised noise.
void AddProbeReading(ReadingBatch& b, std::string_view sensor, std::int64_t t, std::mt19937& rng,
                     double chlorine, double turbidity, double ph = 7.3) {
  std::normal_distribution<double> n(0, 1);
  auto q = [](double v, double res) { return std::round(v / res) * res; };
  b.BeginReading(sensor, t, "site-1", "zone-1");
  b.AddField(ParameterId::kPh, q(ph + 0.01 * n(rng), 0.01));
  b.AddField(ParameterId::kFreeChlorineMgL, q(chlorine + 0.01 * n(rng), 0.01));
  b.AddField(ParameterId::kTurbidityNtu, q(turbidity + 0.005 * n(rng), 0.01));
  b.AddField(ParameterId::kConductivityUsCm, q(450 + 2 * n(rng), 1));
}

// A pipeline with the threshold rules off: only the detection engine speaks.
std::unique_ptr<Pipeline> OpenWithoutRules(Fixture& f) {
  f.options.rules = ProfileRules{};
  return f.Open();
}

TEST(PipelineRules, MinimumDurationHoldsACrossingBackAndClearingIsImmediate) {
  Fixture f;
  f.options.station_model = nullptr;  // thresholds only
  constexpr std::int64_t kS = 1'000'000'000;
  f.options.rules.For(DefaultSiteProfileIndex()).For(ParameterId::kFreeChlorineMgL).min_duration_s =
      30;
  auto p = f.Open();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", i * 10 * kS, 0.1}})).ok());
  }
  EXPECT_EQ(f.alerts.OpenCount(), 0u) << "below the limit for 20 s of a 30 s minimum";
  // Back inside and out again: the clock starts over.
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 25 * kS, 0.8}, {"a", 30 * kS, 0.1}})).ok());
  EXPECT_EQ(f.alerts.OpenCount(), 0u);
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 60 * kS, 0.1}})).ok());
  auto open = f.alerts.List(AlertManager::Filter::kOpen, 10);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].level, Level::kCriticalLow);
  EXPECT_EQ(open[0].opened_ns, 60 * kS);
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 61 * kS, 0.8}})).ok());
  EXPECT_EQ(f.alerts.OpenCount(), 0u) << "clearing does not wait";
}

TEST(PipelineRules, SensorProfileAndEditedRulesApplyFromTheNextReading) {
  Fixture f;
  f.options.station_model = nullptr;
  auto p = f.Open();
  // Treated drinking water: 0.1 mg/L chlorine is critically low.
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 1, 0.1}, {"b", 1, 0.1}})).ok());
  EXPECT_EQ(f.alerts.OpenCount(), 2u);
  // Wastewater effluent has no low chlorine limit, and a high one of 0.019 mg/L held 5 minutes.
  const std::size_t effluent = *SiteProfileIndex("wastewater_effluent");
  p->SetSensorProfile("a", effluent);
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 2, 0.5}})).ok());
  auto a = f.alerts.List(AlertManager::Filter::kOpen, 10, "a");
  EXPECT_TRUE(a.empty()) << "the low alert cleared and the high one waits for its minimum";
  // An edit through the API's path: no wait any more on effluent chlorine.
  ProfileRules rules = p->profile_rules();
  rules.For(effluent).For(ParameterId::kFreeChlorineMgL).min_duration_s = 0;
  p->SetProfileRules(rules);
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 3, 0.5}})).ok());
  a = f.alerts.List(AlertManager::Filter::kOpen, 10, "a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].level, Level::kCriticalHigh);
  EXPECT_DOUBLE_EQ(a[0].threshold, 0.019);
  EXPECT_EQ(f.alerts.List(AlertManager::Filter::kOpen, 10, "b").size(), 1u) << "b unchanged";
}

TEST(PipelineRules, SensorProfilesGivenAtOpenApplyDuringRecoveryToo) {
  Fixture f;
  f.options.station_model = nullptr;
  f.options.sensor_profiles = {{"a", *SiteProfileIndex("wastewater_effluent")}};
  auto p = f.Open();
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 1, 0.1}, {"b", 1, 0.1}})).ok());
  EXPECT_TRUE(f.alerts.List(AlertManager::Filter::kOpen, 10, "a").empty());
  EXPECT_EQ(f.alerts.List(AlertManager::Filter::kOpen, 10, "b").size(), 1u);
}

TEST(PipelineDetection, ContaminationOpensAHighPriorityEventAndRecoveryResolvesIt) {
  Fixture f;
  auto p = OpenWithoutRules(f);
  std::mt19937 rng(11);
  ReadingBatch b;
  for (int i = 0; i < 300; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  EXPECT_EQ(f.alerts.OpenCount(), 0u);  // healthy noise raises nothing
  b.Clear();
  for (int i = 300; i < 310; ++i) AddProbeReading(b, "probe", i, rng, 0.35, 0.6);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  auto open = f.alerts.List(AlertManager::Filter::kOpen, 10);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].kind, "event");
  EXPECT_EQ(open[0].classification, "probable_contamination");
  EXPECT_EQ(open[0].priority, AlertPriority::kHigh);
  EXPECT_EQ(open[0].opened_ns, 301);  // the second outlier row convinces the discriminator
  EXPECT_NE(open[0].parameter.find("free_chlorine_mg_l"), std::string::npos);
  EXPECT_NE(open[0].message.find(" sd"), std::string::npos);
  b.Clear();
  for (int i = 310; i < 340; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  EXPECT_EQ(f.alerts.OpenCount(), 0u);
  auto resolved = f.alerts.List(AlertManager::Filter::kResolved, 10);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].resolved_ns, 319);  // after a window (10 rows) of normal water
}

TEST(PipelineDetection, OneParameterShiftIsADeviationNotContamination) {
  Fixture f;
  auto p = OpenWithoutRules(f);
  std::mt19937 rng(12);
  ReadingBatch b;
  for (int i = 0; i < 300; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12);
  for (int i = 300; i < 305; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12, 7.9);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  auto open = f.alerts.List(AlertManager::Filter::kOpen, 10);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].classification, "water_quality_deviation");
  EXPECT_EQ(open[0].parameter, "ph");
  EXPECT_EQ(open[0].priority, AlertPriority::kMedium);
}

TEST(PipelineDetection, ImpossibleValuesBecomeASensorFaultNotAnEvent) {
  Fixture f;
  auto p = OpenWithoutRules(f);
  std::mt19937 rng(13);
  ReadingBatch b;
  for (int i = 0; i < 100; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12);
  for (int i = 100; i < 103; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12, 15.0);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  auto open = f.alerts.List(AlertManager::Filter::kOpen, 10);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].kind, "sensor_fault");
  EXPECT_EQ(open[0].parameter, "ph");
  b.Clear();
  for (int i = 103; i < 106; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  EXPECT_EQ(f.alerts.OpenCount(), 0u);
}

}  // namespace
}  // namespace aquawatch

namespace aquawatch {
namespace {

TEST(PipelineDetection, StuckProbeIsAFlatLineFaultWithItsKind) {
  Fixture f;
  auto p = OpenWithoutRules(f);
  std::mt19937 rng(15);
  ReadingBatch b;
  for (int i = 0; i < 400; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  b.Clear();
  // Conductivity freezes at one value while the other parameters go on as before.
  std::normal_distribution<double> n(0, 1);
  for (int i = 400; i < 500; ++i) {
    b.BeginReading("probe", i, "site-1", "zone-1");
    b.AddField(ParameterId::kPh, std::round((7.3 + 0.01 * n(rng)) / 0.01) * 0.01);
    b.AddField(ParameterId::kFreeChlorineMgL, std::round((0.8 + 0.01 * n(rng)) / 0.01) * 0.01);
    b.AddField(ParameterId::kConductivityUsCm, 451);
  }
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  auto open = f.alerts.List(AlertManager::Filter::kOpen, 10);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].kind, "sensor_fault");
  EXPECT_EQ(open[0].classification, "flat_line");
  EXPECT_EQ(open[0].parameter, "conductivity_us_cm");
  EXPECT_EQ(open[0].priority, AlertPriority::kMedium);
}

TEST(PipelineDetection, SilentSensorGoesOfflineAndItsNextReadingClosesTheAlert) {
  Fixture f;
  f.options.rules = ProfileRules{};
  DetectorTuning tuning;
  tuning.offline_min_seconds = 0.3;
  tuning.warmup_samples = 20;
  f.options.station_model = CanonicalStationModel(tuning);
  auto p = f.Open();
  std::mt19937 rng(16);
  ReadingBatch b;
  constexpr std::int64_t kMs = 1'000'000;
  for (int i = 0; i < 50; ++i) AddProbeReading(b, "probe", i * 10 * kMs, rng, 0.8, 0.12);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  EXPECT_EQ(f.alerts.OpenCount(), 0u);
  // Usual interval 10 ms: offline after max(5 x 10 ms, 0.3 s); the sweep runs every 250 ms.
  std::optional<Alert> offline;
  for (int wait = 0; wait < 40 && !offline; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (const Alert& a : f.alerts.List(AlertManager::Filter::kOpen, 10)) {
      if (a.kind == "sensor_offline") offline = a;
    }
  }
  ASSERT_TRUE(offline);
  EXPECT_EQ(offline->sensor, "probe");
  EXPECT_EQ(offline->classification, "offline");
  EXPECT_EQ(offline->priority, AlertPriority::kMedium);
  b.Clear();
  AddProbeReading(b, "probe", 60 * 10 * kMs, rng, 0.8, 0.12);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  EXPECT_EQ(f.alerts.OpenCount(), 0u);
  auto resolved = f.alerts.List(AlertManager::Filter::kResolved, 10);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].kind, "sensor_offline");
}

TEST(PipelineDetection, AfterARestartSilenceCountsFromTheStart) {
  Fixture f;
  f.options.rules = ProfileRules{};
  DetectorTuning tuning;
  tuning.offline_min_seconds = 1.0;
  tuning.warmup_samples = 20;
  f.options.station_model = CanonicalStationModel(tuning);
  std::mt19937 rng(20);
  constexpr std::int64_t kMs = 1'000'000;
  {
    auto p = f.Open();
    ReadingBatch b;
    for (int i = 0; i < 50; ++i) AddProbeReading(b, "probe", i * 10 * kMs, rng, 0.8, 0.12);
    ASSERT_TRUE(SubmitAndWait(*p, b).ok());
    p->Stop();  // checkpointed with the sensor's last arrival
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // longer than the allowance
  AlertManager fresh;
  auto p = Pipeline::Open(DefaultEnv(), SystemClock(), f.metrics, fresh, f.options);
  ASSERT_TRUE(p.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(fresh.OpenCount(), 0u) << "the sensor has had half its allowance since the start";
  bool offline = false;
  for (int wait = 0; wait < 40 && !offline; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    offline = fresh.OpenCount() == 1;
  }
  EXPECT_TRUE(offline) << "still silent after a full allowance since the start";
}

TEST(PipelineDetection, DetectorStateSurvivesACheckpointRestart) {
  Fixture f;
  f.options.rules = ProfileRules{};
  std::mt19937 rng(17);
  {
    auto p = f.Open();
    ReadingBatch b;
    for (int i = 0; i < 300; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12);
    ASSERT_TRUE(SubmitAndWait(*p, b).ok());
    p->Stop();  // a clean stop writes a checkpoint with the warm baselines
  }
  auto p = f.Open();
  EXPECT_EQ(p->recovery().readings, 0u) << "restored from the checkpoint, not the log";
  ReadingBatch b;
  for (int i = 300; i < 302; ++i) AddProbeReading(b, "probe", i, rng, 0.35, 0.6);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  // A cold detector would need warmup_samples (60) rows before judging anything.
  auto open = f.alerts.List(AlertManager::Filter::kOpen, 10);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].classification, "probable_contamination");
  EXPECT_EQ(open[0].opened_ns, 301);
}

// pH and chlorine moving together (one shared noise term), as in water whose chlorine demand
// sets both; turbidity and conductivity independent. `against` > 0 moves them apart instead.
void AddCoupledReading(ReadingBatch& b, std::int64_t t, std::mt19937& rng, double against = 0) {
  std::normal_distribution<double> n(0, 1);
  auto q = [](double v, double res) { return std::round(v / res) * res; };
  const double shared = 0.05 * n(rng);
  b.BeginReading("probe", t, "site-1", "zone-1");
  b.AddField(ParameterId::kPh, q(7.3 + shared + against, 0.01));
  b.AddField(ParameterId::kFreeChlorineMgL, q(0.8 + shared - against, 0.01));
  b.AddField(ParameterId::kTurbidityNtu, q(0.12 + 0.005 * n(rng), 0.01));
  b.AddField(ParameterId::kConductivityUsCm, q(450 + 2 * n(rng), 1));
}

// pH up while chlorine goes down, each about 3 of its own scales (no outlier alone), raises an
// event only through the multivariate test, which must therefore run in the shard and keep its
// learnt covariance across a checkpoint restart (a fresh, identity covariance would not flag it).
TEST(PipelineDetection, MultivariateTestRunsInTheShardAndSurvivesARestart) {
  for (const double joint_p : {0.0, 1e-6}) {
    SCOPED_TRACE(joint_p);
    Fixture f;
    f.options.rules = ProfileRules{};
    DetectorTuning tuning;
    tuning.joint_p = joint_p;
    tuning.joint_alpha = 0.01;
    f.options.station_model = CanonicalStationModel(tuning);
    std::mt19937 rng(23);
    {
      auto p = f.Open();
      ReadingBatch b;
      for (int i = 0; i < 800; ++i) AddCoupledReading(b, i, rng);
      ASSERT_TRUE(SubmitAndWait(*p, b).ok());
      EXPECT_EQ(f.alerts.OpenCount(), 0u);
      p->Stop();
    }
    auto p = f.Open();
    ASSERT_EQ(p->recovery().readings, 0u) << "restored from the checkpoint";
    ReadingBatch b;
    for (int i = 800; i < 806; ++i) AddCoupledReading(b, i, rng, 0.12);
    ASSERT_TRUE(SubmitAndWait(*p, b).ok());
    auto open = f.alerts.List(AlertManager::Filter::kOpen, 10);
    if (joint_p == 0) {
      EXPECT_TRUE(open.empty()) << "no parameter is an outlier on its own";
    } else {
      ASSERT_EQ(open.size(), 1u);
      EXPECT_EQ(open[0].kind, "event");
      EXPECT_NE(open[0].parameter.find("ph"), std::string::npos);
      EXPECT_NE(open[0].parameter.find("free_chlorine_mg_l"), std::string::npos);
    }
  }
}

TEST(PipelineDetection, FaultOpeningOnTheRowAnEventClosesIsStillOpened) {
  Fixture f;
  f.options.rules = ProfileRules{};
  auto p = f.Open();
  std::mt19937 rng(14);
  ReadingBatch b;
  for (int i = 0; i < 300; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12);
  for (int i = 300; i < 310; ++i) AddProbeReading(b, "probe", i, rng, 0.35, 0.6);
  // Ten quiet rows close the event at row 319; rows 317-319 carry an impossible pH, so the
  // third fault row, 319, opens a sensor fault on the same row.
  for (int i = 310; i < 317; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12);
  for (int i = 317; i < 320; ++i) AddProbeReading(b, "probe", i, rng, 0.8, 0.12, 15.0);
  ASSERT_TRUE(SubmitAndWait(*p, b).ok());
  auto open = f.alerts.List(AlertManager::Filter::kOpen, 10);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].kind, "sensor_fault");
  EXPECT_EQ(open[0].opened_ns, 319);
  auto resolved = f.alerts.List(AlertManager::Filter::kResolved, 10);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].kind, "event");
  EXPECT_EQ(resolved[0].resolved_ns, 319);
}

}  // namespace
}  // namespace aquawatch

namespace aquawatch {
namespace {

TEST(Pipeline, SyncIntervalCoalescesSyncsAndStillAcknowledgesOnlyDurableReadings) {
  Fixture f;
  f.options.shards = 1;
  f.options.partitions = 1;
  f.options.log_sync_interval_ns = 50'000'000;  // 50 ms
  testing::FaultEnv env;
  {
    auto p = f.Open(env);
    const int syncs_before = env.syncs();
    std::vector<std::promise<Status>> done(20);
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(p->Submit(Readings({{"s", i, 0.8}}), [&done, i](const WriteResult& r) {
                     done[i].set_value(r.status);
                   }).ok());
      std::this_thread::sleep_for(1ms);
    }
    for (auto& d : done) EXPECT_TRUE(d.get_future().get().ok());
    // 20 batches over ~20 ms: a handful of syncs (the segment's own plus one per interval), far
    // fewer than one per batch.
    EXPECT_LE(env.syncs() - syncs_before, 4);
    p->Stop();
  }
  auto reopened = f.Open();
  EXPECT_EQ(reopened->Latest("s")->readings, 20u);
}

// Paging through more sensors than one slice of a shard's table (8,192 ids) on several shards:
// every sensor once, in id order.
TEST(Pipeline, ListingPagesThroughManySensorsInOrder) {
  Fixture f;
  f.options.station_model = nullptr;
  f.options.shards = 3;
  f.options.partitions = 12;
  auto p = f.Open();
  constexpr int kSensors = 20'000;
  for (int begin = 0; begin < kSensors; begin += 2'000) {
    std::vector<std::tuple<std::string, std::int64_t, double>> rows;
    for (int i = begin; i < begin + 2'000; ++i) rows.push_back({fmt::format("s{:05d}", i), 1, 0.8});
    ASSERT_TRUE(SubmitAndWait(*p, Readings(rows)).ok());
  }
  std::string after;
  int seen = 0;
  for (;;) {
    auto page = p->ListSensors(after, 1'500);
    if (page.empty()) break;
    for (const SensorSnapshot& s : page) {
      ASSERT_EQ(s.id, fmt::format("s{:05d}", seen)) << "after " << after;
      ++seen;
    }
    after = page.back().id;
  }
  EXPECT_EQ(seen, kSensors);
}

// Series that stay quiet for a whole maintenance interval have their open chunks sealed (the
// pass walks the table in slices), and what they hold is read back from the block store.
TEST(Pipeline, IdleSeriesAreSealedAndStayReadable) {
  Fixture f;
  f.options.station_model = nullptr;
  f.options.store.maintenance_interval_ns = 20'000'000;  // 20 ms
  for (auto& r : f.options.store.retention_ns) r = 0;    // the test's time is long past
  auto p = f.Open();
  std::vector<std::tuple<std::string, std::int64_t, double>> rows;
  constexpr std::int64_t kT = 1'780'000'000'000'000'000;  // 2026
  for (int i = 0; i < 3'000; ++i) rows.push_back({fmt::format("q{:04d}", i), kT, 0.8});
  ASSERT_TRUE(SubmitAndWait(*p, Readings(rows)).ok());
  auto sealed = [&] {
    const std::string text = f.metrics.RenderPrometheus();
    double total = 0;
    for (std::size_t at = 0;
         (at = text.find("aquawatch_store_chunks_sealed_total{", at)) != std::string::npos;) {
      at = text.find("} ", at) + 2;
      total += std::stod(text.substr(at));
    }
    return total;
  };
  for (int i = 0; i < 2'000 && sealed() < 6'000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(sealed(), 6'000);  // two parameters each
  std::vector<SeriesPoint> points;
  SeriesRead read;
  read.sensor = "q1234";
  read.parameter = "free_chlorine_mg_l";
  read.from_ns = kT - 1'000'000'000;
  read.to_ns = kT + 1'000'000'000;
  ASSERT_TRUE(p->ReadSeries(read, points).ok());
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].value, 0.8);
}

// Every shard loop iteration is timed on /metrics: the pauses a new batch may wait behind.
TEST(Pipeline, ShardLoopIterationsAreTimed) {
  Fixture f;
  auto p = f.Open();
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 10, 0.8}})).ok());
  const std::string text = f.metrics.RenderPrometheus();
  EXPECT_NE(text.find("aquawatch_shard_loop_seconds_bucket{shard=\"0\",le=\"0.01\"}"),
            std::string::npos);
  const std::string count = "aquawatch_shard_loop_seconds_count{shard=\"0\"} ";
  const std::size_t at = text.find(count);
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stod(text.substr(at + count.size())), 0);
  EXPECT_NE(text.find("aquawatch_shard_loop_max_seconds{shard=\"0\"}"), std::string::npos);
}

// What the engine holds is on /metrics by part, and grows with the sensors it knows.
TEST(Pipeline, MemoryIsAccountedByComponent) {
  Fixture f;
  f.options.shards = 1;
  f.options.partitions = 1;
  auto p = f.Open();
  auto gauge = [&](std::string_view component) {
    const std::string text = f.metrics.RenderPrometheus();
    const std::string key =
        fmt::format("aquawatch_memory_bytes{{component=\"{}\",shard=\"0\"}} ", component);
    const std::size_t at = text.find(key);
    EXPECT_NE(at, std::string::npos) << key;
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + key.size()));
  };
  ASSERT_TRUE(SubmitAndWait(*p, Readings({{"a", 10, 0.8}})).ok());
  const double head = gauge("head"), table = gauge("sensor_table");
  EXPECT_GT(head, 0);
  EXPECT_GT(table, 0);
  std::vector<std::tuple<std::string, std::int64_t, double>> more;
  for (int i = 0; i < 100; ++i) more.emplace_back("s" + std::to_string(i), 10, 0.8);
  ASSERT_TRUE(SubmitAndWait(*p, Readings(more)).ok());
  // At least a series struct and a sensor state for each new sensor.
  EXPECT_GE(gauge("head") - head, 100 * 64);
  EXPECT_GE(gauge("sensor_table") - table, 100 * 400);
  EXPECT_NE(
      f.metrics.RenderPrometheus().find("aquawatch_memory_bytes{component=\"store_memtables\"}"),
      std::string::npos);
}

// How many groups a shard commits for a batch whose log write is held and five queued behind it.
double GroupsFor(std::int64_t group_slice_ns) {
  Fixture f;
  f.options.shards = 1;
  f.options.partitions = 1;
  f.options.group_slice_ns = group_slice_ns;
  testing::FaultEnv env;
  auto p = f.Open(env);
  EXPECT_TRUE(SubmitAndWait(*p, Readings({{"warm-up", 1, 0.8}})).ok());  // opens the segment
  env.HoldWrites(".log");
  std::vector<std::future<WriteResult>> results;
  auto submit = [&](int i) {
    auto done = std::make_shared<std::promise<WriteResult>>();
    results.push_back(done->get_future());
    EXPECT_TRUE(
        p->Submit(Readings({{"s" + std::to_string(i), 10, 0.8}}), [done](const WriteResult& r) {
           done->set_value(r);
         }).ok());
  };
  submit(0);
  for (int i = 0; i < 5000 && env.held_writes() == 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_GT(env.held_writes(), 0);
  for (int i = 1; i < 6; ++i) submit(i);
  env.ReleaseWrites();
  for (auto& r : results) EXPECT_TRUE(r.get().status.ok());
  const std::string text = f.metrics.RenderPrometheus();
  const std::string count = "aquawatch_group_commit_readings_count{shard=\"0\"} ";
  const std::size_t at = text.find(count);
  EXPECT_NE(at, std::string::npos);
  return at == std::string::npos ? -1 : std::stod(text.substr(at + count.size())) - 1;
}

TEST(Pipeline, AGroupStopsTakingBatchesOnceItsSliceIsUsed) {
  // A whole second per group: the five queued behind the held one join its group.
  EXPECT_EQ(GroupsFor(1'000'000'000), 1);
  // No time at all: every batch is a group of its own, with the shard's slices between them.
  EXPECT_EQ(GroupsFor(0), 6);
}

}  // namespace
}  // namespace aquawatch
