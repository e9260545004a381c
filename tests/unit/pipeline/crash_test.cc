// Crash consistency, tested the way storage engines test it: a workload of writes (in order,
// late and repeated readings, over several sensors, with log segments rolling and checkpoints
// taken every few kilobytes) runs on SimEnv, which simulates a power cut at a chosen file-system
// call, an I/O error at one call, or a full disk. After each crash the pipeline must open (in
// strict mode: a crash may only leave torn tails, never damage) and hold every acknowledged
// reading exactly once.
//
// The block store (RocksDB) keeps its own files on the real disk and is not rolled back by a
// simulated crash: these tests cover the shard log and checkpoints, and rely on RocksDB for its
// own crash safety (docs/reliability.md).
//
// AQUAWATCH_TEST_CRASH_SEEDS=N runs the randomized test with N seeds instead of 3 (bench/crash.sh).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "alert/alert_manager.h"
#include "pipeline/pipeline.h"
#include "testing/sim_env.h"
#include "testing/submit.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

constexpr std::int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24
constexpr std::int64_t kSecond = 1'000'000'000;
constexpr int kSensors = 12;

std::string SensorName(int i) { return "s" + std::to_string(100 + i); }

// The chlorine value of a reading is a function of its sensor and time, so a repeated reading
// carries the same value and "present exactly once" can be checked by value too.
double ValueOf(int sensor, std::int64_t t) {
  return static_cast<double>((t / kSecond + sensor * 7) % 400) / 100.0;
}

struct Outcome {
  std::map<std::pair<int, std::int64_t>, double> acked;  // (sensor, time) -> chlorine
  int batches_acked = 0;
  int batches_failed = 0;
};

struct Workload {
  int batches = 30;
  std::uint64_t seed = 1;
  std::int64_t start = kT0;  // the sensors' clocks start here
};

// Runs the workload against `p` until it ends or the pipeline stops taking writes for good
// (the simulated machine lost power). Acknowledged readings go to `out`.
void RunWorkload(Pipeline& p, testing::SimEnv* env, const Workload& w, Outcome& out) {
  std::mt19937_64 rng(w.seed);
  std::int64_t clock[kSensors];
  for (int s = 0; s < kSensors; ++s) clock[s] = w.start + s * kSecond;
  std::vector<std::pair<int, std::int64_t>> history;
  for (int batch = 0; batch < w.batches; ++batch) {
    ReadingBatch b;
    std::vector<std::pair<int, std::int64_t>> rows;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int r = 0; r < n; ++r) {
      const int s = static_cast<int>(rng() % kSensors);
      std::int64_t t;
      const int kind = static_cast<int>(rng() % 100);
      if (kind < 8 && !history.empty()) {  // a repeat of an earlier reading (a client's retry)
        const auto [hs, ht] = history[rng() % history.size()];
        rows.emplace_back(hs, ht);
        b.BeginReading(SensorName(hs), ht, "site", "zone", static_cast<std::uint32_t>(r + 1));
        b.AddField(ParameterId::kFreeChlorineMgL, ValueOf(hs, ht));
        continue;
      }
      if (kind < 18) {  // late, within the late window
        t = clock[s] - static_cast<std::int64_t>(1 + rng() % 180) * 10 * kSecond;
      } else {
        clock[s] += static_cast<std::int64_t>(1 + rng() % 60) * 10 * kSecond;
        t = clock[s];
      }
      rows.emplace_back(s, t);
      b.BeginReading(SensorName(s), t, "site", "zone", static_cast<std::uint32_t>(r + 1));
      b.AddField(ParameterId::kFreeChlorineMgL, ValueOf(s, t));
      b.AddField(ParameterId::kPh, 7.0 + static_cast<double>(rng() % 50) / 100);
      if (rng() % 4 == 0) b.AddCustomField("toc_mg_l", static_cast<double>(rng() % 90) / 10);
    }
    // A client retries what was not stored (503) a few times, as it would.
    WriteResult result;
    for (int attempt = 0; attempt < 50; ++attempt) {
      result = testing::SubmitForResult(p, b);
      if (result.status.ok()) break;
      ++out.batches_failed;
      if (env != nullptr && env->powered_off()) return;  // the machine is gone
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!result.status.ok()) continue;
    ++out.batches_acked;
    std::set<std::pair<std::string, std::int64_t>> refused;
    for (const Refusal& r : result.refusals) refused.emplace(r.sensor, r.time_ns);
    // A batch may hold the same reading twice (a retry), and both may be refused.
    ASSERT_EQ(result.refused, result.refusals.size());
    for (const auto& [s, t] : rows) {
      if (refused.contains({SensorName(s), t})) continue;
      out.acked[{s, t}] = ValueOf(s, t);
      history.emplace_back(s, t);
    }
  }
}

struct Rig {
  testing::TempDir dir;  // the block store's real directory lives here too
  testing::SimEnv env;
  MetricsRegistry metrics;
  AlertManager alerts;
  PipelineOptions options;
  explicit Rig(int shards) {
    options.data_dir = dir.path();
    options.shards = shards;
    options.partitions = shards;
    options.log.segment_bytes = 4 << 10;
    options.store.checkpoint_bytes = 8 << 10;
    options.store.checkpoint_retry_interval_ns = 0;
    options.storage_retry_interval_ns = 1'000'000;     // 1 ms
    for (auto& r : options.store.retention_ns) r = 0;  // the test times are long past
  }
  Result<std::unique_ptr<Pipeline>> Open() {
    return Pipeline::Open(env, SystemClock(), metrics, alerts, options);
  }
};

// Every acknowledged reading is stored exactly once, with its value.
void ExpectAllAcknowledged(Pipeline& p, const Outcome& out, const std::string& context) {
  for (int s = 0; s < kSensors; ++s) {
    const std::string sensor = SensorName(s);
    std::vector<SeriesPoint> points;
    SeriesRead read;
    read.sensor = sensor;
    read.parameter = "free_chlorine_mg_l";
    read.from_ns = 0;
    read.to_ns = kT0 + 400 * 86'400 * kSecond;
    Status st = p.ReadSeries(read, points);
    if (st.code() == StatusCode::kNotFound)
      points.clear();
    else
      ASSERT_TRUE(st.ok()) << context << ": " << st.ToString();
    std::map<std::int64_t, double> stored;
    for (const SeriesPoint& pt : points) {
      ASSERT_TRUE(stored.emplace(pt.t_ns, pt.value).second)
          << context << ": " << sensor << " holds time " << pt.t_ns << " twice";
    }
    for (const auto& [key, value] : out.acked) {
      if (key.first != s) continue;
      auto it = stored.find(key.second);
      ASSERT_NE(it, stored.end()) << context << ": acknowledged reading of " << sensor << " at "
                                  << key.second << " is missing";
      EXPECT_EQ(it->second, value) << context;
    }
  }
}

// Opens after a simulated crash (strict: torn tails only), checks, and writes once more.
void ReopenAndCheck(Rig& rig, const Outcome& out, const std::string& context) {
  rig.options.log.strict_recovery = true;
  auto p = rig.Open();
  ASSERT_TRUE(p.ok()) << context << ": " << p.status().ToString();
  ExpectAllAcknowledged(**p, out, context);
  ReadingBatch more;
  more.BeginReading(SensorName(0), kT0 + 300 * 86'400 * kSecond);
  more.AddField(ParameterId::kPh, 7.0);
  EXPECT_TRUE(testing::SubmitAndWait(**p, more).ok()) << context;
}

// One shard, so the n-th file-system call is the same call in every run: a power cut at each
// of them in turn.
TEST(Crash, PowerCutAtEveryFileSystemCall) {
  const Workload workload{24, 7};
  std::uint64_t total = 0;
  {
    Rig rig(1);
    auto p = rig.Open();
    ASSERT_TRUE(p.ok());
    Outcome out;
    RunWorkload(**p, &rig.env, workload, out);
    ASSERT_EQ(out.batches_failed, 0);
    (*p)->Stop();
    total = rig.env.ops();
  }
  ASSERT_GT(total, 50u);
  RecordProperty("file_system_calls", std::to_string(total));
  std::printf("power cuts at each of %llu file-system calls\n",
              static_cast<unsigned long long>(total));
  int crashed_with_acks = 0;
  for (std::uint64_t op = 1; op <= total; ++op) {
    Rig rig(1);
    rig.env.CrashAtOp(op);
    Outcome out;
    {
      auto p = rig.Open();
      if (p.ok()) RunWorkload(**p, &rig.env, workload, out);
    }
    rig.env.Crash(op);
    if (!out.acked.empty()) ++crashed_with_acks;
    ReopenAndCheck(rig, out, "power cut at call " + std::to_string(op));
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(crashed_with_acks, static_cast<int>(total / 2));
}

// Two shards (calls interleave differently every run), crash points and seeds at random.
TEST(Crash, RandomizedPowerCutsWithTwoShards) {
  int seeds = 3;
  if (const char* env = std::getenv("AQUAWATCH_TEST_CRASH_SEEDS")) seeds = std::atoi(env);
  std::mt19937_64 rng(20261206);
  for (int i = 0; i < seeds; ++i) {
    const Workload workload{40, rng()};
    Rig rig(2);
    const std::uint64_t crash_at = 20 + rng() % 600;
    rig.env.CrashAtOp(crash_at);
    Outcome out;
    {
      auto p = rig.Open();
      if (p.ok()) RunWorkload(**p, &rig.env, workload, out);
    }
    rig.env.Crash(rng());
    ReopenAndCheck(
        rig, out, "seed " + std::to_string(workload.seed) + ", cut at " + std::to_string(crash_at));
    if (HasFatalFailure()) return;
  }
}

// An I/O error at one call, of every call in turn: the shard refuses writes, recovers by
// itself, and the workload goes on; after a clean restart every acknowledged reading is there.
TEST(Crash, AnIoErrorAtAnyCallIsSurvived) {
  const Workload workload{24, 11};
  std::uint64_t total = 0;
  {
    Rig rig(1);
    auto p = rig.Open();
    ASSERT_TRUE(p.ok());
    Outcome out;
    RunWorkload(**p, &rig.env, workload, out);
    (*p)->Stop();
    total = rig.env.ops();
  }
  for (std::uint64_t op = 1; op <= total; op += 3) {
    Rig rig(1);
    rig.env.FailOp(op);
    Outcome out;
    {
      auto p = rig.Open();
      if (!p.ok()) continue;  // a failure while opening: refusing to start is right
      RunWorkload(**p, &rig.env, workload, out);
      ASSERT_EQ(out.batches_acked, workload.batches) << "I/O error at call " << op;
    }
    ReopenAndCheck(rig, out, "I/O error at call " + std::to_string(op));
    if (HasFatalFailure()) return;
    // And a power cut right after, on top of whatever the failure left behind.
    rig.env.Crash(op);
    ReopenAndCheck(rig, out, "I/O error at call " + std::to_string(op) + ", then a power cut");
    if (HasFatalFailure()) return;
  }
}

// A full disk: writes fail (503) while it is full, nothing acknowledged is lost, and writing
// resumes once space comes back; then a power cut on top.
TEST(Crash, DiskFullThenSpaceReturns) {
  Rig rig(2);
  Outcome out;
  {
    auto p = rig.Open();
    ASSERT_TRUE(p.ok());
    const std::int64_t day = 86'400 * kSecond;
    RunWorkload(**p, &rig.env, {10, 3, kT0}, out);
    rig.env.SetCapacity(rig.env.used_bytes() + 6000);
    Outcome full;
    RunWorkload(**p, &rig.env, {60, 4, kT0 + 10 * day}, full);
    EXPECT_GT(full.batches_failed, 0);
    EXPECT_LT(full.batches_acked, 60);
    for (const auto& kv : full.acked) out.acked.insert(kv);
    // Healthy() is not checked here: a failed shard retries every millisecond and may be between
    // a recovery and its next refused write; the refused batches above are the observable fact.
    rig.env.SetCapacity(testing::SimEnv::kNever);
    // The shards retry every millisecond; writes work again within a moment.
    Outcome after;
    for (int attempt = 0; attempt < 200 && after.batches_acked == 0; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      RunWorkload(**p, &rig.env, {1, 100u + attempt, kT0 + 20 * day + attempt * day}, after);
    }
    ASSERT_GT(after.batches_acked, 0);
    Outcome resumed;
    RunWorkload(**p, &rig.env, {30, 5, kT0 + 250 * day}, resumed);
    EXPECT_EQ(resumed.batches_failed, 0);
    EXPECT_EQ(resumed.batches_acked, 30);
    EXPECT_TRUE((*p)->Healthy());
    for (const auto& kv : after.acked) out.acked.insert(kv);
    for (const auto& kv : resumed.acked) out.acked.insert(kv);
  }
  ReopenAndCheck(rig, out, "after a full disk");
  rig.env.Crash(9);
  ReopenAndCheck(rig, out, "after a full disk and a power cut");
}

}  // namespace
}  // namespace aquawatch
