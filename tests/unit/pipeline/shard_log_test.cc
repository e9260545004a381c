#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/crc32c.h"
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

Status Ignore(std::string_view, LogFormat) { return Status::Ok(); }

std::vector<std::string> Replay(const std::string& dir, ShardLogRecovery* stats,
                                Status* status = nullptr, ShardLogOptions options = {}) {
  std::vector<std::string> payloads;
  auto log = ShardLog::Open(
      DefaultEnv(), dir, options, 0,
      [&](std::string_view p, LogFormat) {
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
    auto log = ShardLog::Open(DefaultEnv(), dir.path(), {}, 0, Ignore, &stats);
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
    auto log = ShardLog::Open(DefaultEnv(), dir.path(), options, 0, Ignore, nullptr);
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
    auto log = ShardLog::Open(DefaultEnv(), seed_dir, {}, 0, Ignore, nullptr);
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

// Writes 30 records over several 1 KiB segments and flips a byte inside the first segment.
std::vector<std::string> WriteAndDamageFirstSegment(const std::string& dir) {
  ShardLogOptions options;
  options.segment_bytes = 1024;
  {
    auto log = ShardLog::Open(DefaultEnv(), dir, options, 0, Ignore, nullptr);
    EXPECT_TRUE(log.ok());
    for (int i = 0; i < 30; ++i) {
      std::string rec;
      EncodeBatch(MakeBatch(3, i), rec);
      EXPECT_TRUE((*log)->Append(rec).ok());
    }
    EXPECT_TRUE((*log)->Sync().ok());
  }
  auto names = DefaultEnv().ListFiles(dir);
  EXPECT_TRUE(names.ok());
  EXPECT_GT(names->size(), 2u);
  std::fstream f(dir + "/" + names->front(), std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(30);
  f.put('\xFF');
  return *names;
}

TEST(ShardLog, StrictRecoveryRefusesDamageInAnOlderSegment) {
  testing::TempDir dir;
  WriteAndDamageFirstSegment(dir.path());
  ShardLogRecovery stats;
  Status status;
  ShardLogOptions strict;
  strict.strict_recovery = true;
  Replay(dir.path(), &stats, &status, strict);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
}

// By default the damage goes to quarantine/ (the rest of its segment, whose record boundaries
// are lost), the later segments replay, and a second start finds nothing to quarantine.
TEST(ShardLog, QuarantinesDamageInAnOlderSegmentAndGoesOn) {
  testing::TempDir dir;
  std::vector<std::string> names = WriteAndDamageFirstSegment(dir.path());
  ShardLogRecovery stats;
  Status status;
  auto payloads = Replay(dir.path(), &stats, &status);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(stats.quarantined_records, 1u);
  EXPECT_GT(stats.quarantined_bytes, 0u);
  EXPECT_LT(payloads.size(), 30u);
  EXPECT_GT(payloads.size(), 20u);  // every later segment
  ReadingBatch last;
  ASSERT_TRUE(DecodeBatch(payloads.back(), last).ok());
  EXPECT_EQ(last.sensor(2), "sensor-31");
  auto quarantined = DefaultEnv().ListFiles(dir.path() + "/quarantine");
  ASSERT_TRUE(quarantined.ok());
  ASSERT_EQ(quarantined->size(), 1u);
  EXPECT_EQ(quarantined->front().substr(0, 16), names.front().substr(0, 16));
  auto moved = DefaultEnv().ReadWholeFile(dir.path() + "/quarantine/" + quarantined->front());
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->size(), stats.quarantined_bytes);

  ShardLogRecovery again;
  auto replayed = Replay(dir.path(), &again, &status);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(again.quarantined_records, 0u);
  EXPECT_EQ(replayed.size(), payloads.size());
}

// A record whose framing and CRC are intact but whose payload does not decode (what a 65,537-
// field line did to a version 1 log) is quarantined alone; the records after it replay.
TEST(ShardLog, QuarantinesAnIntactRecordThatDoesNotDecode) {
  testing::TempDir dir;
  std::string good1, good2;
  EncodeBatch(MakeBatch(2, 0), good1);
  EncodeBatch(MakeBatch(2, 10), good2);
  const std::string bad = "\x05\x00\x00\x00garbage";
  {
    auto log = ShardLog::Open(DefaultEnv(), dir.path(), {}, 0, Ignore, nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(good1).ok());
    ASSERT_TRUE((*log)->Append(bad).ok());
    ASSERT_TRUE((*log)->Append(good2).ok());
    ASSERT_TRUE((*log)->Sync().ok());
  }
  auto decode = [](std::string_view p, LogFormat format) {
    ReadingBatch b;
    return DecodeBatch(p, b, format);
  };
  ShardLogRecovery stats;
  std::vector<std::string> replayed;
  auto log = ShardLog::Open(
      DefaultEnv(), dir.path(), {}, 0,
      [&](std::string_view p, LogFormat format) {
        Status s = decode(p, format);
        if (s.ok()) replayed.emplace_back(p);
        return s;
      },
      &stats);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed[1], good2);
  EXPECT_EQ(stats.quarantined_records, 1u);
  EXPECT_EQ(stats.quarantined_bytes, 8 + bad.size());

  ShardLogOptions strict;
  strict.strict_recovery = true;
  auto refused = ShardLog::Open(DefaultEnv(), dir.path(), strict, 0, decode, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
}

// A file system may extend a file before its data lands: after a crash the tail reads as zeros.
// A zero length is never written (and the CRC of nothing is 0), so that is a torn tail.
TEST(ShardLog, CutsAZeroFilledTail) {
  testing::TempDir dir;
  std::string rec;
  EncodeBatch(MakeBatch(2, 0), rec);
  {
    auto log = ShardLog::Open(DefaultEnv(), dir.path(), {}, 0, Ignore, nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(rec).ok());
    ASSERT_TRUE((*log)->Sync().ok());
  }
  auto names = DefaultEnv().ListFiles(dir.path());
  ASSERT_TRUE(names.ok());
  {
    std::ofstream f(dir.path() + "/" + names->front(), std::ios::binary | std::ios::app);
    f << std::string(4096, '\0');
  }
  ShardLogRecovery stats;
  Status status;
  ShardLogOptions strict;
  strict.strict_recovery = true;  // not damage: even strict recovery opens
  auto payloads = Replay(dir.path(), &stats, &status, strict);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0], rec);
  EXPECT_EQ(stats.truncated_bytes, 4096u);
}

TEST(ShardLog, ASegmentOfZerosIsEmpty) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/0000000000000001.log", std::ios::binary) << std::string(64, '\0');
  ShardLogRecovery stats;
  Status status;
  auto payloads = Replay(dir.path(), &stats, &status);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_TRUE(payloads.empty());
  EXPECT_EQ(stats.quarantined_records, 0u);
}

// After a failed write the log cuts back to its last sync and goes on in a new segment, so a
// half-written record never sits in the middle of the log.
TEST(ShardLog, DiscardUnsyncedKeepsOnlyWhatWasSynced) {
  testing::TempDir dir;
  std::string durable, lost, after;
  EncodeBatch(MakeBatch(2, 0), durable);
  EncodeBatch(MakeBatch(2, 2), lost);
  EncodeBatch(MakeBatch(2, 4), after);
  {
    auto log = ShardLog::Open(DefaultEnv(), dir.path(), {}, 0, Ignore, nullptr);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(durable).ok());
    ASSERT_TRUE((*log)->Sync().ok());
    ASSERT_TRUE((*log)->Append(lost).ok());
    ASSERT_TRUE((*log)->DiscardUnsynced().ok());
    ASSERT_TRUE((*log)->Append(after).ok());
    ASSERT_TRUE((*log)->Sync().ok());
  }
  ShardLogRecovery stats;
  auto payloads = Replay(dir.path(), &stats);
  ASSERT_EQ(payloads.size(), 2u);
  EXPECT_EQ(payloads[0], durable);
  EXPECT_EQ(payloads[1], after);
  EXPECT_EQ(stats.segments, 2u);
}

// The version 1 payload layout (u16 counts and lengths), as aquawatch wrote it before
// AQWLOG02, for the upgrade test below.
std::string EncodeVersion1(const ReadingBatch& b) {
  std::string out;
  auto put = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  auto put_string = [&](std::string_view s) {
    put(static_cast<std::uint16_t>(s.size()));
    out.append(s);
  };
  put(static_cast<std::uint32_t>(b.size()));
  for (std::size_t i = 0; i < b.size(); ++i) {
    put_string(b.sensor(i));
    put_string(b.site(i));
    put_string(b.zone(i));
    put(b.time_ns(i));
    put(static_cast<std::uint16_t>(b.field_end(i) - b.field_begin(i)));
    for (std::size_t f = b.field_begin(i); f < b.field_end(i); ++f) {
      put(static_cast<std::uint8_t>(b.field_param(f)));
      if (b.field_param(f) == ParameterId::kCustom) put_string(b.field_name(f));
      put(b.field_value(f));
    }
  }
  return out;
}

// A data directory written by an older aquawatch (AQWLOG01 segments) still replays; new
// segments are written as AQWLOG02.
TEST(ShardLog, ReadsVersion1SegmentsAndWritesVersion2) {
  testing::TempDir dir;
  const ReadingBatch old_batch = MakeBatch(3, 0);
  const std::string payload = EncodeVersion1(old_batch);
  {
    std::string segment = "AQWLOG01";
    const auto length = static_cast<std::uint32_t>(payload.size());
    const std::uint32_t crc = Crc32c(payload);
    segment.append(reinterpret_cast<const char*>(&length), 4);
    segment.append(reinterpret_cast<const char*>(&crc), 4);
    segment += payload;
    std::ofstream(dir.path() + "/0000000000000001.log", std::ios::binary) << segment;
  }
  std::vector<LogFormat> formats;
  ReadingBatch replayed;
  auto log = ShardLog::Open(
      DefaultEnv(), dir.path(), {}, 0,
      [&](std::string_view p, LogFormat format) {
        formats.push_back(format);
        return DecodeBatch(p, replayed, format);
      },
      nullptr);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_EQ(formats.size(), 1u);
  EXPECT_EQ(formats[0], LogFormat::kV1);
  ASSERT_EQ(replayed.size(), 3u);
  EXPECT_EQ(replayed.sensor(2), "sensor-2");
  EXPECT_EQ(replayed.field_name(replayed.field_begin(2) + 1), "toc_mg_l");
  std::string rec;
  EncodeBatch(MakeBatch(1, 9), rec);
  ASSERT_TRUE((*log)->Append(rec).ok());
  ASSERT_TRUE((*log)->Sync().ok());
  auto second = DefaultEnv().ReadWholeFile(dir.path() + "/0000000000000002.log");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->substr(0, 8), "AQWLOG02");
}

// The line that made a version 1 log unreadable: 65,537 fields (a u16 count wrapped to 1).
TEST(LogCodec, RoundTripsAReadingWithMoreFieldsThanSixteenBitsCount) {
  ReadingBatch in;
  in.BeginReading("wide", 1000);
  for (int f = 0; f < 65'537; ++f) in.AddCustomField("f" + std::to_string(f % 64), f);
  std::string bytes;
  EncodeBatch(in, bytes);
  EXPECT_LE(bytes.size(), EncodedBytesBound(in, 0, 1));
  ReadingBatch out;
  ASSERT_TRUE(DecodeBatch(bytes, out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out.field_end(0), 65'537u);
  EXPECT_EQ(out.field_value(65'536), 65'536);
}

TEST(LogCodec, RejectsCountsThePayloadCannotHold) {
  std::string bytes;
  const std::uint32_t huge = 0x7fffffff;
  bytes.append(reinterpret_cast<const char*>(&huge), 4);
  bytes += "x";
  ReadingBatch out;
  EXPECT_EQ(DecodeBatch(bytes, out).code(), StatusCode::kCorruption);
  EXPECT_EQ(out.size(), 0u);
}

}  // namespace
}  // namespace aquawatch
