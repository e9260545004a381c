// Decoded samples of one series, and the conversions between them and chunks.
//
// The head and the store keep samples as chunks (chunk.h); a late reading or a query needs them
// as plain (time, value, quality) triples. Times here are always nanoseconds since the epoch;
// only the chunk bytes use the chunk's own, coarser unit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/tsdb/chunk.h"

namespace aquawatch {

struct Sample {
  std::int64_t t_ns = 0;
  double value = 0;
  Quality quality = Quality::kGood;
};

// The coarsest chunk unit that represents `t_ns` exactly.
TimeUnit UnitFor(std::int64_t t_ns);
// The coarser of two units is the one with the larger factor; this returns the finer one.
TimeUnit FinerUnit(TimeUnit a, TimeUnit b);
std::int64_t UnitFactor(TimeUnit unit);

// Appends every sample of `chunk` to `out`, times converted to ns.
Status DecodeChunk(std::string_view chunk, std::vector<Sample>& out);

// The decimals a version 2 chunk needs to hold every value exactly, or -1 (XOR values).
int DecimalsForAll(const std::vector<Sample>& samples);

// A chunk writer holding `samples` (in time order), in the coarsest unit that fits them all, ready
// for more appends. REQUIRES: samples.size() ≤ kMaxChunkSamples, times non-decreasing.
ChunkWriter WriterFor(const std::vector<Sample>& samples);
inline std::string EncodeChunk(const std::vector<Sample>& samples) {
  return std::string(WriterFor(samples).bytes());
}

// Puts `s` into the time-ordered `samples`: replaces the sample with the same time (last write
// wins; returns true) or inserts it in order (returns false).
bool MergeSample(std::vector<Sample>& samples, const Sample& s);

}  // namespace aquawatch
