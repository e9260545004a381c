#include "store/tsdb/query.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace aquawatch {
namespace {

Status TooMany(const SeriesRead& read) {
  return Status::InvalidArgument(
      fmt::format("the answer for {} {} has more than {} points; narrow the range or use a "
                  "larger step",
                  read.sensor, read.parameter, read.max_points));
}

}  // namespace

std::optional<Aggregation> ParseAggregation(std::string_view name) {
  if (name == "avg" || name == "mean") return Aggregation::kAvg;
  if (name == "min") return Aggregation::kMin;
  if (name == "max") return Aggregation::kMax;
  if (name == "last") return Aggregation::kLast;
  if (name == "count") return Aggregation::kCount;
  if (name == "sum") return Aggregation::kSum;
  return std::nullopt;
}

const char* AggregationName(Aggregation agg) {
  switch (agg) {
    case Aggregation::kAvg:
      return "avg";
    case Aggregation::kMin:
      return "min";
    case Aggregation::kMax:
      return "max";
    case Aggregation::kLast:
      return "last";
    case Aggregation::kCount:
      return "count";
    case Aggregation::kSum:
      return "sum";
  }
  return "avg";
}

double Aggregate(const RollupBucket& b, Aggregation agg) {
  switch (agg) {
    case Aggregation::kAvg:
      return b.sum / b.count;
    case Aggregation::kMin:
      return b.min;
    case Aggregation::kMax:
      return b.max;
    case Aggregation::kLast:
      return b.last;
    case Aggregation::kCount:
      return b.count;
    case Aggregation::kSum:
      return b.sum;
  }
  return b.sum / b.count;
}

StoreLevel LevelForStep(std::int64_t step_ns) {
  if (step_ns > 0 && step_ns % kHourNs == 0) return StoreLevel::kRollup1h;
  if (step_ns > 0 && step_ns % kMinuteNs == 0) return StoreLevel::kRollup1m;
  return StoreLevel::kRaw;
}

Status ReadSeries(BlockStore& store, const std::optional<OpenChunk>& head, const SeriesRead& read,
                  std::vector<SeriesPoint>& out) {
  if (read.to_ns < read.from_ns) return Status::InvalidArgument("`to` is before `from`");
  const bool raw = read.step_ns == 0;
  if (read.step_ns < 0) return Status::InvalidArgument("`step` must be positive");
  if (!raw && read.to_ns > std::numeric_limits<std::int64_t>::max() - read.step_ns) {
    return Status::InvalidArgument("`to` is too far in the future");
  }
  // With a step, whole buckets: from the start of the first to the end of the last.
  const std::int64_t lo = raw ? read.from_ns : BucketStart(read.from_ns, read.step_ns);
  const std::int64_t hi =
      raw ? read.to_ns : BucketStart(read.to_ns, read.step_ns) + (read.step_ns - 1);
  // A stepped read could return every bucket of the range: refuse it before scanning anything.
  if (!raw && (static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo)) /
                      static_cast<std::uint64_t>(read.step_ns) >=
                  read.max_points) {
    return TooMany(read);
  }
  const StoreLevel level = raw ? StoreLevel::kRaw : LevelForStep(read.step_ns);
  const std::int64_t level_step = level == StoreLevel::kRollup1h   ? kHourNs
                                  : level == StoreLevel::kRollup1m ? kMinuteNs
                                                                   : 0;
  const std::size_t first_out = out.size();
  std::vector<Sample> samples;
  std::vector<RollupBucket> buckets;
  Status error;
  bool head_in_store = false;

  // Sealed data of the level, in window order; then the head's window, unless it was sealed
  // meanwhile (the stored copy is then at least as new).
  Status st = store.Scan(level, read.sensor, read.parameter, lo, hi,
                         [&](std::int64_t start, std::string_view value) {
                           if (!error.ok()) return;
                           if (head && start == head->start_ns) head_in_store = true;
                           if (level == StoreLevel::kRaw) {
                             error = DecodeChunk(value, samples);
                           } else if (value == kSeeRawRecord) {
                             // Sparse data: the chunk itself is the roll-up's source.
                             auto chunk = store.GetChunk(read.sensor, read.parameter, start);
                             if (!chunk.ok()) {
                               error = chunk.status();
                             } else if (chunk->has_value()) {
                               std::vector<Sample> raw;
                               error = DecodeChunk(**chunk, raw);
                               BuildRollup(raw, level_step, buckets);
                             }
                           } else {
                             error = DecodeRollup(value, start, level_step, buckets);
                           }
                         });
  if (!st.ok()) return st;
  if (!error.ok()) return error;
  if (head && !head_in_store && head->start_ns <= hi) {
    std::vector<Sample> head_samples;
    st = DecodeChunk(head->bytes, head_samples);
    if (!st.ok()) return st;
    if (level == StoreLevel::kRaw) {
      samples.insert(samples.end(), head_samples.begin(), head_samples.end());
    } else {
      BuildRollup(head_samples, level_step, buckets);
    }
  }

  if (raw) {
    for (const Sample& s : samples) {
      if (s.t_ns < lo || s.t_ns > hi) continue;
      if (out.size() - first_out >= read.max_points) return TooMany(read);
      out.push_back({s.t_ns, s.value, s.quality, 1});
    }
    return Status::Ok();
  }
  // Fold the level's buckets (or raw samples) into buckets of the asked step.
  RollupBucket acc;
  auto flush = [&]() -> bool {
    if (acc.count == 0) return true;
    if (out.size() - first_out >= read.max_points) return false;
    out.push_back({acc.start_ns, Aggregate(acc, read.agg), Quality::kGood, acc.count});
    acc = RollupBucket();
    return true;
  };
  auto add = [&](std::int64_t t, const RollupBucket& b) -> bool {
    if (t < lo || t > hi) return true;
    std::int64_t start = BucketStart(t, read.step_ns);
    if (acc.count != 0 && acc.start_ns != start && !flush()) return false;
    RollupBucket piece = b;
    piece.start_ns = start;
    acc.Merge(piece);
    return true;
  };
  if (level == StoreLevel::kRaw) {
    for (const Sample& s : samples) {
      if (!Aggregated(s)) continue;
      if (!add(s.t_ns, {s.t_ns, 1, s.value, s.value, s.value, s.value})) return TooMany(read);
    }
  } else {
    for (const RollupBucket& b : buckets) {
      if (!add(b.start_ns, b)) return TooMany(read);
    }
  }
  if (!flush()) return TooMany(read);
  return Status::Ok();
}

}  // namespace aquawatch
