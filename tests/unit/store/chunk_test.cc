#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "store/tsdb/chunk.h"

namespace aquawatch {
namespace {

struct Sample {
  std::int64_t t;
  double v;
  Quality q;
};

std::string Encode(const std::vector<Sample>& samples, TimeUnit unit = TimeUnit::kMillis) {
  ChunkWriter w(unit);
  for (const Sample& s : samples) EXPECT_TRUE(w.Append(s.t, s.v, s.q).ok());
  return std::string(w.bytes());
}

std::vector<Sample> Decode(std::string_view bytes) {
  auto r = ChunkReader::Open(bytes);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  std::vector<Sample> out;
  if (!r.ok()) return out;
  while (r->Next()) out.push_back({r->t(), r->value(), r->quality()});
  EXPECT_TRUE(r->status().ok()) << r->status().ToString();
  return out;
}

void ExpectRoundTrip(const std::vector<Sample>& in) {
  std::vector<Sample> out = Decode(Encode(in));
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].t, in[i].t) << i;
    // Bit-for-bit, so NaN payloads and signed zeros survive.
    EXPECT_EQ(std::bit_cast<std::uint64_t>(out[i].v), std::bit_cast<std::uint64_t>(in[i].v)) << i;
    EXPECT_EQ(out[i].q, in[i].q) << i;
  }
}

TEST(Chunk, SingleSample) { ExpectRoundTrip({{1764237600000, 7.25, Quality::kGood}}); }

// The head keeps one open writer per series: its buffer grows by a quarter, not by doubling,
// and a writer resumed from a checkpoint goes on with the last value it had (the writer keeps
// one word for it, the bits of an XOR chunk or the integer of a decimal one).
TEST(Chunk, WriterBuffersGrowByAQuarterAndResumeWithTheLastValue) {
  for (int decimals : {-1, 2}) {
    ChunkWriter w(TimeUnit::kMillis, decimals);
    std::int64_t t = 1764237600000;
    for (int i = 0; i < 2000; ++i) {
      const double v = (700 + (i * 37) % 101) / 100.0;  // exactly 2 decimals
      ASSERT_TRUE(w.Append(t + i * 10000, v).ok());
      if (i % 50 == 0 || i == 1999) {
        const std::size_t size = w.bytes().size();
        EXPECT_LE(w.heap_bytes(), size + size / 4 + 33) << decimals << " " << i;
      }
    }
    const std::string bytes(w.bytes());
    auto resumed = ChunkWriter::Resume(bytes, w.state());
    ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
    ASSERT_TRUE(resumed->Append(t + 2000 * 10000, 7.5).ok());
    ASSERT_TRUE(w.Append(t + 2000 * 10000, 7.5).ok());
    EXPECT_EQ(resumed->bytes(), w.bytes()) << decimals;
    std::vector<Sample> out = Decode(w.bytes());
    ASSERT_EQ(out.size(), 2001u);
    EXPECT_EQ(out.back().v, 7.5);
    EXPECT_EQ(out[1998].v, (700 + (1998 * 37) % 101) / 100.0);
  }
}

TEST(Chunk, RegularQuantisedSeries) {
  std::vector<Sample> in;
  std::mt19937 rng(1);
  std::normal_distribution<double> n(0, 0.01);
  for (int i = 0; i < 8640; ++i) {
    double v = std::round((7.3 + n(rng)) / 0.01) * 0.01;
    in.push_back({1764237600000 + i * 10000, v, Quality::kGood});
  }
  ExpectRoundTrip(in);
}

TEST(Chunk, SpecialValuesAndHugeJumps) {
  const double inf = std::numeric_limits<double>::infinity();
  ExpectRoundTrip({{0, std::nan(""), Quality::kMissing},
                   {0, inf, Quality::kBad},  // equal timestamps are allowed
                   {1, -inf, Quality::kBad},
                   {2, 0.0, Quality::kGood},
                   {3, -0.0, Quality::kGood},
                   {4, 1e308, Quality::kSuspect},
                   {5, -1e-308, Quality::kSuspect},
                   {6, std::numeric_limits<double>::denorm_min(), Quality::kGood},
                   {7, std::bit_cast<double>(0x7ff8dead00000001ull), Quality::kGood},
                   {1'000'000'007, 42, Quality::kGood},
                   {1'000'000'008, 42, Quality::kGood},
                   {std::numeric_limits<std::int64_t>::max(), 1, Quality::kGood}});
}

TEST(Chunk, NegativeAndExtremeTimestamps) {
  ExpectRoundTrip({{std::numeric_limits<std::int64_t>::min(), 1, Quality::kGood},
                   {-5, 2, Quality::kGood},
                   {-5, 3, Quality::kGood},
                   {std::numeric_limits<std::int64_t>::max(), 4, Quality::kGood}});
}

TEST(Chunk, EveryDeltaOfDeltaBucketBoundary) {
  std::vector<Sample> in{{0, 1, Quality::kGood}, {1000, 1, Quality::kGood}};
  std::int64_t t = 1000, delta = 1000;
  for (std::int64_t dod : {0LL, 8191LL, -8192LL, 8192LL, -8193LL, 65535LL, -65536LL, 65536LL,
                           524287LL, -524288LL, 524288LL, 1LL << 40}) {
    delta += dod;
    if (delta < 0) delta = 0;
    t += delta;
    in.push_back({t, 1, Quality::kGood});
  }
  ExpectRoundTrip(in);
}

TEST(Chunk, RejectsOutOfOrderAndFull) {
  ChunkWriter w(TimeUnit::kMillis);
  ASSERT_TRUE(w.Append(10, 1).ok());
  EXPECT_FALSE(w.Append(9, 1).ok());
  EXPECT_EQ(w.size(), 1u);
  for (std::size_t i = 1; i < kMaxChunkSamples; ++i) ASSERT_TRUE(w.Append(10, 1).ok());
  EXPECT_FALSE(w.Append(10, 1).ok());
  EXPECT_EQ(Decode(w.bytes()).size(), kMaxChunkSamples);
}

TEST(Chunk, TruncatedChunkIsCorruptionNeverAnOverRead) {
  std::vector<Sample> in;
  for (int i = 0; i < 100; ++i) in.push_back({i * 1000LL + (i % 3), i * 0.5, Quality::kGood});
  std::string bytes = Encode(in);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    auto r = ChunkReader::Open(std::string_view(bytes).substr(0, cut));
    if (!r.ok()) continue;  // header damaged
    std::size_t n = 0;
    while (r->Next()) ++n;
    EXPECT_LT(n, in.size()) << cut;
    EXPECT_EQ(r->status().code(), StatusCode::kCorruption) << cut;
  }
}

TEST(Chunk, BadHeaderIsCorruption) {
  EXPECT_FALSE(ChunkReader::Open("").ok());
  EXPECT_FALSE(ChunkReader::Open(std::string("\x02\x00\x01\x00", 4)).ok());
  EXPECT_FALSE(ChunkReader::Open(std::string("\x01\x07\x01\x00", 4)).ok());
  EXPECT_FALSE(ChunkReader::Open(std::string("\x01\x00\x00\x00", 4)).ok());
}

TEST(DecimalChunk, FitsDecimalsOnlyWhenTheValueComesBackExactly) {
  EXPECT_EQ(DecimalsFor(7.0), 0);
  EXPECT_EQ(DecimalsFor(7.23), 2);
  EXPECT_EQ(DecimalsFor(-0.412), 3);
  EXPECT_EQ(DecimalsFor(0.0), 0);
  EXPECT_EQ(DecimalsFor(-0.0), -1);
  EXPECT_EQ(DecimalsFor(std::nan("")), -1);
  EXPECT_EQ(DecimalsFor(INFINITY), -1);
  EXPECT_EQ(DecimalsFor(1e300), -1);      // beyond 2^53
  EXPECT_EQ(DecimalsFor(0.1 + 0.2), -1);  // 0.30000000000000004 is not 0.3
  EXPECT_EQ(DecimalsFor(1.0 / 3.0), -1);
  EXPECT_TRUE(FitsDecimals(7.2, 5));
  EXPECT_FALSE(FitsDecimals(7.25, 1));
}

TEST(DecimalChunk, RoundTripsQuantisedValuesInFewBits) {
  std::vector<Sample> in;
  std::mt19937 rng(3);
  double level = 712;  // hundredths
  for (int i = 0; i < 1000; ++i) {
    level += static_cast<int>(rng() % 5) - 2;
    double v = level / 100;
    if (i == 500) v = -123456.78;  // a big jump each way
    if (i == 700) v = 0;
    in.push_back({1000LL * i, v, i % 97 == 0 ? Quality::kSuspect : Quality::kGood});
  }
  ChunkWriter w(TimeUnit::kMillis, 2);
  for (const Sample& s : in) ASSERT_TRUE(w.Append(s.t, s.v, s.q).ok()) << s.v;
  EXPECT_EQ(w.bytes()[0], 2);
  // A value with more decimals is refused and leaves the chunk as it was.
  const std::string before(w.bytes());
  EXPECT_FALSE(w.Append(2'000'000, 7.125).ok());
  EXPECT_FALSE(w.Append(2'000'000, std::nan("")).ok());
  EXPECT_EQ(before, w.bytes());
  auto out = Decode(w.bytes());
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    ASSERT_EQ(out[i].t, in[i].t);
    ASSERT_EQ(std::bit_cast<std::uint64_t>(out[i].v), std::bit_cast<std::uint64_t>(in[i].v)) << i;
    ASSERT_EQ(out[i].q, in[i].q);
  }
  // Small steps of the resolution cost a few bits: well under a byte per sample here.
  EXPECT_LT(w.bytes().size(), in.size());
  // Cut anywhere: corruption, never an over-read.
  for (std::size_t cut = 0; cut < w.bytes().size(); ++cut) {
    auto r = ChunkReader::Open(w.bytes().substr(0, cut));
    if (!r.ok()) continue;
    while (r->Next()) {
    }
    EXPECT_EQ(r->status().code(), StatusCode::kCorruption) << cut;
  }
}

TEST(DecimalChunk, WriterResumesFromItsState) {
  ChunkWriter w(TimeUnit::kMillis, 1);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(w.Append(i * 10, 7.0 + i * 0.1).ok());
  auto resumed = ChunkWriter::Resume(w.bytes(), w.state());
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  for (int i = 10; i < 20; ++i) {
    ASSERT_TRUE(w.Append(i * 10, 7.0 + i * 0.1).ok());
    ASSERT_TRUE(resumed->Append(i * 10, 7.0 + i * 0.1).ok());
  }
  EXPECT_EQ(w.bytes(), resumed->bytes());
  ChunkWriterState bad = w.state();
  bad.decimals = 3;
  EXPECT_FALSE(ChunkWriter::Resume(w.bytes(), bad).ok());
}

// Found with the checkpoint fuzz target's open-chunk check: an empty chunk (header only) with an
// unknown time unit resumed, so a checkpoint could restore a writer whose sealed chunk no reader
// opens, instead of being refused as corrupt.
TEST(Chunk, ResumeRefusesAnEmptyChunkWithAnUnknownTimeUnit) {
  for (const int decimals : {-1, 2}) {
    SCOPED_TRACE(::testing::Message() << "decimals " << decimals);
    ChunkWriter w(TimeUnit::kNanos, decimals);
    std::string empty(w.bytes());
    ASSERT_TRUE(ChunkWriter::Resume(empty, w.state()).ok());
    empty[1] = 7;  // not ms, us or ns
    auto resumed = ChunkWriter::Resume(empty, w.state());
    EXPECT_EQ(resumed.status().code(), StatusCode::kCorruption);
  }
}

TEST(Chunk, ACopyCarriesPendingBitsAndTheCountAndResumesLikeTheWriter) {
  // Appends collect bits in a word before the buffer sees them: a reader's copy and a
  // checkpoint (state, then copy, as ShardHead::ForEachSeries does) must include them.
  for (const int decimals : {2, -1}) {
    for (int n = 1; n < 40; ++n) {
      SCOPED_TRACE(::testing::Message() << "decimals " << decimals << ", samples " << n);
      ChunkWriter w(TimeUnit::kMillis, decimals);
      std::vector<Sample> in;
      for (int i = 0; i < n; ++i) {
        in.push_back({i * 10'000 + (i % 3), 7.0 + 0.01 * (i % 7),
                      i % 5 == 4 ? Quality::kSuspect : Quality::kGood});
        ASSERT_TRUE(w.Append(in.back().t, in.back().v, in.back().q).ok());
      }
      const ChunkWriterState state = w.state();
      std::string copy;
      w.CopyTo(copy);
      ASSERT_EQ(Decode(copy).size(), in.size());
      auto resumed = ChunkWriter::Resume(copy, state);
      ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
      in.push_back({n * 10'000, 7.5, Quality::kGood});
      ASSERT_TRUE(resumed->Append(in.back().t, in.back().v).ok());
      ASSERT_TRUE(w.Append(in.back().t, in.back().v).ok());
      EXPECT_EQ(resumed->bytes(), w.bytes()) << "the resumed writer writes the same bytes";
      auto out = Decode(w.bytes());
      ASSERT_EQ(out.size(), in.size());
      for (std::size_t i = 0; i < in.size(); ++i) {
        EXPECT_EQ(out[i].t, in[i].t);
        EXPECT_DOUBLE_EQ(out[i].v, in[i].v);
        EXPECT_EQ(out[i].q, in[i].q);
      }
    }
  }
}

}  // namespace
}  // namespace aquawatch
