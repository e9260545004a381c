#include "store/tsdb/rollup.h"

#include "store/tsdb/chunk.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace aquawatch {
namespace {

constexpr std::uint8_t kRollupVersion = 1;  // plain buckets
constexpr std::uint8_t kRollupXor = 2;      // one XOR chunk per column
constexpr int kColumns = 5;                 // count, min, max, sum, last
constexpr std::size_t kBucketBytes = 40;

template <typename T>
void Put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only (docs/format/store.md)
  out.append(buf, sizeof(T));
}

template <typename T>
T Get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

void RollupBucket::Merge(const RollupBucket& later) {
  if (later.count == 0) return;
  if (count == 0) {
    *this = later;
    return;
  }
  count += later.count;
  min = std::min(min, later.min);
  max = std::max(max, later.max);
  sum += later.sum;
  last = later.last;
}

bool Aggregated(const Sample& s) {
  return (s.quality == Quality::kGood || s.quality == Quality::kSuspect) && !std::isnan(s.value);
}

std::int64_t BucketStart(std::int64_t t_ns, std::int64_t step_ns) {
  std::int64_t q = t_ns / step_ns;
  if (t_ns % step_ns < 0) --q;
  return q * step_ns;
}

void BuildRollup(const std::vector<Sample>& samples, std::int64_t step_ns,
                 std::vector<RollupBucket>& out) {
  // Quantised values are summed as integers: the sum is exact, and being a short decimal itself
  // it stores as compactly as the values (record version 2).
  const int decimals = DecimalsForAll(samples);
  const double scale = decimals >= 0 ? std::pow(10.0, decimals) : 1;
  std::int64_t qsum = 0;
  const std::size_t first = out.size();
  auto close = [&] {
    if (decimals >= 0 && out.size() > first) out.back().sum = static_cast<double>(qsum) / scale;
    qsum = 0;
  };
  for (const Sample& s : samples) {
    if (!Aggregated(s)) continue;
    std::int64_t start = BucketStart(s.t_ns, step_ns);
    if (out.size() == first || out.back().start_ns != start) {
      close();
      out.push_back({start, 0, 0, 0, 0, 0});
    }
    out.back().Merge({start, 1, s.value, s.value, s.value, s.value});
    if (decimals >= 0) qsum += static_cast<std::int64_t>(std::nearbyint(s.value * scale));
  }
  close();
}

namespace {

double Column(const RollupBucket& b, int c) {
  switch (c) {
    case 0:
      return b.count;
    case 1:
      return b.min;
    case 2:
      return b.max;
    case 3:
      return b.sum;
    default:
      return b.last;
  }
}

// Version 2: the columns as XOR chunks whose "time" is the bucket index. Neighbouring buckets
// have similar values, so this is several times smaller than version 1 for more than a few
// buckets; version 1 stays smaller for one or two.
std::string EncodeXor(std::int64_t base, std::int64_t step_ns,
                      const std::vector<RollupBucket>& buckets) {
  std::string out;
  out.push_back(static_cast<char>(kRollupXor));
  Put<std::uint16_t>(out, static_cast<std::uint16_t>(buckets.size()));
  for (int c = 0; c < kColumns; ++c) {
    // The fewest decimals that fit the whole column, or XOR values (-1).
    int decimals = 0;
    for (const RollupBucket& b : buckets) {
      if (decimals < 0 || FitsDecimals(Column(b, c), decimals)) continue;
      const int d = DecimalsFor(Column(b, c));
      decimals = d < 0 ? -1 : std::max(decimals, d);
    }
    ChunkWriter w(TimeUnit::kMillis, decimals);
    for (const RollupBucket& b : buckets)
      (void)w.Append((b.start_ns - base) / step_ns, Column(b, c));
    Put<std::uint32_t>(out, static_cast<std::uint32_t>(w.bytes().size()));
    out.append(w.bytes());
  }
  return out;
}

Status DecodeXor(std::string_view bytes, std::int64_t base, std::int64_t step_ns,
                 std::vector<RollupBucket>& out) {
  const std::size_t k = Get<std::uint16_t>(bytes.data() + 1);
  const std::size_t first = out.size();
  out.resize(first + k);
  std::size_t pos = 3;
  for (int c = 0; c < kColumns; ++c) {
    if (bytes.size() < pos + 4) return Status::Corruption("roll-up record ends early");
    const std::size_t n = Get<std::uint32_t>(bytes.data() + pos);
    pos += 4;
    if (bytes.size() - pos < n) return Status::Corruption("roll-up record ends early");
    auto r = ChunkReader::Open(bytes.substr(pos, n));
    if (!r.ok() || r->size() != k) return Status::Corruption("bad roll-up column");
    pos += n;
    for (std::size_t i = 0; i < k; ++i) {
      if (!r->Next()) return Status::Corruption("bad roll-up column");
      RollupBucket& b = out[first + i];
      const double v = r->value();
      switch (c) {
        case 0:
          b.start_ns = base + r->t() * step_ns;
          b.count = static_cast<std::uint32_t>(v);
          break;
        case 1:
          b.min = v;
          break;
        case 2:
          b.max = v;
          break;
        case 3:
          b.sum = v;
          break;
        default:
          b.last = v;
      }
    }
  }
  if (pos != bytes.size()) return Status::Corruption("bytes after a roll-up record");
  return Status::Ok();
}

}  // namespace

std::string EncodeRollup(std::int64_t chunk_start_ns, std::int64_t step_ns,
                         const std::vector<RollupBucket>& buckets) {
  std::string out;
  out.reserve(3 + buckets.size() * kBucketBytes);
  out.push_back(static_cast<char>(kRollupVersion));
  Put<std::uint16_t>(out, static_cast<std::uint16_t>(buckets.size()));
  const std::int64_t base = BucketStart(chunk_start_ns, step_ns);
  for (const RollupBucket& b : buckets) {
    Put<std::uint32_t>(out, static_cast<std::uint32_t>((b.start_ns - base) / step_ns));
    Put<std::uint32_t>(out, b.count);
    Put<double>(out, b.min);
    Put<double>(out, b.max);
    Put<double>(out, b.sum);
    Put<double>(out, b.last);
  }
  if (buckets.size() > 2) {
    std::string packed = EncodeXor(base, step_ns, buckets);
    if (packed.size() < out.size()) return packed;
  }
  return out;
}

Status DecodeRollup(std::string_view bytes, std::int64_t chunk_start_ns, std::int64_t step_ns,
                    std::vector<RollupBucket>& out) {
  if (bytes.size() >= 3 && static_cast<std::uint8_t>(bytes[0]) == kRollupXor) {
    const std::size_t first = out.size();
    Status s = DecodeXor(bytes, BucketStart(chunk_start_ns, step_ns), step_ns, out);
    if (!s.ok()) out.resize(first);
    return s;
  }
  if (bytes.size() < 3 || static_cast<std::uint8_t>(bytes[0]) != kRollupVersion) {
    return Status::Corruption("roll-up record with a bad header");
  }
  const std::size_t k = Get<std::uint16_t>(bytes.data() + 1);
  if (bytes.size() != 3 + k * kBucketBytes) {
    return Status::Corruption("roll-up record of " + std::to_string(bytes.size()) +
                              " bytes does not hold " + std::to_string(k) + " buckets");
  }
  const std::int64_t base = BucketStart(chunk_start_ns, step_ns);
  const char* p = bytes.data() + 3;
  for (std::size_t i = 0; i < k; ++i, p += kBucketBytes) {
    RollupBucket b;
    b.start_ns = base + static_cast<std::int64_t>(Get<std::uint32_t>(p)) * step_ns;
    b.count = Get<std::uint32_t>(p + 4);
    b.min = Get<double>(p + 8);
    b.max = Get<double>(p + 16);
    b.sum = Get<double>(p + 24);
    b.last = Get<double>(p + 32);
    out.push_back(b);
  }
  return Status::Ok();
}

}  // namespace aquawatch
