// Roll-ups: min/max/sum/count/last of a series per fixed step (1 minute, 1 hour).
//
// A roll-up record summarises one chunk at one step; its byte layout is in docs/format/store.md.
// Records are built when a chunk is sealed (and rebuilt when a late reading rewrites it), so
// keeping them costs nothing per reading. Queries merge records and head samples into buckets
// of any multiple of the record's step.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/tsdb/samples.h"  // also DecimalsForAll

namespace aquawatch {

inline constexpr std::int64_t kMinuteNs = 60'000'000'000;
inline constexpr std::int64_t kHourNs = 60 * kMinuteNs;

struct RollupBucket {
  std::int64_t start_ns = 0;
  std::uint32_t count = 0;
  double min = 0, max = 0, sum = 0, last = 0;

  // Folds a later bucket (or sample) of the same span into this one.
  void Merge(const RollupBucket& later);
};

// Whether a sample counts in aggregates: good or suspect, and a number.
bool Aggregated(const Sample& s);

// Start of the step-aligned bucket holding t (floor division, also for negative t).
std::int64_t BucketStart(std::int64_t t_ns, std::int64_t step_ns);

// Aggregates time-ordered samples into buckets of `step_ns`, appending to `out`.
void BuildRollup(const std::vector<Sample>& samples, std::int64_t step_ns,
                 std::vector<RollupBucket>& out);

// A one-byte record saying "no roll-up here: aggregate the raw chunk". Written at the 1-minute
// level when a chunk has fewer than two samples per minute, where a roll-up would cost more
// than the data it summarises (docs/format/store.md).
inline constexpr std::string_view kSeeRawRecord = "\x03";

std::string EncodeRollup(std::int64_t chunk_start_ns, std::int64_t step_ns,
                         const std::vector<RollupBucket>& buckets);
// Appends the record's buckets to `out`.
Status DecodeRollup(std::string_view bytes, std::int64_t chunk_start_ns, std::int64_t step_ns,
                    std::vector<RollupBucket>& out);

}  // namespace aquawatch
