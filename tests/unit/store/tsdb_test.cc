// The embedded store below the pipeline: roll-up records, the head, the RocksDB block store and
// series reads, alone and against a simple in-memory model.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "store/tsdb/block_store.h"
#include "store/tsdb/head.h"
#include "store/tsdb/query.h"
#include "store/tsdb/rollup.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

constexpr std::int64_t kSec = 1'000'000'000;
// 2026-11-27T00:00:00Z: a day boundary, so partitions and windows line up predictably.
constexpr std::int64_t kDay0 = 1'795'737'600 * kSec;

TEST(Rollup, BucketStartFloorsNegativeTimes) {
  EXPECT_EQ(BucketStart(119 * kSec, kMinuteNs), kMinuteNs);
  EXPECT_EQ(BucketStart(-1, kMinuteNs), -kMinuteNs);
  EXPECT_EQ(BucketStart(0, kMinuteNs), 0);
}

TEST(Rollup, RecordRoundTripsAndSkipsBadSamples) {
  std::vector<Sample> samples = {{kDay0 + 1 * kSec, 7.0, Quality::kGood},
                                 {kDay0 + 2 * kSec, 100.0, Quality::kBad},
                                 {kDay0 + 3 * kSec, std::nan(""), Quality::kGood},
                                 {kDay0 + 4 * kSec, 8.0, Quality::kSuspect},
                                 {kDay0 + 61 * kSec, 6.5, Quality::kGood}};
  std::vector<RollupBucket> buckets;
  BuildRollup(samples, kMinuteNs, buckets);
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0].count, 2u);
  EXPECT_EQ(buckets[0].min, 7.0);
  EXPECT_EQ(buckets[0].max, 8.0);
  EXPECT_EQ(buckets[0].sum, 15.0);
  EXPECT_EQ(buckets[0].last, 8.0);
  std::string record = EncodeRollup(kDay0, kMinuteNs, buckets);
  EXPECT_EQ(record.size(), 3u + 2 * 40);
  std::vector<RollupBucket> back;
  ASSERT_TRUE(DecodeRollup(record, kDay0, kMinuteNs, back).ok());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].start_ns, kDay0 + kMinuteNs);
  EXPECT_EQ(back[1].last, 6.5);
  EXPECT_FALSE(DecodeRollup(record.substr(0, record.size() - 1), kDay0, kMinuteNs, back).ok());
  EXPECT_FALSE(DecodeRollup("", kDay0, kMinuteNs, back).ok());
}

TEST(Rollup, ManyBucketsUseTheXorLayoutAndRoundTripExactly) {
  std::vector<Sample> samples;
  for (int i = 0; i < 1200; ++i) {
    samples.push_back(
        {kDay0 + i * kSec, 7.0 + (i % 13) * 0.01 + (i == 600 ? 1e300 : 0), Quality::kGood});
  }
  std::vector<RollupBucket> buckets;
  BuildRollup(samples, kMinuteNs, buckets);
  ASSERT_EQ(buckets.size(), 20u);
  std::string record = EncodeRollup(kDay0, kMinuteNs, buckets);
  EXPECT_EQ(record[0], 2);
  EXPECT_LT(record.size(), 3u + 20 * 40);
  std::vector<RollupBucket> back;
  ASSERT_TRUE(DecodeRollup(record, kDay0, kMinuteNs, back).ok());
  ASSERT_EQ(back.size(), 20u);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(back[i].start_ns, buckets[i].start_ns);
    EXPECT_EQ(back[i].count, buckets[i].count);
    EXPECT_EQ(back[i].min, buckets[i].min);
    EXPECT_EQ(back[i].max, buckets[i].max);
    EXPECT_EQ(back[i].sum, buckets[i].sum);
    EXPECT_EQ(back[i].last, buckets[i].last);
  }
  for (std::size_t cut = 0; cut < record.size(); ++cut) {
    back.clear();
    EXPECT_FALSE(DecodeRollup(record.substr(0, cut), kDay0, kMinuteNs, back).ok()) << cut;
    EXPECT_TRUE(back.empty());
  }
}

TEST(Samples, MergeReplacesEqualTimesAndKeepsOrder) {
  std::vector<Sample> s = {{10, 1, Quality::kGood}, {30, 3, Quality::kGood}};
  EXPECT_FALSE(MergeSample(s, {20, 2, Quality::kGood}));
  EXPECT_TRUE(MergeSample(s, {30, 4, Quality::kBad}));
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[1].value, 2);
  EXPECT_EQ(s[2].value, 4);
  EXPECT_EQ(s[2].quality, Quality::kBad);
  // Mixed precision: the chunk takes the finest unit needed.
  std::vector<Sample> mixed = {{kDay0, 1, Quality::kGood}, {kDay0 + 1'500, 2, Quality::kGood}};
  std::vector<Sample> back;
  ASSERT_TRUE(DecodeChunk(EncodeChunk(mixed), back).ok());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].t_ns, kDay0 + 1'500);
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.chunk_span_ns = 20 * kMinuteNs;  // the windows these tests count are 20 minutes
    options_.stagger_windows = false;         // ... aligned, unless a test staggers them
    Open();
  }

  void Open() {
    head_.reset();
    store_.reset();
    BlockStoreOptions bo;
    bo.chunk_span_ns = options_.chunk_span_ns;
    auto s = BlockStore::Open(dir_.path() + "/store", bo);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    head_ = std::make_unique<ShardHead>(*store_, options_);
  }

  Status Append(std::uint32_t sensor, std::string_view param, std::int64_t t, double v,
                Quality q = Quality::kGood) {
    return head_->Append(sensor, Id(sensor), param, {t, v, q});
  }

  static std::string_view Id(std::uint32_t sensor) {
    static const std::string ids[] = {"plant-1", "plant-1.a", "river:7", "zz"};
    return ids[sensor];
  }

  std::vector<SeriesPoint> Read(std::uint32_t sensor, std::string_view param, std::int64_t from,
                                std::int64_t to, std::int64_t step = 0,
                                Aggregation agg = Aggregation::kAvg) {
    std::vector<SeriesPoint> out;
    SeriesRead r{Id(sensor), param, from, to, step, agg};
    Status s = ReadSeries(*store_, head_->CopyOpen(sensor, param), r, out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  testing::TempDir dir_;
  HeadOptions options_;
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<ShardHead> head_;
};

TEST_F(StoreTest, ReadsAcrossSealedChunksAndTheHead) {
  // 3 hours at 10 s: nine 20-minute windows, eight sealed.
  for (int i = 0; i < 1080; ++i) {
    ASSERT_TRUE(Append(0, "ph", kDay0 + i * 10 * kSec, 7.0 + (i % 7) * 0.01).ok());
  }
  EXPECT_EQ(head_->stats().sealed.load(), 8u);
  auto all = Read(0, "ph", kDay0, kDay0 + 3 * kHourNs);
  ASSERT_EQ(all.size(), 1080u);
  for (int i = 0; i < 1080; ++i) {
    ASSERT_EQ(all[i].t_ns, kDay0 + i * 10 * kSec);
    ASSERT_DOUBLE_EQ(all[i].value, 7.0 + (i % 7) * 0.01);
  }
  // A range inside one window, and one across the sealed/head boundary.
  EXPECT_EQ(Read(0, "ph", kDay0 + 100 * kSec, kDay0 + 199 * kSec).size(), 10u);
  EXPECT_EQ(Read(0, "ph", kDay0 + 2 * kHourNs + 30 * kMinuteNs, kDay0 + 3 * kHourNs).size(), 180u);
  // Other series and sensors with a shared prefix stay apart.
  ASSERT_TRUE(Append(1, "ph", kDay0, 1.0).ok());
  EXPECT_EQ(Read(0, "ph", kDay0, kDay0).size(), 1u);
  EXPECT_EQ(Read(0, "ph", kDay0, kDay0)[0].value, 7.0);
  EXPECT_TRUE(Read(0, "turbidity_ntu", kDay0, kDay0 + kHourNs).empty());
}

TEST_F(StoreTest, RollupsGiveTheSameAnswerAsRawData) {
  for (int i = 0; i < 6 * 360; ++i) {  // 6 hours
    ASSERT_TRUE(Append(0, "ph", kDay0 + i * 10 * kSec, 7.0 + std::sin(i / 50.0)).ok());
  }
  auto raw = Read(0, "ph", kDay0, kDay0 + 6 * kHourNs);
  for (Aggregation agg : {Aggregation::kAvg, Aggregation::kMin, Aggregation::kMax,
                          Aggregation::kLast, Aggregation::kCount, Aggregation::kSum}) {
    // A 1 h step reads rollup_1h, 30 min reads rollup_1m, 90 s reads raw chunks.
    for (std::int64_t step : {kHourNs, 30 * kMinuteNs, 90 * kSec}) {
      auto got = Read(0, "ph", kDay0, kDay0 + 6 * kHourNs - 1, step, agg);
      std::map<std::int64_t, RollupBucket> want;
      for (const SeriesPoint& p : raw) {
        std::int64_t start = BucketStart(p.t_ns, step);
        want[start].Merge({start, 1, p.value, p.value, p.value, p.value});
      }
      ASSERT_EQ(got.size(), want.size()) << "step " << step;
      std::size_t i = 0;
      for (const auto& [start, b] : want) {
        EXPECT_EQ(got[i].t_ns, start);
        EXPECT_EQ(got[i].count, b.count);
        double expect = Aggregate(b, agg);
        EXPECT_NEAR(got[i].value, expect, 1e-9 * std::abs(expect) + 1e-12)
            << AggregationName(agg) << " step " << step;
        ++i;
      }
    }
  }
  auto raw_minutes = Read(0, "ph", kDay0, kDay0 + kHourNs - 1, 20 * kSec, Aggregation::kCount);
  ASSERT_EQ(raw_minutes.size(), 180u);
  EXPECT_EQ(raw_minutes[0].value, 2);
  EXPECT_EQ(LevelForStep(20 * kSec), StoreLevel::kRaw);
  EXPECT_EQ(LevelForStep(5 * kMinuteNs), StoreLevel::kRollup1m);
  EXPECT_EQ(LevelForStep(24 * kHourNs), StoreLevel::kRollup1h);
}

TEST_F(StoreTest, LateAndDuplicateReadingsLastWriteWins) {
  for (int i = 0; i < 240; ++i) ASSERT_TRUE(Append(0, "ph", kDay0 + i * 10 * kSec, 7.0).ok());
  // A duplicate in the open chunk, one in a sealed chunk, a late one in each.
  ASSERT_TRUE(Append(0, "ph", kDay0 + 2390 * kSec, 9.0).ok());
  ASSERT_TRUE(Append(0, "ph", kDay0 + 100 * kSec, 8.0).ok());
  ASSERT_TRUE(Append(0, "ph", kDay0 + 2385 * kSec, 6.0).ok());
  ASSERT_TRUE(Append(0, "ph", kDay0 + 105 * kSec, 5.0).ok());
  EXPECT_EQ(head_->stats().duplicates.load(), 2u);
  EXPECT_EQ(head_->stats().late.load(), 4u);
  EXPECT_EQ(head_->stats().rewritten.load(), 2u);
  auto all = Read(0, "ph", kDay0, kDay0 + kHourNs);
  ASSERT_EQ(all.size(), 242u);
  EXPECT_EQ(all[10].value, 8.0);
  EXPECT_EQ(all[11].t_ns, kDay0 + 105 * kSec);
  EXPECT_EQ(all[11].value, 5.0);
  EXPECT_EQ(all.back().value, 9.0);
  EXPECT_EQ(all[all.size() - 2].value, 6.0);
  // The rewritten chunk's roll-ups were rewritten with it.
  auto minute = Read(0, "ph", kDay0 + kMinuteNs, kDay0 + kMinuteNs, kMinuteNs, Aggregation::kMax);
  ASSERT_EQ(minute.size(), 1u);
  EXPECT_EQ(minute[0].value, 8.0);
  EXPECT_EQ(minute[0].count, 7u);
}

TEST_F(StoreTest, ChunksSwitchToMoreDecimalsOrToXorAndKeepEveryValueExact) {
  const double values[] = {7, 7.1, 7.15, 7.153, std::nan(""), 7.2, -0.0, 1.0 / 3};
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(Append(0, "ph", kDay0 + i * kSec, values[i]).ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Append(1, "ph", kDay0 + i * kSec, values[i]).ok());
  auto xor_series = Read(0, "ph", kDay0, kDay0 + kHourNs);
  ASSERT_EQ(xor_series.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(xor_series[i].value),
              std::bit_cast<std::uint64_t>(values[i]))
        << i;
  }
  EXPECT_EQ(head_->CopyOpen(0, "ph")->bytes[0], 1);  // NaN forced the XOR layout
  EXPECT_EQ(head_->CopyOpen(1, "ph")->bytes[0], 2);  // three decimals still fit
  auto decimal = Read(1, "ph", kDay0, kDay0 + kHourNs);
  ASSERT_EQ(decimal.size(), 4u);
  EXPECT_EQ(decimal[3].value, 7.153);
}

// What admission asks before a reading reaches the log: too late, new, and how full the window
// that would take it already is (open, sealed in the block store, or not begun).
TEST_F(StoreTest, ProbeTellsAdmissionWhatTheHeadWouldRefuse) {
  auto probe = [&](std::uint32_t s, std::string_view p, std::int64_t t) {
    auto r = head_->ProbeSeries(s, Id(s), p, t);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : ShardHead::Probe{};
  };
  ASSERT_TRUE(Append(0, "ph", kDay0 + 2 * kHourNs, 7.0).ok());
  EXPECT_FALSE(probe(0, "ph", kDay0 + kHourNs).too_late);
  EXPECT_TRUE(probe(0, "ph", kDay0 + kHourNs - 1).too_late);
  EXPECT_FALSE(probe(0, "turbidity_ntu", kDay0).exists);  // a new series takes anything
  EXPECT_FALSE(probe(3, "ph", kDay0).exists);
  const ShardHead::Probe open = probe(0, "ph", kDay0 + 2 * kHourNs + kSec);
  EXPECT_TRUE(open.exists);
  EXPECT_EQ(open.window_samples, 1u);
  EXPECT_LE(open.window_start, kDay0 + 2 * kHourNs);
  EXPECT_EQ(probe(0, "ph", kDay0 + 5 * kHourNs).window_samples, 0u);  // not begun

  // Two values in one window, then one in a later window seals it: a late value for the sealed
  // window finds its count in the block store.
  ASSERT_TRUE(Append(1, "ph", kDay0 + 10 * kSec, 7.1).ok());
  ASSERT_TRUE(Append(1, "ph", kDay0 + 20 * kSec, 7.2).ok());
  const std::int64_t first_window = probe(1, "ph", kDay0 + 10 * kSec).window_start;
  ASSERT_TRUE(Append(1, "ph", first_window + kHourNs + kSec, 7.3).ok());
  const ShardHead::Probe sealed = probe(1, "ph", kDay0 + 30 * kSec);
  EXPECT_EQ(sealed.window_start, first_window);
  EXPECT_EQ(sealed.window_samples, 2u);
}

// The head's own count of its heap (aquawatch_memory_bytes{component="head"}) follows its
// buffers up as chunks fill, down when they are sealed, and out-of-order rebuilds too.
TEST_F(StoreTest, HeadBytesFollowTheOpenChunks) {
  const auto bytes = [&] { return head_->stats().bytes.load(); };
  EXPECT_EQ(bytes(), 0u);
  for (int i = 0; i < 60; ++i) {  // 10 minutes at 10 s, six parameters of two sensors
    for (std::uint32_t sensor : {0u, 1u}) {
      for (const char* p : {"ph", "turbidity_ntu", "temperature_c", "conductivity_us_cm",
                            "free_chlorine_mg_l", "orp_mv"}) {
        ASSERT_TRUE(Append(sensor, p, kDay0 + i * 10 * kSec, (700 + i % 7) / 100.0).ok());
      }
    }
  }
  const std::uint64_t open = bytes();
  // The series structs (at most 112 bytes each, exactly six per sensor, two sensor slots) plus
  // a buffer of 60 samples each, with no doubling slack past a quarter.
  constexpr std::uint64_t kStructs = 12 * 112 + 2 * 24;
  EXPECT_LT(open, kStructs + 12 * 120);
  ASSERT_TRUE(Append(0, "ph", kDay0 + 5 * kSec, 6.5).ok());  // out of order: a rebuild
  EXPECT_GT(bytes(), 0u);
  auto id_of = [](std::uint32_t s) { return Id(s); };
  ASSERT_TRUE(head_->SealBefore(kDay0 + 20 * kMinuteNs, id_of).ok());
  EXPECT_EQ(head_->stats().sealed.load(), 12u);
  const std::uint64_t sealed = bytes();
  EXPECT_LE(sealed, kStructs);  // only the series structs stay
  EXPECT_GE(open - sealed, 12u * 40);
  // A new window grows the same buffers again from nothing.
  ASSERT_TRUE(Append(0, "ph", kDay0 + 21 * kMinuteNs, 7.0).ok());
  EXPECT_GE(bytes(), sealed);
  head_->Clear();
  EXPECT_EQ(bytes(), 0u);
}

TEST_F(StoreTest, IdleChunksAreSealedAndSurviveReopening) {
  ASSERT_TRUE(Append(0, "ph", kDay0 + 5 * kSec, 7.25).ok());
  ASSERT_TRUE(Append(2, "custom_field", kDay0 + 5 * kSec, -1).ok());
  auto id_of = [](std::uint32_t s) { return Id(s); };
  ASSERT_TRUE(head_->SealBefore(kDay0 + 19 * kMinuteNs, id_of).ok());
  EXPECT_EQ(head_->stats().sealed.load(), 0u);
  ASSERT_TRUE(head_->SealBefore(kDay0 + 20 * kMinuteNs, id_of).ok());
  EXPECT_EQ(head_->stats().sealed.load(), 2u);
  EXPECT_FALSE(head_->CopyOpen(0, "ph").has_value());
  // A late reading for the sealed window rewrites it; a later one opens a new window.
  ASSERT_TRUE(Append(0, "ph", kDay0 + 6 * kSec, 7.5).ok());
  ASSERT_TRUE(Append(0, "ph", kDay0 + 25 * kMinuteNs, 7.75).ok());
  ASSERT_TRUE(store_->MakeDurable().ok());
  head_.reset();
  Open();
  auto all = Read(0, "ph", kDay0, kDay0 + kHourNs);
  ASSERT_EQ(all.size(), 2u);  // the open window went with the head (the log replays it)
  EXPECT_EQ(all[1].value, 7.5);
  EXPECT_EQ(Read(2, "custom_field", kDay0, kDay0 + kHourNs).size(), 1u);
}

TEST_F(StoreTest, StaggeredWindowsSpreadSealsAcrossTheSpan) {
  // 300 probes reporting together every 10 s: with aligned windows all 300 chunks seal in the
  // same round; staggered, each sensor's windows start at its own minute of the span.
  options_.stagger_windows = true;
  Open();
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) ids.push_back("probe-" + std::to_string(i));
  std::uint64_t worst_round = 0, sealed_before = 0;
  for (int round = 0; round < 240; ++round) {  // 40 minutes: two 20-minute spans
    const std::int64_t t = kDay0 + round * 10 * kSec;
    for (std::uint32_t i = 0; i < ids.size(); ++i) {
      ASSERT_TRUE(head_->Append(i, ids[i], "ph", {t, 7.0 + 0.01 * (round % 5)}).ok());
    }
    const std::uint64_t sealed = head_->stats().sealed.load();
    worst_round = std::max(worst_round, sealed - sealed_before);
    sealed_before = sealed;
  }
  EXPECT_GE(sealed_before, ids.size()) << "every sensor crossed a window boundary";
  EXPECT_LE(worst_round, 45u) << "about 15 per minute of the span, never all 300 at once";
  std::set<std::int64_t> offsets;
  for (std::uint32_t i = 0; i < ids.size(); ++i) {
    auto open = head_->CopyOpen(i, "ph");
    ASSERT_TRUE(open.has_value());
    const std::int64_t offset = StaggeredWindowOffset(ids[i], options_.chunk_span_ns);
    EXPECT_EQ((open->start_ns - kDay0) % options_.chunk_span_ns, offset);
    offsets.insert(offset);
  }
  EXPECT_EQ(offsets.size(), 20u) << "all twenty minutes of the span are used";
  // Reads cross the staggered windows: raw, and hourly sums merged from partial hours.
  std::vector<SeriesPoint> raw, hourly;
  ASSERT_TRUE(
      ReadSeries(*store_, head_->CopyOpen(0, "ph"), {ids[0], "ph", kDay0, kDay0 + kHourNs}, raw)
          .ok());
  EXPECT_EQ(raw.size(), 240u);
  ASSERT_TRUE(ReadSeries(*store_, head_->CopyOpen(0, "ph"),
                         {ids[0], "ph", kDay0, kDay0 + kHourNs, kHourNs, Aggregation::kCount},
                         hourly)
                  .ok());
  ASSERT_EQ(hourly.size(), 1u);
  EXPECT_EQ(hourly[0].count, 240u);
}

TEST_F(StoreTest, RetentionDropsWholeDays) {
  for (int d = 0; d < 4; ++d) {
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(Append(0, "ph", kDay0 + d * 24 * kHourNs + i * kHourNs, d).ok());
  }
  ASSERT_TRUE(
      head_->SealBefore(kDay0 + 10 * 24 * kHourNs, [](std::uint32_t s) { return Id(s); }).ok());
  // Partitions go once their last chunk window (up to 20 minutes past them) is past the cutoff.
  auto dropped = store_->DropBefore(StoreLevel::kRaw, kDay0 + 2 * 24 * kHourNs + kHourNs);
  ASSERT_TRUE(dropped.ok());
  auto raw = Read(0, "ph", kDay0, kDay0 + 5 * 24 * kHourNs);
  ASSERT_EQ(raw.size(), 6u);  // days 2 and 3 remain
  EXPECT_EQ(raw[0].value, 2);
  // Roll-ups keep their own retention.
  auto hourly = Read(0, "ph", kDay0, kDay0 + 5 * 24 * kHourNs, kHourNs, Aggregation::kCount);
  EXPECT_EQ(hourly.size(), 12u);
}

TEST_F(StoreTest, TooLargeAnswersAndBadRangesAreErrors) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Append(0, "ph", kDay0 + i * kSec, 7).ok());
  std::vector<SeriesPoint> out;
  SeriesRead r{Id(0), "ph", kDay0, kDay0 + kHourNs, 0, Aggregation::kAvg, 10};
  Status s = ReadSeries(*store_, head_->CopyOpen(0, "ph"), r, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("more than 10 points"), std::string::npos);
  r.to_ns = kDay0 - 1;
  EXPECT_FALSE(ReadSeries(*store_, std::nullopt, r, out).ok());
}

// Random appends (in order, late, duplicate), idle seals, retention, restarts (the head restored
// from its checkpoint state over a reopened block store) and reads, checked against a map of
// what was written.
TEST_F(StoreTest, RandomOperationsMatchAModel) {
  // Staggered windows, as the server runs them: each sensor's chunks start at its own minute.
  options_.stagger_windows = true;
  Open();
  // Raw and 1-minute data in chunk windows that start before this are gone.
  std::int64_t dropped_before = 0;
  auto window_start = [&](int sensor, std::int64_t t) {
    const std::int64_t off =
        StaggeredWindowOffset(Id(static_cast<std::uint32_t>(sensor)), options_.chunk_span_ns);
    return BucketStart(t - off, options_.chunk_span_ns) + off;
  };
  int restarts = 0, retentions = 0, late_ops = 0, duplicate_ops = 0;
  std::mt19937_64 rng(20261127);
  std::map<std::pair<int, std::string>, std::map<std::int64_t, double>> model;
  std::map<std::pair<int, std::string>, std::int64_t> newest;
  const char* params[] = {"ph", "orp_mv"};
  std::int64_t now = kDay0;
  for (int op = 0; op < 6000; ++op) {
    int sensor = static_cast<int>(rng() % 3);
    std::string param = params[rng() % 2];
    auto key = std::make_pair(sensor, param);
    int kind = static_cast<int>(rng() % 100);
    if (kind < 70) {  // in order
      now += static_cast<std::int64_t>(rng() % 120) * kSec +
             static_cast<std::int64_t>(rng() % 3) * 1000;
      double v = static_cast<double>(rng() % 1000) / 100;
      std::int64_t t = std::max(now, newest.count(key) ? newest[key] : now);
      ASSERT_TRUE(Append(sensor, param, t, v).ok());
      model[key][t] = v;
      newest[key] = std::max(newest[key], t);
    } else if (kind < 90 && newest.count(key)) {  // late or duplicate, within the window
      std::int64_t back = static_cast<std::int64_t>(rng() % (kHourNs / kSec)) * kSec;
      std::int64_t t = std::max<std::int64_t>(kDay0, newest[key] - back);
      auto existing = model[key].lower_bound(t);
      if (rng() % 2 && existing != model[key].end()) t = existing->first;  // a duplicate
      auto probe = head_->ProbeSeries(sensor, Id(sensor), param, t);
      ASSERT_TRUE(probe.ok());
      if (probe->too_late || probe->window_samples >= kMaxChunkSamples) continue;
      double v = static_cast<double>(rng() % 1000) / 100;
      ASSERT_TRUE(Append(sensor, param, t, v).ok());
      if (model[key].count(t) != 0) ++duplicate_ops;
      ++late_ops;
      model[key][t] = v;
    } else if (kind < 93) {
      ASSERT_TRUE(head_->SealBefore(now - kHourNs, [](std::uint32_t s) { return Id(s); }).ok());
    } else if (kind < 94) {
      // Restart: what a checkpoint keeps of the head, over the block store reopened.
      struct Kept {
        std::uint32_t sensor;
        std::string parameter, chunk;
        SeriesCheckpoint c;
      };
      std::vector<Kept> kept;
      head_->ForEachSeries([&](std::uint32_t sensor, const SeriesCheckpoint& c) {
        kept.push_back({sensor, std::string(c.parameter), std::string(c.chunk), c});
      });
      ASSERT_TRUE(store_->MakeDurable().ok());
      Open();
      for (Kept& k : kept) {
        k.c.parameter = k.parameter;
        k.c.chunk = k.chunk;
        ASSERT_TRUE(head_->RestoreSeries(k.sensor, k.c).ok());
      }
      ++restarts;
    } else if (kind < 95) {
      // Retention of raw and 1-minute data older than six hours (whole days go).
      std::int64_t cutoff = BucketStart(now - 6 * kHourNs, 24 * kHourNs);
      if (BucketStart(cutoff - options_.chunk_span_ns, 24 * kHourNs) <= dropped_before) continue;
      ASSERT_TRUE(head_->SealBefore(cutoff, [](std::uint32_t s) { return Id(s); }).ok());
      ASSERT_TRUE(store_->DropBefore(StoreLevel::kRaw, cutoff).ok());
      ASSERT_TRUE(store_->DropBefore(StoreLevel::kRollup1m, cutoff).ok());
      // Whole days of chunk starts go, once their last window is past the cutoff too.
      dropped_before = BucketStart(cutoff - options_.chunk_span_ns, 24 * kHourNs);
      ++retentions;
    } else {
      std::int64_t from =
          kDay0 +
          static_cast<std::int64_t>(rng() % std::max<std::int64_t>(1, (now - kDay0) / kSec)) * kSec;
      std::int64_t to = from + static_cast<std::int64_t>(rng() % (3 * kHourNs / kSec)) * kSec;
      const std::int64_t steps[] = {0, 7 * kSec, kMinuteNs, 5 * kMinuteNs, kHourNs, 2 * kHourNs};
      std::int64_t step = steps[rng() % 6];
      auto got = Read(sensor, param, from, to, step, Aggregation::kSum);
      std::map<std::int64_t, double> series = model[key];
      if (LevelForStep(step) != StoreLevel::kRollup1h) {
        std::erase_if(series, [&](const auto& kv) {
          return window_start(sensor, kv.first) < dropped_before;
        });
      }
      if (step == 0) {
        std::vector<std::pair<std::int64_t, double>> want(series.lower_bound(from),
                                                          series.upper_bound(to));
        ASSERT_EQ(got.size(), want.size()) << "op " << op;
        for (std::size_t i = 0; i < want.size(); ++i) {
          ASSERT_EQ(got[i].t_ns, want[i].first);
          ASSERT_EQ(got[i].value, want[i].second);
        }
      } else {
        std::map<std::int64_t, std::pair<double, std::uint32_t>> want;
        std::int64_t lo = BucketStart(from, step), hi = BucketStart(to, step) + step - 1;
        for (auto it = series.lower_bound(lo); it != series.end() && it->first <= hi; ++it) {
          auto& b = want[BucketStart(it->first, step)];
          b.first += it->second;
          ++b.second;
        }
        ASSERT_EQ(got.size(), want.size()) << "op " << op << " step " << step;
        std::size_t i = 0;
        for (const auto& [start, b] : want) {
          ASSERT_EQ(got[i].t_ns, start);
          ASSERT_EQ(got[i].count, b.second);
          ASSERT_NEAR(got[i].value, b.first, 1e-9 * std::abs(b.first) + 1e-9);
          ++i;
        }
      }
    }
  }
  EXPECT_GT(late_ops, 100);
  EXPECT_GT(duplicate_ops, 10);
  EXPECT_GT(restarts, 10);
  EXPECT_GT(retentions, 0);
  EXPECT_GT(dropped_before, kDay0);
}

}  // namespace
}  // namespace aquawatch
