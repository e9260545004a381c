// Shard checkpoints: a restart from one restores the whole shard state, the log stays bounded,
// a power cut at any point loses no acknowledged reading, and damage refuses the start.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "alert/alert_manager.h"
#include "pipeline/checkpoint.h"
#include "pipeline/pipeline.h"
#include "testing/fault_env.h"
#include "testing/submit.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

struct Row {
  std::string sensor;
  std::int64_t t;
  double chlorine;
};

ReadingBatch Batch(const std::vector<Row>& rows) {
  ReadingBatch b;
  for (const Row& r : rows) {
    b.BeginReading(r.sensor, r.t, "site-1", "zone-" + r.sensor.substr(0, 1));
    b.AddField(ParameterId::kFreeChlorineMgL, r.chlorine);
    b.AddCustomField("pump_hz", 50.0 + static_cast<double>(r.t % 3));
  }
  b.arrival_ns = 1;
  return b;
}

using testing::SubmitAndWait;

std::map<std::int64_t, double> Stored(const Pipeline& p, const std::string& sensor,
                                      std::string_view parameter = "free_chlorine_mg_l") {
  std::vector<SeriesPoint> points;
  SeriesRead read;
  read.sensor = sensor;
  read.parameter = parameter;
  read.from_ns = 0;
  read.to_ns = std::int64_t{1} << 62;
  Status s = p.ReadSeries(read, points);
  EXPECT_TRUE(s.ok()) << sensor << ": " << s.ToString();
  std::map<std::int64_t, double> out;
  for (const SeriesPoint& pt : points) {
    EXPECT_EQ(out.count(pt.t_ns), 0u) << "returned twice";
    out[pt.t_ns] = pt.value;
  }
  return out;
}

int CountFiles(const std::string& dir, std::string_view suffix) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().string().ends_with(suffix)) ++n;
  }
  return n;
}

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  PipelineOptions options;
  Fixture() {
    options.data_dir = dir.path();
    options.shards = 1;
    options.partitions = 4;
  }
  std::unique_ptr<Pipeline> Open(AlertManager& alerts, Env& env = DefaultEnv()) {
    MetricsRegistry* m = &metrics_for_run.emplace_back();
    auto p = Pipeline::Open(env, SystemClock(), *m, alerts, options);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }
  std::deque<MetricsRegistry> metrics_for_run;
  std::string wal() const { return dir.path() + "/wal/shard-000"; }
};

TEST(Checkpoint, CleanStopRestoresEverythingAndReplaysNothing) {
  Fixture f;
  AlertManager alerts;
  std::map<std::string, std::int64_t> last;
  {
    auto p = f.Open(alerts);
    for (int i = 0; i < 40; ++i) {
      ASSERT_TRUE(SubmitAndWait(*p, Batch({{"a" + std::to_string(i % 5), i * 1000, 0.8},
                                           {"bad", i * 1000, 0.05}}))
                      .ok());
    }
    p->Stop();
  }
  EXPECT_EQ(alerts.OpenCount(), 1u);  // "bad" chlorine is critical
  EXPECT_EQ(CountFiles(f.wal(), ".ckpt"), 1);
  EXPECT_EQ(CountFiles(f.wal(), ".log"), 0);  // the checkpoint covers the whole log

  AlertManager fresh;
  auto p = f.Open(fresh);
  EXPECT_EQ(p->recovery().readings, 0u);
  EXPECT_EQ(p->recovery().checkpoint_sensors, 6u);
  EXPECT_GT(p->recovery().checkpoint_bytes, 0u);
  EXPECT_EQ(p->SensorCount(), 6u);
  auto a3 = p->Latest("a3");
  ASSERT_TRUE(a3.has_value());
  EXPECT_EQ(a3->last_time_ns, 38000);
  EXPECT_EQ(a3->readings, 8u);
  EXPECT_EQ(a3->zone, "zone-a");
  bool custom = false;
  for (const auto& [name, v] : a3->values) custom |= name == "pump_hz" && v == 50 + 38000 % 3;
  EXPECT_TRUE(custom);
  EXPECT_EQ(fresh.OpenCount(), 1u);  // re-raised from the checkpointed level
  EXPECT_EQ(Stored(*p, "a3").size(), 8u);
  EXPECT_EQ(Stored(*p, "bad").size(), 40u);
  EXPECT_EQ(Stored(*p, "a1", "pump_hz").size(), 8u);
  // The restored head goes on taking readings in order, and alerts move on from there.
  ASSERT_TRUE(SubmitAndWait(*p, Batch({{"a3", 40000, 0.7}, {"bad", 40000, 0.8}})).ok());
  EXPECT_EQ(Stored(*p, "a3").size(), 9u);
  EXPECT_EQ(fresh.OpenCount(), 0u);
}

TEST(Checkpoint, TheLogStaysBoundedAndRestartReplaysOnlyItsTail) {
  Fixture f;
  f.options.store.checkpoint_bytes = 16 << 10;
  f.options.log.segment_bytes = 4 << 10;
  f.options.store.checkpoint_on_stop = false;
  AlertManager alerts;
  {
    auto p = f.Open(alerts);
    for (int i = 0; i < 600; ++i) {
      std::vector<Row> rows;
      for (int s = 0; s < 10; ++s) rows.push_back({"s" + std::to_string(s), i * 1000, 0.8});
      ASSERT_TRUE(SubmitAndWait(*p, Batch(rows)).ok());
      // Segments: those since the last published checkpoint (16 KiB = 4 segments), another
      // checkpoint's worth written while the next one is captured and written off the shard
      // thread, and the open one. (8 held on an idle machine; a loaded CI machine reached 9 when
      // the background write lagged. Without checkpoints every segment would stay.)
      ASSERT_LE(CountFiles(f.wal(), ".log"), 9) << "after batch " << i;
    }
    EXPECT_EQ(CountFiles(f.wal(), ".ckpt"), 1);
    p->Stop();
  }
  AlertManager fresh;
  auto p = f.Open(fresh);
  EXPECT_GT(p->recovery().checkpoint_sensors, 0u);
  EXPECT_LT(p->recovery().readings, 6000u / 4);  // only the tail after the checkpoint
  for (int s = 0; s < 10; ++s) EXPECT_EQ(Stored(*p, "s" + std::to_string(s)).size(), 600u);
}

// A power cut at a random point while batches are in flight, repeatedly: every acknowledged
// reading is there after the restart, nothing twice, and the state opens without corruption.
TEST(Checkpoint, PowerCutsLoseNoAcknowledgedReading) {
  int cut_with_unacked = 0;
  std::uint64_t dropped = 0;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    Fixture f;
    f.options.store.checkpoint_bytes = 6 << 10;
    f.options.log.segment_bytes = 2 << 10;
    f.options.store.checkpoint_on_stop = false;
    testing::FaultEnv env;
    std::mt19937_64 rng(seed);
    std::mutex mu;
    std::map<std::string, std::map<std::int64_t, double>> acked;
    std::map<std::string, std::int64_t> clock;
    for (int round = 0; round < 3; ++round) {
      AlertManager alerts;
      env.PowerOff(false);
      auto p = f.Open(alerts, env);
      ASSERT_NE(p, nullptr) << "seed " << seed << " round " << round;
      for (const auto& [sensor, series] : acked) {
        auto stored = Stored(*p, sensor);
        for (const auto& [t, v] : series) {
          ASSERT_EQ(stored.count(t), 1u) << "seed " << seed << " lost " << sensor << "@" << t;
          ASSERT_EQ(stored[t], v);
        }
      }
      const int batches = 50 + static_cast<int>(rng() % 150);
      const int cut_at = static_cast<int>(rng() % static_cast<std::uint64_t>(batches));
      int submitted = 0;
      std::atomic<int> finished{0};
      for (int i = 0; i < batches; ++i) {
        // The cut comes while a sync is in progress, so some written bytes are surely unsynced.
        const bool cut_now = i == cut_at;
        const int syncs_before = env.syncs();
        if (cut_now) env.Hold();
        std::vector<Row> rows;
        for (int r = 0; r < 5; ++r) {
          std::string sensor = "p" + std::to_string(rng() % 12);
          std::int64_t t = (clock[sensor] += 1 + static_cast<std::int64_t>(rng() % 3)) * 1'000'000;
          rows.push_back({sensor, t, static_cast<double>(rng() % 100) / 100});
        }
        // Not waiting: batches pile up, so the cut falls between writes and syncs.
        Status s = p->Submit(Batch(rows), [&, rows](const WriteResult& r) {
          if (r.status.ok()) {
            std::lock_guard lock(mu);
            for (const Row& row : rows) acked[row.sensor][row.t] = row.chlorine;
          }
          ++finished;
        });
        if (s.ok()) ++submitted;
        if (cut_now) {
          for (int w = 0; w < 2000 && env.syncs() == syncs_before; ++w) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
          env.PowerOff(true);
          env.Release();
        }
      }
      p->Stop();
      EXPECT_EQ(finished.load(), submitted);
      if (!p->Healthy()) ++cut_with_unacked;
      p.reset();
      env.Crash(seed * 100 + static_cast<std::uint64_t>(round));
    }
    dropped += env.dropped_bytes();
  }
  EXPECT_GT(dropped, 0u);          // some written, unsynced bytes were really lost
  EXPECT_GT(cut_with_unacked, 0);  // the cuts did land mid-stream
}

// Strict recovery refuses a damaged checkpoint and names it; the default quarantines it
// (reliability_test.cc covers that path).
TEST(Checkpoint, DamageRefusesTheStartInStrictMode) {
  Fixture f;
  AlertManager alerts;
  {
    auto p = f.Open(alerts);
    ASSERT_TRUE(SubmitAndWait(*p, Batch({{"a", 1, 0.8}})).ok());
    p->Stop();
  }
  std::string path;
  for (const auto& e : std::filesystem::directory_iterator(f.wal())) {
    if (e.path().string().ends_with(".ckpt")) path = e.path().string();
  }
  ASSERT_FALSE(path.empty());
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(20);
    file.put('\x5a');
  }
  MetricsRegistry metrics;
  PipelineOptions strict = f.options;
  strict.log.strict_recovery = true;
  auto p = Pipeline::Open(DefaultEnv(), SystemClock(), metrics, alerts, strict);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kCorruption);
  EXPECT_NE(p.status().message().find(".ckpt"), std::string::npos) << p.status().message();
}

TEST(CheckpointReader, RejectsTruncationAndMissingEnd) {
  testing::TempDir dir;
  auto w = CheckpointWriter::Create(DefaultEnv(), dir.path(), "c.ckpt");
  ASSERT_TRUE(w.ok());
  std::string labels(1, 'L');
  FieldWriter(labels).PutString16("site-1");
  ASSERT_TRUE((*w)->AddRecord(labels).ok());
  ASSERT_TRUE((*w)->Finish(0, 0).ok());
  auto bytes = DefaultEnv().ReadWholeFile(dir.path() + "/c.ckpt");
  ASSERT_TRUE(bytes.ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/c.ckpt.tmp"));
  char type = 0;
  std::string_view entries;
  CheckpointReader whole(*bytes);
  ASSERT_TRUE(whole.Next(&type, &entries));
  EXPECT_EQ(type, 'L');
  FieldReader f(entries);
  EXPECT_EQ(f.GetString16(), "site-1");
  EXPECT_FALSE(whole.Next(&type, &entries));
  EXPECT_TRUE(whole.status().ok());
  for (std::size_t cut = 0; cut < bytes->size(); ++cut) {
    CheckpointReader r(std::string_view(*bytes).substr(0, cut));
    while (r.Next(&type, &entries)) {
    }
    EXPECT_FALSE(r.status().ok()) << "cut at " << cut;
  }
}

bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 10'000 && !done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

std::string NewestCheckpoint(const std::string& dir) {
  std::string path;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().string().ends_with(".ckpt")) path = e.path().string();
  }
  return path;
}

// A checkpoint is captured while the shard goes on: readings that arrive meanwhile change
// sensors the capture has not reached yet, and the file still holds every sensor exactly as it
// was at the checkpoint's start (copy-on-write); the restart replays those readings once.
TEST(Checkpoint, InProgressHoldsTheStateAtItsStartWhileReadingsGoOn) {
  Fixture f;
  f.options.store.checkpoint_bytes = 1;  // a checkpoint after the first group
  f.options.store.checkpoint_on_stop = false;
  // 64 sensors per slice, and no slice while anything handed over is unwritten: with the file's
  // writes held, the capture stops after its first slice until they are released.
  f.options.store.checkpoint_slice_ns = 1;
  f.options.store.checkpoint_backlog_bytes = 1;
  constexpr int kSensors = 1000;
  constexpr std::int64_t kFirst = 1'000'000'000, kSecond = 2'000'000'000;
  auto name = [](int i) { return fmt::format("c{:04d}", i); };
  testing::FaultEnv env;
  env.HoldWrites(".ckpt.tmp");
  AlertManager alerts;
  std::map<std::string, int> later;  // readings per sensor after the checkpoint's start
  {
    auto p = f.Open(alerts, env);
    std::vector<Row> first;
    for (int i = 0; i < kSensors; ++i) first.push_back({name(i), kFirst, 0.8});
    ASSERT_TRUE(SubmitAndWait(*p, Batch(first)).ok());
    ASSERT_TRUE(WaitFor([&] { return env.held_writes() > 0; })) << "no checkpoint started";
    // Readings go on while the checkpoint is held: half the sensors, from the back (the
    // capture's cursor starts at the front), and sensors the checkpoint never saw.
    for (int b = 0; b < 10; ++b) {
      std::vector<Row> rows;
      for (int k = 0; k < 50; ++k)
        rows.push_back({name(kSensors - 1 - (b * 50 + k)), kSecond, 0.7});
      rows.push_back({"new" + std::to_string(b), kSecond, 0.6});
      for (const Row& r : rows) ++later[r.sensor];
      ASSERT_TRUE(SubmitAndWait(*p, Batch(rows)).ok());
    }
    EXPECT_GT(env.held_writes(), 0) << "the checkpoint finished before the readings came";
    env.ReleaseWrites();
    ASSERT_TRUE(WaitFor(
        [&] { return CountFiles(f.wal(), ".ckpt") == 1 && CountFiles(f.wal(), ".tmp") == 0; }));
    p->Stop();
  }
  auto image = DefaultEnv().ReadWholeFile(NewestCheckpoint(f.wal()));
  ASSERT_TRUE(image.ok());
  CheckpointContents contents;
  ASSERT_TRUE(DecodeShardCheckpoint(*image, f.options, &contents).ok());
  ASSERT_EQ(contents.sensors.size(), static_cast<std::size_t>(kSensors));
  for (const SensorSnapshot& s : contents.sensors) {
    EXPECT_EQ(s.readings, 1u) << s.id;
    EXPECT_EQ(s.last_time_ns, kFirst) << s.id;
  }
  // After a crash-like stop the log after the checkpoint brings each sensor up to date, once.
  AlertManager fresh;
  auto p = f.Open(fresh);
  EXPECT_EQ(p->recovery().checkpoint_sensors, static_cast<std::uint64_t>(kSensors));
  EXPECT_EQ(p->recovery().readings, 510u);
  EXPECT_EQ(p->SensorCount(), static_cast<std::size_t>(kSensors + 10));
  for (int i = 0; i < kSensors; i += 37) {
    auto snap = p->Latest(name(i));
    ASSERT_TRUE(snap.has_value());
    const int expected = 1 + later[name(i)];
    EXPECT_EQ(snap->readings, static_cast<std::uint64_t>(expected)) << name(i);
    EXPECT_EQ(snap->last_time_ns, expected == 1 ? kFirst : kSecond) << name(i);
    EXPECT_EQ(Stored(*p, name(i)).size(), static_cast<std::size_t>(expected)) << name(i);
  }
}

// A checkpoint whose file cannot be written is dropped with its file; the old checkpoint and
// the log it needs stay, nothing acknowledged is lost, and the next attempt succeeds.
TEST(Checkpoint, AFailedBackgroundWriteKeepsTheOldCheckpointAndTheLog) {
  Fixture f;
  f.options.store.checkpoint_bytes = 1;
  f.options.store.checkpoint_on_stop = false;
  f.options.store.checkpoint_retry_interval_ns = 0;
  testing::FaultEnv env;
  AlertManager alerts;
  {
    auto p = f.Open(alerts, env);
    ASSERT_TRUE(SubmitAndWait(*p, Batch({{"a", 1'000, 0.8}})).ok());
    ASSERT_TRUE(WaitFor([&] { return CountFiles(f.wal(), ".ckpt") == 1; }));
    const std::string first = NewestCheckpoint(f.wal());
    // A checkpoint is due once the log has grown by the last one's size: 100 readings do that.
    auto hundred = [](std::int64_t from) {
      std::vector<Row> rows;
      for (int k = 0; k < 100; ++k) rows.push_back({"a", from + k, 0.7});
      return Batch(rows);
    };
    env.HoldWrites(".ckpt.tmp");
    ASSERT_TRUE(SubmitAndWait(*p, hundred(2'000)).ok());
    ASSERT_TRUE(WaitFor([&] { return env.held_writes() > 0; }));
    env.FailWrites(".ckpt.tmp");  // the held write fails, and so does the retry
    env.ReleaseWrites();
    const std::string failures = "aquawatch_checkpoint_failures_total{shard=\"0\"} ";
    ASSERT_NE(f.metrics_for_run.back().RenderPrometheus().find(failures + "0\n"),
              std::string::npos);
    ASSERT_TRUE(WaitFor([&] {
      return f.metrics_for_run.back().RenderPrometheus().find(failures + "0\n") ==
             std::string::npos;
    }));
    EXPECT_EQ(NewestCheckpoint(f.wal()), first);
    EXPECT_GT(CountFiles(f.wal(), ".log"), 0);  // the log after the first checkpoint stays
    // Writes go on meanwhile, and are acknowledged.
    ASSERT_TRUE(SubmitAndWait(*p, hundred(3'000)).ok());
    env.FailWrites("");
    ASSERT_TRUE(WaitFor([&] { return NewestCheckpoint(f.wal()) != first; }));
    p->Stop();
  }
  env.Crash(7);
  AlertManager fresh;
  auto p = f.Open(fresh, env);
  EXPECT_EQ(Stored(*p, "a").size(), 201u);
}

}  // namespace
}  // namespace aquawatch
