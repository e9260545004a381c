// Reading one series back: raw samples or step-aligned aggregates, across the head's open chunk,
// sealed chunks and roll-ups.
//
// Buckets are aligned to multiples of `step` since the epoch; every bucket that overlaps
// [from, to] is returned whole. A step that is a multiple of one hour reads the 1-hour roll-ups,
// a multiple of one minute the 1-minute ones, any other step the raw chunks; the answer is the
// same either way, only faster (docs/api.md).
// Thread-safety: as BlockStore; the caller passes a copy of the head's open chunk.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/tsdb/block_store.h"
#include "store/tsdb/head.h"
#include "store/tsdb/rollup.h"

namespace aquawatch {

enum class Aggregation : std::uint8_t { kAvg, kMin, kMax, kLast, kCount, kSum };
// Parses avg|min|max|last|count|sum.
std::optional<Aggregation> ParseAggregation(std::string_view name);
const char* AggregationName(Aggregation agg);

struct SeriesRead {
  std::string_view sensor, parameter;
  std::int64_t from_ns = 0, to_ns = 0;  // inclusive
  std::int64_t step_ns = 0;             // 0: raw samples
  Aggregation agg = Aggregation::kAvg;
  // More points than this is an error (InvalidArgument), not a truncated answer.
  std::size_t max_points = 100'000;
};

struct SeriesPoint {
  std::int64_t t_ns = 0;  // the sample's time, or the bucket's start
  double value = 0;
  Quality quality = Quality::kGood;  // raw samples only
  std::uint32_t count = 1;           // samples aggregated (buckets only)
};

// Which stored level answers a read with this step.
StoreLevel LevelForStep(std::int64_t step_ns);

// Appends the points of `read` to `out`, in time order.
Status ReadSeries(BlockStore& store, const std::optional<OpenChunk>& head, const SeriesRead& read,
                  std::vector<SeriesPoint>& out);

// The aggregate of a bucket.
double Aggregate(const RollupBucket& b, Aggregation agg);

}  // namespace aquawatch
