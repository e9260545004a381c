#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/env.h"
#include "pipeline/log_codec.h"
#include "pipeline/shard_log.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

ReadingBatch MakeBatch(int n, int first) {
  ReadingBatch b;
  for (int i = 0; i < n; ++i) {
    b.BeginReading("sensor-" + std::to_string(first + i), 1000 + first + i, "site", "");
    b.AddField(ParameterId::kPh, 7.0 + i * 0.01);
    b.AddCustomField("toc_mg_l", i);
  }
  return b;
}

std::vector<std::string> Replay(const std::string& dir, ShardLogRecovery* stats,
                                Status* status = nullptr) {
  std::vector<std::string> payloads;
  auto log = ShardLog::Open(
      DefaultEnv(), dir, {}, 0,
      [&](std::string_view p) {
        payloads.emplace_back(p);
        return Status::Ok();
      },
      stats);
  if (status != nullptr) *status = log.status();
  return payloads;
}

TEST(LogCodec, RoundTripsEveryColumn) {
  ReadingBatch in = MakeBatch(3, 0);
  std::string bytes;
  EncodeBatch(in, bytes);
  ReadingBatch out;
  ASSERT_TRUE(DecodeBatch(bytes, out).ok());
  ASSERT_EQ(out.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out.sensor(i), in.sensor(i));
    EXPECT_EQ(out.site(i), "site");
    EXPECT_EQ(out.time_ns(i), in.time_ns(i));
    ASSERT_EQ(out.field_end(i) - out.field_begin(i), 2u);
    EXPECT_EQ(out.field_value(out.field_begin(i)), in.field_value(in.field_begin(i)));
    EXPECT_EQ(out.field_name(out.field_begin(i) + 1), "toc_mg_l");
  }
}

TEST(LogCodec, RejectsTruncatedPayloadWithoutLeavingPartialReadings) {
  std::string bytes;
  EncodeBatch(MakeBatch(4, 0), bytes);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    ReadingBatch out;
    Status s = DecodeBatch(std::string_view(bytes).substr(0, cut), out);
    EXPECT_FALSE(s.ok()) << cut;
    EXPECT_EQ(out.size(), 0u) << cut;
  }
}

TEST(ShardLog, ReplaysEverySyncedRecordAfterReopen) {
  testing::TempDir dir;
  {
    ShardLogRecovery stats;
    auto log = ShardLog::Open(
        DefaultEnv(), dir.path(), {}, 0, [](std::string_view) { return Status::Ok(); }, &stats);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 10; ++i) {
      std::string rec;
      EncodeBatch(MakeBatch(5, i * 5), rec);
      ASSERT_TRUE((*log)->Append(rec).ok());
    }
    ASSERT_TRUE((*log)->Sync().ok());
  }
  ShardLogRecovery stats;
  auto payloads = Replay(dir.path(), &stats);
  ASSERT_EQ(payloads.size(), 10u);
  EXPECT_EQ(stats.truncated_bytes, 0u);
  ReadingBatch b;
  ASSERT_TRUE(DecodeBatch(payloads[9], b).ok());
  EXPECT_EQ(b.sensor(4), "sensor-49");
}

TEST(ShardLog, RollsSegmentsAndReadsThemInOrder) {
  testing::TempDir dir;
  ShardLogOptions options;
  options.segment_bytes = 4096;
  {
    auto log = ShardLog::Open(
        DefaultEnv(), dir.path(), options, 0, [](std::string_view) { return Status::Ok(); },
        nullptr);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 100; ++i) {
      std::string rec;
      EncodeBatch(MakeBatch(3, i * 3), rec);
      ASSERT_TRUE((*log)->Append(rec).ok());
    }
    ASSERT_TRUE((*log)->Sync().ok());
  }
  auto files = DefaultEnv().ListFiles(dir.path());
  ASSERT_TRUE(files.ok());
  EXPECT_GT(files->size(), 3u);
  ShardLogRecovery stats;
  auto payloads = Replay(dir.path(), &stats);
  ASSERT_EQ(payloads.size(), 100u);
  ReadingBatch b;
  ASSERT_TRUE(DecodeBatch(payloads.back(), b).ok());
  EXPECT_EQ(b.sensor(2), "sensor-299");
}

// A crash can leave any prefix of the last write on disk. Whatever the cut, recovery keeps
// every complete record before it, drops the partial one, and the log stays writable.
TEST(ShardLog, CutsATornTailAtEveryPossibleOffset) {
  testing::TempDir base;
  std::string rec1, rec2;
  EncodeBatch(MakeBatch(2, 0), rec1);
  EncodeBatch(MakeBatch(2, 2), rec2);
  std::string seed_dir = base.path() + "/seed";
  {
    auto log = ShardLog::Open(
        DefaultEnv(), seed_dir, {}, 0, [](std::string_view) { return Status::Ok(); }, nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(rec1).ok());
    ASSERT_TRUE((*log)->Append(rec2).ok());
    ASSERT_TRUE((*log)->Sync().ok());
  }
  auto names = DefaultEnv().ListFiles(seed_dir);
  ASSERT_TRUE(names.ok());
  ASSERT_EQ(names->size(), 1u);
  auto full = DefaultEnv().ReadWholeFile(seed_dir + "/" + names->front());
  ASSERT_TRUE(full.ok());
  const std::size_t first_end = full->size() - (8 + rec2.size());
  for (std::size_t cut = 0; cut < full->size(); ++cut) {
    std::string dir = base.path() + "/cut" + std::to_string(cut);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/" + names->front(), std::ios::binary) << full->substr(0, cut);
    ShardLogRecovery stats;
    Status status;
    auto payloads = Replay(dir, &stats, &status);
    ASSERT_TRUE(status.ok()) << cut << ": " << status.ToString();
    std::size_t want = cut >= first_end ? 1 : 0;
    ASSERT_EQ(payloads.size(), want) << cut;
    if (want == 1) {
      EXPECT_EQ(payloads[0], rec1);
    }
    // Reopen again: the cut is permanent and nothing new appears.
    auto again = Replay(dir, &stats, &status);
    EXPECT_EQ(again.size(), want);
    EXPECT_EQ(stats.truncated_bytes, 0u);
  }
}

TEST(ShardLog, CorruptionInAnOlderSegmentFailsLoudly) {
  testing::TempDir dir;
  ShardLogOptions options;
  options.segment_bytes = 1024;
  {
    auto log = ShardLog::Open(
        DefaultEnv(), dir.path(), options, 0, [](std::string_view) { return Status::Ok(); },
        nullptr);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 30; ++i) {
      std::string rec;
      EncodeBatch(MakeBatch(3, i), rec);
      ASSERT_TRUE((*log)->Append(rec).ok());
    }
    ASSERT_TRUE((*log)->Sync().ok());
  }
  auto names = DefaultEnv().ListFiles(dir.path());
  ASSERT_TRUE(names.ok());
  ASSERT_GT(names->size(), 2u);
  std::string first = dir.path() + "/" + names->front();
  {
    std::fstream f(first, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    f.put('\xFF');
  }
  ShardLogRecovery stats;
  Status status;
  Replay(dir.path(), &stats, &status);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace aquawatch
