// The background sync: Syncer's one-job-at-a-time hand-off, ShardLog's sync in three steps
// (concurrent with appends and segment rolls), and a shard that goes on while a sync hangs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "alert/alert_manager.h"
#include "pipeline/group_commit.h"
#include "pipeline/pipeline.h"
#include "pipeline/shard_log.h"
#include "testing/fault_env.h"
#include "testing/readings.h"
#include "testing/sim_env.h"
#include "testing/submit.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

using namespace std::chrono_literals;

TEST(Syncer, RunsOneJobAtATimeAndWakesItsOwner) {
  std::atomic<int> wakes{0};
  Syncer syncer([&] { ++wakes; });
  EXPECT_FALSE(syncer.busy());
  std::promise<void> release;
  std::shared_future<void> go = release.get_future().share();
  int ran = 0;
  syncer.Submit([&, go] {
    go.wait();
    ++ran;
  });
  EXPECT_TRUE(syncer.busy());
  std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(syncer.done());  // still waiting for `go`
  release.set_value();
  syncer.Wait();
  EXPECT_TRUE(syncer.done());
  EXPECT_EQ(ran, 1);  // the job's effects are visible once done
  for (int i = 0; i < 1000 && wakes.load() == 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(wakes.load(), 1);
  syncer.Collect();
  EXPECT_FALSE(syncer.busy());
  syncer.Submit([&] { ++ran; });
  // Destroying it lets the job in flight finish.
}

TEST(Syncer, DestructionFinishesTheJobInFlight) {
  int ran = 0;
  {
    Syncer syncer([] {});
    syncer.Submit([&] {
      std::this_thread::sleep_for(10ms);
      ran = 1;
    });
  }
  EXPECT_EQ(ran, 1);
}

std::string Record(int i) { return "record-" + std::to_string(i); }

std::size_t Replayed(Env& env, const std::string& dir) {
  std::size_t records = 0;
  ShardLogRecovery stats;
  auto log = ShardLog::Open(
      env, dir, {}, 0,
      [&](std::string_view, LogFormat) {
        ++records;
        return Status::Ok();
      },
      &stats);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return records;
}

TEST(ShardLogSync, APreparedSyncCoversWhatCameBeforeItAndAppendsGoOnMeanwhile) {
  testing::SimEnv env;
  ShardLogRecovery stats;
  auto log = ShardLog::Open(
      env, "/log", {}, 0, [](std::string_view, LogFormat) { return Status::Ok(); }, &stats);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Record(i)).ok());
  const ShardLog::SyncPoint point = (*log)->PrepareSync();
  // Another thread syncs while this one appends.
  std::thread syncer([&] { EXPECT_TRUE((*log)->SyncPrepared(point).ok()); });
  for (int i = 3; i < 200; ++i) ASSERT_TRUE((*log)->Append(Record(i)).ok());
  syncer.join();
  (*log)->MarkSynced(point);
  log->reset();
  env.Crash(7);  // everything not known durable may go
  const std::size_t kept = Replayed(env, "/log");
  EXPECT_GE(kept, 3u);
  EXPECT_LE(kept, 200u);
}

TEST(ShardLogSync, ASegmentClosedSinceCountsAsSynced) {
  testing::SimEnv env;
  ShardLogOptions options;
  options.segment_bytes = 64;  // every few records roll the segment
  ShardLogRecovery stats;
  auto log = ShardLog::Open(
      env, "/log", options, 0, [](std::string_view, LogFormat) { return Status::Ok(); }, &stats);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Record(0)).ok());
  const ShardLog::SyncPoint point = (*log)->PrepareSync();
  for (int i = 1; i < 20; ++i) ASSERT_TRUE((*log)->Append(Record(i)).ok());  // rolls, syncing
  EXPECT_TRUE((*log)->SyncPrepared(point).ok());
  (*log)->MarkSynced(point);
  log->reset();
  env.Crash(7);
  EXPECT_GE(Replayed(env, "/log"), 1u);
}

TEST(ShardLogSync, AFailedSyncFailsEveryLaterSyncOfItsSegment) {
  testing::TempDir dir;
  testing::FaultEnv env;
  ShardLogRecovery stats;
  auto log = ShardLog::Open(
      env, dir.path(), {}, 0, [](std::string_view, LogFormat) { return Status::Ok(); }, &stats);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Record(0)).ok());
  env.FailSyncs(true);
  EXPECT_FALSE((*log)->SyncPrepared((*log)->PrepareSync()).ok());
  env.FailSyncs(false);
  // The disk answers again, but what the failed fdatasync covered is not known durable.
  EXPECT_FALSE((*log)->SyncPrepared((*log)->PrepareSync()).ok());
  EXPECT_FALSE((*log)->Sync().ok());
  // Cutting back to what was durable and going on in a new segment clears it.
  ASSERT_TRUE((*log)->DiscardUnsynced().ok());
  ASSERT_TRUE((*log)->Append(Record(1)).ok());
  EXPECT_TRUE((*log)->Sync().ok());
}

ReadingBatch One(const std::string& sensor, std::int64_t t, double chlorine) {
  return testing::ChlorineReading(sensor, t, chlorine);
}

TEST(GroupCommit, AHangingSyncDoesNotStopDetection) {
  testing::TempDir dir;
  testing::FaultEnv env;
  MetricsRegistry metrics;
  AlertManager alerts;
  PipelineOptions options;
  options.data_dir = dir.path();
  options.shards = 1;
  options.partitions = 1;
  auto p = Pipeline::Open(env, SystemClock(), metrics, alerts, options);
  ASSERT_TRUE(p.ok());
  // The first write opens the log's segment (synced on the shard thread, as a roll is).
  ASSERT_TRUE(testing::SubmitAndWait(**p, One("warm-up", 1, 0.8)).ok());
  const int syncs = env.syncs();
  env.Hold();  // every fdatasync hangs until Release
  std::promise<WriteResult> first, second;
  ASSERT_TRUE(
      (*p)->Submit(One("a", 1, 0.8), [&](const WriteResult& r) { first.set_value(r); }).ok());
  for (int i = 0; i < 5000 && env.syncs() == syncs; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_GT(env.syncs(), syncs);
  // While that sync hangs, the shard thread still applies a critical reading and raises its
  // alert; the reading is acknowledged only after a sync of its own.
  ASSERT_TRUE(
      (*p)->Submit(One("b", 1, 0.05), [&](const WriteResult& r) { second.set_value(r); }).ok());
  for (int i = 0; i < 5000 && alerts.OpenCount() == 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(alerts.OpenCount(), 1u);
  auto second_result = second.get_future();
  EXPECT_EQ(second_result.wait_for(20ms), std::future_status::timeout);
  env.Release();
  EXPECT_TRUE(first.get_future().get().status.ok());
  EXPECT_TRUE(second_result.get().status.ok());
  EXPECT_EQ((*p)->Latest("b")->readings, 1u);
}

}  // namespace
}  // namespace aquawatch
