// The urgent lane end to end (a critical reading overtakes a full queue, each sensor's readings
// keep their order), and its two parts: UrgentScreen and ShardInbox.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "alert/alert_manager.h"
#include "pipeline/pipeline.h"
#include "pipeline/shard_inbox.h"
#include "pipeline/urgent_screen.h"
#include "testing/fault_env.h"
#include "testing/readings.h"
#include "testing/submit.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

using namespace std::chrono_literals;

constexpr double kNormalChlorine = 0.8;
constexpr double kWarnChlorine = 0.25;      // warn_low 0.3 > 0.25 > critical_low 0.2
constexpr double kCriticalChlorine = 0.05;  // below critical_low

ReadingBatch One(const std::string& sensor, std::int64_t t, double chlorine) {
  return testing::ChlorineReading(sensor, t, chlorine);
}

// One shard whose first log write is held, so that batches pile up behind it in the normal lane.
struct HeldShard {
  testing::TempDir dir;
  MetricsRegistry metrics;
  AlertManager alerts;
  testing::FaultEnv env;
  std::unique_ptr<Pipeline> pipeline;
  std::vector<std::future<WriteResult>> results;

  explicit HeldShard(std::size_t max_queued_readings) {
    PipelineOptions options;
    options.data_dir = dir.path();
    options.shards = 1;
    options.partitions = 1;
    options.max_queued_readings = max_queued_readings;
    options.station_model = nullptr;  // thresholds alone: the alerts below are theirs
    auto p = Pipeline::Open(env, SystemClock(), metrics, alerts, options);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    pipeline = std::move(p).value();
  }

  // Submits `b`, keeping its result for Wait(); false when the pipeline refused it.
  bool Submit(const ReadingBatch& b) {
    auto done = std::make_shared<std::promise<WriteResult>>();
    results.push_back(done->get_future());
    Status s = pipeline->Submit(b, [done](const WriteResult& r) { done->set_value(r); });
    if (!s.ok()) results.pop_back();
    return s.ok();
  }

  // Holds the log's writes and submits `first`, then waits until the shard thread is stuck in
  // the log write of the group holding it.
  void HoldBehind(const ReadingBatch& first) {
    env.HoldWrites(".log");
    ASSERT_TRUE(Submit(first));
    for (int i = 0; i < 5000 && env.held_writes() == 0; ++i) std::this_thread::sleep_for(1ms);
    ASSERT_GT(env.held_writes(), 0);
  }

  void ReleaseAndWait() {
    env.ReleaseWrites();
    for (auto& r : results) EXPECT_TRUE(r.get().status.ok());
  }

  // Sensors in the order their alerts opened.
  std::vector<std::string> AlertOrder() {
    std::vector<Alert> all = alerts.List(AlertManager::Filter::kAll, 1000);
    std::sort(all.begin(), all.end(), [](const Alert& a, const Alert& b) { return a.id < b.id; });
    std::vector<std::string> order;
    for (const Alert& a : all) order.push_back(a.sensor);
    return order;
  }
};

std::string Warn(int i) { return "warn-" + std::to_string(i); }

TEST(UrgentLane, ACriticalReadingOvertakesAFullQueue) {
  constexpr int kQueued = 20;
  HeldShard shard(kQueued + 1);
  shard.HoldBehind(One(Warn(0), 1, kWarnChlorine));
  for (int i = 1; i <= kQueued; ++i) ASSERT_TRUE(shard.Submit(One(Warn(i), 1, kWarnChlorine)));
  // The normal lane is full: a plain batch is refused...
  EXPECT_FALSE(shard.Submit(One("plain", 1, kNormalChlorine)));
  // ...and the critical one is still taken.
  ASSERT_TRUE(shard.Submit(One("critical", 1, kCriticalChlorine)));
  shard.ReleaseAndWait();

  // It was applied as soon as the held write returned, before the 20 batches queued ahead of
  // it.
  std::vector<std::string> expected = {Warn(0), "critical"};
  for (int i = 1; i <= kQueued; ++i) expected.push_back(Warn(i));
  EXPECT_EQ(shard.AlertOrder(), expected);
  auto alert = shard.alerts.List(AlertManager::Filter::kOpen, 1, "critical");
  ASSERT_EQ(alert.size(), 1u);
  EXPECT_EQ(alert[0].level, Level::kCriticalLow);
}

TEST(UrgentLane, EachSensorsReadingsKeepTheirOrder) {
  constexpr int kQueued = 10;
  HeldShard shard(100);
  shard.HoldBehind(One(Warn(0), 1, kWarnChlorine));
  for (int i = 1; i <= kQueued; ++i) {
    ReadingBatch b = One(Warn(i), 1, kWarnChlorine);
    // Batch 5 also holds an earlier, normal reading of the sensor that turns critical below.
    if (i == 5) {
      b.BeginReading("probe", 10, "site-1", "zone-1");
      b.AddField(ParameterId::kFreeChlorineMgL, kNormalChlorine);
    }
    ASSERT_TRUE(shard.Submit(b));
  }
  // Critical at t=20, in one batch with a reading of another sensor that stays normal.
  ReadingBatch critical = One("probe", 20, kCriticalChlorine);
  critical.BeginReading("bystander", 20, "site-1", "zone-1");
  critical.AddField(ParameterId::kFreeChlorineMgL, kNormalChlorine);
  ASSERT_TRUE(shard.Submit(critical));
  // Back to normal at t=30, queued after it.
  ASSERT_TRUE(shard.Submit(One("probe", 30, kNormalChlorine)));
  shard.ReleaseAndWait();

  // The critical reading waited for the probe's earlier one (in batch 5), not for the rest.
  std::vector<std::string> expected;
  for (int i = 0; i <= kQueued; ++i) {
    expected.push_back(Warn(i));
    if (i == 5) expected.push_back("probe");
  }
  EXPECT_EQ(shard.AlertOrder(), expected);
  // And the reading after it was applied after it: the alert opened, then resolved.
  auto alerts = shard.alerts.List(AlertManager::Filter::kAll, 10, "probe");
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_TRUE(alerts[0].resolved());
  auto latest = shard.pipeline->Latest("probe");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->last_time_ns, 30);
  EXPECT_EQ(latest->readings, 3u);
  EXPECT_EQ(shard.pipeline->Latest("bystander")->readings, 1u);
}

TEST(UrgentLane, UrgentReadingsSurviveARestartInTheirOrder) {
  testing::TempDir dir;
  PipelineOptions options;
  options.data_dir = dir.path();
  options.shards = 1;
  options.partitions = 1;
  options.station_model = nullptr;
  options.store.checkpoint_on_stop = false;  // the restart replays the log
  {
    MetricsRegistry metrics;
    AlertManager alerts;
    auto p = Pipeline::Open(DefaultEnv(), SystemClock(), metrics, alerts, options);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(testing::SubmitAndWait(**p, One("probe", 10, kNormalChlorine)).ok());
    ASSERT_TRUE(testing::SubmitAndWait(**p, One("probe", 20, kCriticalChlorine)).ok());
    (*p)->Stop();
  }
  MetricsRegistry metrics;
  AlertManager alerts;
  auto p = Pipeline::Open(DefaultEnv(), SystemClock(), metrics, alerts, options);
  ASSERT_TRUE(p.ok());
  auto latest = (*p)->Latest("probe");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->readings, 2u);
  EXPECT_EQ(latest->last_time_ns, 20);
  EXPECT_EQ(alerts.OpenCount(), 1u);
}

TEST(UrgentScreen, FlagsValuesPastTheirSensorsCriticalLimits) {
  ProfileRules rules = DefaultProfileRules();
  auto urgent = [](const UrgentScreen& screen, std::string_view sensor, double chlorine,
                   std::size_t profile, int* lookups) {
    ReadingBatch b;
    b.BeginReading(sensor, 1);
    b.AddField(ParameterId::kTemperatureC, 40);  // no rule
    b.AddField(ParameterId::kFreeChlorineMgL, chlorine);
    return screen.IsUrgent(b, 0, [&](std::string_view) {
      ++*lookups;
      return profile;
    });
  };
  const std::size_t fallback = DefaultSiteProfileIndex();
  const std::size_t wastewater = *SiteProfileIndex("wastewater_effluent");
  int lookups = 0;
  UrgentScreen screen(rules, 0);
  EXPECT_TRUE(urgent(screen, "a", 0.1, fallback, &lookups));
  EXPECT_TRUE(urgent(screen, "a", 4.5, fallback, &lookups));
  EXPECT_FALSE(urgent(screen, "a", 0.8, fallback, &lookups));
  EXPECT_FALSE(urgent(screen, "a", std::nan(""), fallback, &lookups));
  EXPECT_EQ(lookups, 0);  // only the default profile in use: no profile lookups

  // Effluent's residual chlorine is critical above 0.019 mg/L: with such sensors in use, a
  // value between that and the default's limits asks for the sensor's profile.
  screen.Update(rules, std::uint64_t{1} << wastewater);
  EXPECT_TRUE(urgent(screen, "effluent", 0.5, wastewater, &lookups));
  EXPECT_EQ(lookups, 1);
  EXPECT_FALSE(urgent(screen, "tap", 0.5, fallback, &lookups));
  EXPECT_EQ(lookups, 2);
  // Past the default's limits a reading is urgent without a lookup (for an effluent sensor
  // that costs it only its place in the normal lane).
  EXPECT_TRUE(urgent(screen, "effluent", 0.01, wastewater, &lookups));
  EXPECT_EQ(lookups, 2);
  // Within every profile's limits: no lookup either.
  ReadingBatch ph;
  ph.BeginReading("effluent", 1);
  ph.AddField(ParameterId::kPh, 7.0);
  EXPECT_FALSE(screen.IsUrgent(ph, 0, [&](std::string_view) {
    ++lookups;
    return wastewater;
  }));
  EXPECT_EQ(lookups, 2);

  // A changed rule moves the screen with it.
  rules.For(fallback).For(ParameterId::kFreeChlorineMgL).critical_low = 1.0;
  screen.Update(rules, 0);
  EXPECT_TRUE(urgent(screen, "a", 0.8, fallback, &lookups));
}

TEST(ShardInbox, BatchesWithAnAlertMayUseTheHeadroom) {
  ShardInboxLimits limits;
  limits.max_readings = 8;
  limits.urgent_readings = 2;
  ShardInbox inbox(limits);
  EXPECT_TRUE(inbox.Reserve(Lane::kNormal, 8, false));
  EXPECT_FALSE(inbox.Reserve(Lane::kNormal, 1, false));
  EXPECT_TRUE(inbox.Reserve(Lane::kNormal, 2, true));  // a quarter more: 10
  EXPECT_FALSE(inbox.Reserve(Lane::kNormal, 1, true));
  EXPECT_TRUE(inbox.Reserve(Lane::kUrgent, 2, true));
  EXPECT_FALSE(inbox.Reserve(Lane::kUrgent, 1, true));
  EXPECT_EQ(inbox.QueuedReadings(), 12u);
  inbox.Release(Lane::kNormal, 8);
  EXPECT_TRUE(inbox.Reserve(Lane::kNormal, 1, false));
}

TEST(ShardInbox, WaitingPartsAreSeenInOrderWithTheirPositions) {
  ShardInbox inbox(ShardInboxLimits{});
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(inbox.Reserve(Lane::kNormal, 1, false));
    auto* w = new ShardWork;
    w->batch = One("s" + std::to_string(i), 1, kNormalChlorine);
    w->reserved = 1;
    inbox.Push(w);
  }
  EXPECT_EQ(inbox.normal_tail(), 5u);
  ShardWork* first = inbox.PopNormal();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->position, 0u);
  std::vector<std::pair<std::string, std::uint64_t>> seen;
  inbox.ForEachWaiting(4, [&](const ShardWork& w, std::uint64_t position) {
    seen.emplace_back(std::string(w.batch.sensor(0)), position);
  });
  EXPECT_EQ(seen,
            (std::vector<std::pair<std::string, std::uint64_t>>{{"s1", 1}, {"s2", 2}, {"s3", 3}}));
  delete first;
  for (ShardWork* w = inbox.PopNormal(); w != nullptr; w = inbox.PopNormal()) delete w;
  EXPECT_TRUE(inbox.Empty());
}

}  // namespace
}  // namespace aquawatch
