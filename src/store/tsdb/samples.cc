#include "store/tsdb/samples.h"

#include <algorithm>

namespace aquawatch {

std::int64_t UnitFactor(TimeUnit unit) {
  switch (unit) {
    case TimeUnit::kMillis:
      return 1'000'000;
    case TimeUnit::kMicros:
      return 1'000;
    case TimeUnit::kNanos:
      return 1;
  }
  return 1;
}

TimeUnit UnitFor(std::int64_t t_ns) {
  if (t_ns % 1'000'000 == 0) return TimeUnit::kMillis;
  if (t_ns % 1'000 == 0) return TimeUnit::kMicros;
  return TimeUnit::kNanos;
}

TimeUnit FinerUnit(TimeUnit a, TimeUnit b) { return UnitFactor(a) <= UnitFactor(b) ? a : b; }

Status DecodeChunk(std::string_view chunk, std::vector<Sample>& out) {
  auto reader = ChunkReader::Open(chunk);
  if (!reader.ok()) return reader.status();
  const std::int64_t factor = UnitFactor(reader->unit());
  out.reserve(out.size() + reader->size());
  while (reader->Next()) out.push_back({reader->t() * factor, reader->value(), reader->quality()});
  return reader->status();
}

int DecimalsForAll(const std::vector<Sample>& samples) {
  int decimals = 0;
  for (const Sample& s : samples) {
    if (FitsDecimals(s.value, decimals)) continue;
    const int d = DecimalsFor(s.value);
    if (d < 0) return -1;
    decimals = std::max(decimals, d);
  }
  return decimals;
}

ChunkWriter WriterFor(const std::vector<Sample>& samples) {
  TimeUnit unit = TimeUnit::kMillis;
  for (const Sample& s : samples) unit = FinerUnit(unit, UnitFor(s.t_ns));
  const std::int64_t factor = UnitFactor(unit);
  ChunkWriter writer(unit, DecimalsForAll(samples));
  for (const Sample& s : samples) {
    // Cannot fail: the samples are in order, exact in `unit`, and few enough (REQUIRES).
    (void)writer.Append(s.t_ns / factor, s.value, s.quality);
  }
  return writer;
}

bool MergeSample(std::vector<Sample>& samples, const Sample& s) {
  auto it = std::lower_bound(samples.begin(), samples.end(), s.t_ns,
                             [](const Sample& a, std::int64_t t) { return a.t_ns < t; });
  if (it != samples.end() && it->t_ns == s.t_ns) {
    *it = s;
    return true;
  }
  samples.insert(it, s);
  return false;
}

}  // namespace aquawatch
