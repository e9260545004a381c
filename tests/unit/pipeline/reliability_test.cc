// What the pipeline does when things go wrong around it: a Submit racing Stop, a checkpoint that
// cannot be written, a checkpoint or log record that cannot be read at start.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "alert/alert_manager.h"
#include "core/crc32c.h"
#include "pipeline/pipeline.h"
#include "testing/sim_env.h"
#include "testing/submit.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

constexpr std::int64_t kT0 = 1'764'000'000'000'000'000;

ReadingBatch OneReading(std::string_view sensor, std::int64_t t) {
  ReadingBatch b;
  b.BeginReading(sensor, t, "site", "zone", 1);
  b.AddField(ParameterId::kPh, 7.1);
  return b;
}

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  AlertManager alerts;
  PipelineOptions options;
  Fixture() {
    options.data_dir = dir.path();
    for (auto& r : options.store.retention_ns) r = 0;  // the test times are long past
  }
  Result<std::unique_ptr<Pipeline>> Open(Env& env = DefaultEnv()) {
    return Pipeline::Open(env, SystemClock(), metrics, alerts, options);
  }
};

// Every Submit that was taken gets its answer, however it races Stop: none waits for ever.
TEST(Reliability, ASubmitRacingStopIsAlwaysAnswered) {
  for (int round = 0; round < 20; ++round) {
    Fixture f;
    auto p = f.Open();
    ASSERT_TRUE(p.ok());
    std::atomic<int> taken{0}, answered{0};
    std::atomic<bool> go{true};
    std::vector<std::thread> writers;
    for (int w = 0; w < 3; ++w) {
      writers.emplace_back([&, w] {
        for (std::int64_t i = 0; go.load(); ++i) {
          ReadingBatch b =
              OneReading("w" + std::to_string(w) + "-" + std::to_string(i % 50), kT0 + i);
          if ((*p)->Submit(b, [&](const WriteResult&) { answered.fetch_add(1); }).ok()) {
            taken.fetch_add(1);
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + round));
    (*p)->Stop();
    go.store(false);
    for (auto& t : writers) t.join();
    EXPECT_EQ(answered.load(), taken.load()) << "round " << round;
    EXPECT_GT(taken.load(), 0);
  }
}

// A checkpoint that fails (here: the disk is full) is not a storage failure: writes go on, the
// log stays, and the next attempt after space returns succeeds.
TEST(Reliability, AFailedCheckpointLeavesTheShardWriting) {
  Fixture f;
  testing::SimEnv env;
  f.options.shards = 1;
  f.options.partitions = 1;
  f.options.store.checkpoint_retry_interval_ns = 0;
  f.options.store.checkpoint_interval_ns = 1'000'000;  // 1 ms: every idle turn is due
  auto p = f.Open(env);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(testing::SubmitAndWait(**p, OneReading("a", kT0)).ok());
  // Room for log records, not for a checkpoint of any size.
  env.SetCapacity(env.used_bytes() + 40);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE((*p)->Healthy());
  EXPECT_NE(f.metrics.RenderPrometheus().find("aquawatch_checkpoint_failures_total{shard=\"0\"}"),
            std::string::npos);
  env.SetCapacity(testing::SimEnv::kNever);
  ASSERT_TRUE(testing::SubmitAndWait(**p, OneReading("a", kT0 + 1)).ok());
  (*p)->Stop();
  p->reset();
  auto again = f.Open(env);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Latest("a")->readings, 2u);
}

// Writes two readings and stops cleanly, leaving a checkpoint; returns its path.
std::string WriteCheckpoint(Fixture& f) {
  {
    auto p = f.Open();
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(testing::SubmitAndWait(**p, OneReading("a", kT0)).ok());
    EXPECT_TRUE(testing::SubmitAndWait(**p, OneReading("b", kT0)).ok());
  }
  for (const auto& e : std::filesystem::recursive_directory_iterator(f.dir.path() + "/wal")) {
    if (e.path().extension() == ".ckpt") return e.path().string();
  }
  ADD_FAILURE() << "no checkpoint written";
  return "";
}

TEST(Reliability, ADamagedCheckpointIsQuarantinedAndTheServerStarts) {
  Fixture f;
  f.options.shards = 1;
  f.options.partitions = 1;
  const std::string ckpt = WriteCheckpoint(f);
  {
    std::fstream file(ckpt, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(20);
    file.put('\x5a');
  }
  f.options.log.strict_recovery = true;
  auto strict = f.Open();
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), StatusCode::kCorruption);

  f.options.log.strict_recovery = false;
  auto p = f.Open();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->recovery().quarantined_checkpoints, 1u);
  const std::string moved = std::filesystem::path(ckpt).parent_path().string() + "/quarantine/" +
                            std::filesystem::path(ckpt).filename().string();
  EXPECT_TRUE(std::filesystem::exists(moved));
  // It starts empty (what the checkpoint held is lost, and said so) and takes writes.
  EXPECT_EQ((*p)->SensorCount(), 0u);
  EXPECT_TRUE(testing::SubmitAndWait(**p, OneReading("c", kT0 + 5)).ok());
}

// A checkpoint format an older aquawatch wrote (version 1) no longer refuses the start.
TEST(Reliability, ACheckpointOfAnOlderFormatDoesNotRefuseTheStart) {
  Fixture f;
  f.options.shards = 1;
  f.options.partitions = 1;
  const std::string ckpt = WriteCheckpoint(f);
  {
    std::fstream file(ckpt, std::ios::in | std::ios::out | std::ios::binary);
    file.write("AQWCKP01", 8);
  }
  auto p = f.Open();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->recovery().quarantined_checkpoints, 1u);
}

// A log record that is intact but does not decode goes to quarantine; the start goes on.
TEST(Reliability, AnUndecodableLogRecordIsQuarantinedAtStart) {
  Fixture f;
  f.options.shards = 1;
  f.options.partitions = 1;
  f.options.store.checkpoint_on_stop = false;
  {
    auto p = f.Open();
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(testing::SubmitAndWait(**p, OneReading("a", kT0)).ok());
  }
  // Append a framed record with a valid CRC and a payload that is not a batch.
  std::string segment;
  for (const auto& e : std::filesystem::directory_iterator(f.dir.path() + "/wal/shard-000")) {
    if (e.path().extension() == ".log") segment = std::max(segment, e.path().string());
  }
  ASSERT_FALSE(segment.empty());
  {
    const std::string payload = "\x09\x00\x00\x00not a batch";
    std::ofstream out(segment, std::ios::binary | std::ios::app);
    const auto length = static_cast<std::uint32_t>(payload.size());
    const std::uint32_t crc = Crc32c(payload);
    out.write(reinterpret_cast<const char*>(&length), 4);
    out.write(reinterpret_cast<const char*>(&crc), 4);
    out << payload;
  }
  {
    auto p = f.Open();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ((*p)->recovery().quarantined_records, 1u);
    EXPECT_EQ((*p)->Latest("a")->readings, 1u);
    ASSERT_TRUE(testing::SubmitAndWait(**p, OneReading("a", kT0 + 1)).ok());
  }
  // The start checkpointed past the damage: the next one finds nothing to quarantine.
  auto p = f.Open();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->recovery().quarantined_records, 0u);
  EXPECT_EQ((*p)->Latest("a")->readings, 2u);
}

}  // namespace
}  // namespace aquawatch
