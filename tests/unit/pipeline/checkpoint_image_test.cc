// DecodeShardCheckpoint: the checkpoint a clean stop writes decodes, in memory, to what the
// pipeline held; any damage is Corruption, never a crash or an allocation sized by a length field.
//
// These images are also the checkpoint fuzz target's seeds: with CHECKPOINT_CORPUS_OUT=<dir> in
// the environment the test writes each one there (tests/fuzz/README.md).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "alert/alert_manager.h"
#include "core/crc32c.h"
#include "pipeline/checkpoint.h"
#include "pipeline/pipeline.h"
#include "testing/submit.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

constexpr std::int64_t kT0 = 1'764'237'600'000'000'000;  // 2025-11-27T10:00:00Z
constexpr std::int64_t kSecond = 1'000'000'000;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs `fill` against a one-shard pipeline, stops it cleanly and returns the checkpoint it left.
template <typename Fill>
std::string CheckpointAfter(Fill fill) {
  testing::TempDir dir;
  MetricsRegistry metrics;
  AlertManager alerts;
  PipelineOptions options;
  options.data_dir = dir.path();
  options.shards = 1;
  options.partitions = 1;
  for (auto& r : options.store.retention_ns) r = 0;
  {
    auto p = Pipeline::Open(DefaultEnv(), SystemClock(), metrics, alerts, options);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return "";
    fill(**p);
    (*p)->Stop();
  }
  std::string image;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/wal/shard-000")) {
    if (e.path().extension() == ".ckpt") image = ReadFile(e.path());
  }
  EXPECT_FALSE(image.empty()) << "a clean stop leaves a checkpoint";
  return image;
}

// A shard with nothing in it checkpoints nothing on stop; this is the image it would write.
std::string EmptyCheckpoint() {
  testing::TempDir dir;
  auto w = CheckpointWriter::Create(DefaultEnv(), dir.path(), "empty.ckpt");
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return "";
  Status s = (*w)->Finish(0, 0);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return ReadFile(dir.path() + "/empty.ckpt");
}

void Submit(Pipeline& p, const ReadingBatch& b) {
  Status s = testing::SubmitAndWait(p, b);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// Two sensors on labelled sites, custom fields, one critical chlorine (an open alert).
std::string TwoSensorsWithAlert() {
  return CheckpointAfter([](Pipeline& p) {
    ReadingBatch b;
    for (int i = 0; i < 20; ++i) {
      b.BeginReading("plant-1", kT0 + i * 10 * kSecond, "north", "zone-a");
      b.AddField(ParameterId::kPh, 7.0 + (i % 5) * 0.1);
      b.AddField(ParameterId::kFreeChlorineMgL, 0.8);
      b.AddCustomField("pump_hz", 50 + i % 3);
      b.BeginReading("tap-9", kT0 + i * 10 * kSecond, "south", "zone-b");
      b.AddField(ParameterId::kFreeChlorineMgL, 0.02);  // critically low
      b.AddField(ParameterId::kTemperatureC, 12.345678901);
    }
    b.arrival_ns = kT0;
    Submit(p, b);
  });
}

// Long runs of every canonical parameter (detector state, joint covariance, full chunks).
std::string WarmDetectors() {
  return CheckpointAfter([](Pipeline& p) {
    for (int batch = 0; batch < 6; ++batch) {
      ReadingBatch b;
      for (int i = 0; i < 300; ++i) {
        const int n = batch * 300 + i;
        const std::int64_t t = kT0 + n * 60 * kSecond;
        b.BeginReading("station-" + std::to_string(n % 3), t, "site-" + std::to_string(n % 2));
        b.AddField(ParameterId::kPh, 7.2 + 0.1 * std::sin(n / 30.0));
        b.AddField(ParameterId::kTurbidityNtu, 0.3 + (n % 17 == 0 ? 9.0 : 0.01 * (n % 7)));
        b.AddField(ParameterId::kDissolvedOxygenMgL, 8.5 + 0.05 * std::cos(n / 50.0));
        b.AddField(ParameterId::kTemperatureC, 14 + 0.001 * n);
        b.AddField(ParameterId::kConductivityUsCm, 450 + n % 11);
        b.AddField(ParameterId::kFreeChlorineMgL, 0.6 + 0.01 * (n % 13));
        b.AddField(ParameterId::kOrpMv, 650 + (n % 9));
      }
      b.arrival_ns = kT0;
      Submit(p, b);
    }
  });
}

std::vector<std::pair<std::string, std::string>> Seeds() {
  return {{"empty", EmptyCheckpoint()},
          {"two_sensors_alert", TwoSensorsWithAlert()},
          {"warm_detectors", WarmDetectors()}};
}

TEST(CheckpointImage, DecodesWhatACleanStopWrote) {
  CheckpointContents c;
  Status s = DecodeShardCheckpoint(TwoSensorsWithAlert(), PipelineOptions(), &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(c.sensors.size(), 2u);
  // The image keeps the shard's table order, which is not submission order: tap-9's critical
  // reading took the urgent lane and made it known first.
  auto by_id = [&](std::string_view id) -> const SensorSnapshot& {
    return c.sensors[0].id == id ? c.sensors[0] : c.sensors[1];
  };
  const SensorSnapshot& plant = by_id("plant-1");
  const SensorSnapshot& tap = by_id("tap-9");
  EXPECT_EQ(plant.id, "plant-1");
  EXPECT_EQ(tap.id, "tap-9");
  EXPECT_EQ(plant.site, "north");
  EXPECT_EQ(tap.zone, "zone-b");
  EXPECT_EQ(tap.readings, 20u);
  bool custom = false;
  for (const auto& [name, v] : plant.values) custom |= name == "pump_hz" && v == 50 + 19 % 3;
  EXPECT_TRUE(custom);
  EXPECT_EQ(c.series, 5u);  // plant-1: ph, chlorine, pump_hz; tap-9: chlorine, temperature
  EXPECT_EQ(c.open_chunks.size(), 5u);
  EXPECT_EQ(c.open_alerts, 1u);  // tap-9's chlorine

  CheckpointContents warm;
  s = DecodeShardCheckpoint(WarmDetectors(), PipelineOptions(), &warm);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(warm.sensors.size(), 3u);
  EXPECT_EQ(warm.series, 21u);

  CheckpointContents none;
  s = DecodeShardCheckpoint(EmptyCheckpoint(), PipelineOptions(), &none);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(none.sensors.empty());
}

TEST(CheckpointImage, EveryTruncationAndEveryFlippedByteIsCorruption) {
  const std::string image = TwoSensorsWithAlert();
  ASSERT_GT(image.size(), 100u);
  for (std::size_t n = 0; n < image.size(); ++n) {
    Status s = DecodeShardCheckpoint(std::string_view(image).substr(0, n), PipelineOptions());
    ASSERT_EQ(s.code(), StatusCode::kCorruption) << "prefix of " << n << " bytes: " << s.ToString();
  }
  for (std::size_t i = 0; i < image.size(); ++i) {
    std::string damaged = image;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x20);
    Status s = DecodeShardCheckpoint(damaged, PipelineOptions());
    ASSERT_EQ(s.code(), StatusCode::kCorruption) << "byte " << i << ": " << s.ToString();
  }
}

TEST(CheckpointImage, AHugeLengthFieldIsCorruptionNotAnAllocation) {
  std::string image = "AQWCKP02";
  FieldWriter w(image);
  w.Put<std::uint32_t>(0xFFFFFFF0u);  // a record "length" far past the image
  w.Put<std::uint32_t>(0);
  image += "S";
  EXPECT_EQ(DecodeShardCheckpoint(image, PipelineOptions()).code(), StatusCode::kCorruption);

  // A checksummed record whose sensor entry claims a 64 KiB id and a 4 GiB chunk.
  std::string payload = "S";
  FieldWriter(payload).Put<std::uint16_t>(0xFFFF);
  payload += "x";
  image = "AQWCKP02";
  FieldWriter f(image);
  f.Put<std::uint32_t>(static_cast<std::uint32_t>(payload.size()));
  f.Put<std::uint32_t>(Crc32c(payload));
  image += payload;
  EXPECT_EQ(DecodeShardCheckpoint(image, PipelineOptions()).code(), StatusCode::kCorruption);
}

// The checkpoint fuzz target's corpus file for ResumeRefusesAnEmptyChunkWithAnUnknownTimeUnit
// (tests/unit/store): a checksummed image whose first head series has an empty open chunk with
// time unit 7. It restored a writer that would seal chunks no reader opens; it is Corruption.
TEST(CheckpointImage, AnEmptyOpenChunkWithAnUnknownTimeUnitIsCorruption) {
  const std::string image =
      ReadFile(AQUAWATCH_SOURCE_DIR "/tests/fuzz/checkpoint/corpus/empty_chunk_unknown_unit");
  ASSERT_FALSE(image.empty());
  Status s = DecodeShardCheckpoint(image, PipelineOptions());
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
}

// Not a check: writes the seed images when asked (see the file comment).
TEST(CheckpointImage, WritesFuzzSeedsWhenAsked) {
  const char* out = std::getenv("CHECKPOINT_CORPUS_OUT");
  if (out == nullptr) GTEST_SKIP() << "set CHECKPOINT_CORPUS_OUT to write the fuzz seeds";
  std::filesystem::create_directories(out);
  for (const auto& [name, image] : Seeds()) {
    ASSERT_TRUE(DecodeShardCheckpoint(image, PipelineOptions()).ok()) << name;
    std::ofstream(std::filesystem::path(out) / name, std::ios::binary) << image;
    // A torn copy of each: what a start meets after a crash mid-write of a damaged disk.
    std::ofstream(std::filesystem::path(out) / (name + "_torn"), std::ios::binary)
        << image.substr(0, image.size() * 2 / 3);
  }
}

}  // namespace
}  // namespace aquawatch
