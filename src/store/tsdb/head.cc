#include "store/tsdb/head.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "core/clock.h"
#include "core/hash.h"
#include "store/tsdb/rollup.h"

namespace aquawatch {
namespace {

// The shard thread is the only writer of the head's counters: a plain load and store is enough
// for readers on other threads, and cheaper than a locked add on the hot path.
void Bump(std::atomic<std::uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

}  // namespace

void ShardHead::AccountBytes(std::size_t before, std::size_t after) {
  if (before == after) return;
  stats_.bytes.store(stats_.bytes.load(std::memory_order_relaxed) + after - before,
                     std::memory_order_relaxed);
}

std::string_view ShardHead::OpenBytes(Series& s) {
  const std::size_t had = s.writer.heap_bytes();
  const std::string_view bytes = s.writer.bytes();  // writes the pending bits: may grow
  AccountBytes(had, s.writer.heap_bytes());
  return bytes;
}

Status ValidateHeadOptions(const HeadOptions& options) {
  if (options.chunk_span_ns < kMinuteNs || kHourNs % options.chunk_span_ns != 0) {
    return Status::InvalidArgument(
        "store.chunk_span must divide one hour and be at least one minute (e.g. 10m, 20m, 1h)");
  }
  if (options.late_window_ns < 0) {
    return Status::InvalidArgument("store.late_window must not be negative");
  }
  return Status::Ok();
}

ShardHead::ShardHead(BlockStore& store, const HeadOptions& options)
    : store_(store), options_(options) {}

std::int32_t ShardHead::WindowOffsetMs(std::string_view sensor_id) const {
  return options_.stagger_windows
             ? static_cast<std::int32_t>(StaggeredWindowOffset(sensor_id, options_.chunk_span_ns) /
                                         kNsPerMs)
             : 0;
}

std::int64_t ShardHead::LastNs(const Series& s) {
  return s.writer.size() == 0 ? std::numeric_limits<std::int64_t>::min()
                              : s.writer.last_time() * UnitFactor(s.unit);
}

// Checked, because the head holds one Series per sensor and parameter: 60 million of them for
// the fleet the engine is sized for (docs/benchmarks.md, "Memory per sensor").
static_assert(sizeof(ChunkWriter) <= 80);

std::int64_t StaggeredWindowOffset(std::string_view sensor_id, std::int64_t chunk_span_ns) {
  // FNV-1a, then a finaliser so the offset does not follow the shard routing (FNV-1a mod the
  // partitions): stable across builds, so a sensor keeps its windows across restarts.
  std::uint64_t h = Fnv1a64(sensor_id);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  const auto minutes = static_cast<std::uint64_t>(chunk_span_ns / kMinuteNs);
  return static_cast<std::int64_t>(h % minutes) * kMinuteNs;
}

std::int64_t ShardHead::WindowStart(const Series& s, std::int64_t t_ns) const {
  const std::int64_t offset = s.window_offset_ms < 0 ? 0 : s.window_offset_ms * kNsPerMs;
  // The first window after the epoch is cut short at 0: keys start at the epoch.
  return std::max<std::int64_t>(0, BucketStart(t_ns - offset, options_.chunk_span_ns) + offset);
}

std::uint32_t ShardHead::NameId(std::string_view parameter) {
  auto it = name_ids_.find(parameter);
  if (it != name_ids_.end()) return it->second;
  auto id = static_cast<std::uint32_t>(names_.size());
  names_.emplace_back(parameter);
  name_ids_.emplace(names_.back(), id);
  return id;
}

std::ptrdiff_t ShardHead::SlotOf(std::uint32_t sensor, std::uint32_t name) const {
  const std::vector<Series>& mine = series_[sensor];
  if (mine.size() > kScanSeries) {
    auto it = wide_slots_.find(std::uint64_t{sensor} << 32 | name);
    return it == wide_slots_.end() ? -1 : static_cast<std::ptrdiff_t>(it->second);
  }
  for (std::size_t i = 0; i < mine.size(); ++i) {
    if (mine[i].name == name) return static_cast<std::ptrdiff_t>(i);
  }
  return -1;
}

const ShardHead::Series* ShardHead::Find(std::uint32_t sensor, std::string_view parameter,
                                         std::size_t slot_hint) const {
  if (sensor >= series_.size()) return nullptr;
  const std::vector<Series>& mine = series_[sensor];
  // Readings of a sensor list their parameters in the same order every time.
  if (slot_hint < mine.size() && names_[mine[slot_hint].name] == parameter) {
    return &mine[slot_hint];
  }
  auto it = name_ids_.find(parameter);
  if (it == name_ids_.end()) return nullptr;
  std::ptrdiff_t slot = SlotOf(sensor, it->second);
  return slot < 0 ? nullptr : &mine[static_cast<std::size_t>(slot)];
}

ShardHead::Series& ShardHead::FindOrAdd(std::uint32_t sensor, std::string_view parameter,
                                        std::size_t slot_hint) {
  if (sensor >= series_.size()) {
    const std::size_t had = series_.capacity();
    series_.resize(sensor + 1);
    AccountBytes(had * sizeof(series_[0]), series_.capacity() * sizeof(series_[0]));
  }
  std::vector<Series>& mine = series_[sensor];
  if (slot_hint < mine.size() && names_[mine[slot_hint].name] == parameter) {
    return mine[slot_hint];
  }
  const std::uint32_t name = NameId(parameter);
  if (std::ptrdiff_t slot = SlotOf(sensor, name); slot >= 0) {
    return mine[static_cast<std::size_t>(slot)];
  }
  static_assert(sizeof(Series) <= 112);
  const std::size_t had = mine.capacity();
  // Exact growth for a sensor's handful of series: doubling left a 6-parameter probe with room
  // for 8 (a fifth of the head's memory).
  if (mine.size() < kScanSeries && mine.size() == had) mine.reserve(had + 1);
  Series& s = mine.emplace_back();
  AccountBytes(had * sizeof(Series), mine.capacity() * sizeof(Series));
  s.name = name;
  s.window_start = std::numeric_limits<std::int64_t>::min();
  s.newest_ns = std::numeric_limits<std::int64_t>::min();
  if (mine.size() == kScanSeries + 1) {  // from now on this sensor is indexed
    for (std::size_t i = 0; i < mine.size(); ++i) {
      wide_slots_.emplace(std::uint64_t{sensor} << 32 | mine[i].name,
                          static_cast<std::uint32_t>(i));
    }
  } else if (mine.size() > kScanSeries + 1) {
    wide_slots_.emplace(std::uint64_t{sensor} << 32 | name,
                        static_cast<std::uint32_t>(mine.size() - 1));
  }
  Bump(stats_.series);
  return s;
}

Result<ShardHead::Probe> ShardHead::ProbeSeries(std::uint32_t sensor, std::string_view sensor_id,
                                                std::string_view parameter, std::int64_t t_ns,
                                                std::size_t slot_hint) const {
  Probe probe;
  const Series* s = Find(sensor, parameter, slot_hint);
  if (s == nullptr || s->window_offset_ms < 0) {
    Series fresh;
    fresh.window_offset_ms = WindowOffsetMs(sensor_id);
    probe.window_start = WindowStart(fresh, t_ns);
    if (s == nullptr) return probe;
  }
  probe.exists = true;
  if (s->newest_ns != std::numeric_limits<std::int64_t>::min() &&
      t_ns < s->newest_ns - options_.late_window_ns) {
    probe.too_late = true;
    return probe;
  }
  if (s->window_offset_ms >= 0) probe.window_start = WindowStart(*s, t_ns);
  const std::int64_t window = probe.window_start;
  if (s->window_start == std::numeric_limits<std::int64_t>::min()) return probe;
  if (window > s->window_start) return probe;  // a window not begun yet
  if (window == s->window_start && s->open) {
    probe.window_samples = s->writer.size();
    return probe;
  }
  // A late value for a sealed window (rare): the sealed chunk's header has its count.
  auto sealed = store_.GetChunk(sensor_id, parameter, window);
  if (!sealed.ok()) return sealed.status();
  if (sealed->has_value()) {
    auto reader = ChunkReader::Open(**sealed);
    if (reader.ok()) probe.window_samples = reader->size();
  }
  return probe;
}

void ShardHead::Clear() {
  series_.clear();
  names_.clear();
  name_ids_.clear();
  wide_slots_.clear();
  stats_.series.store(0, std::memory_order_relaxed);
  stats_.bytes.store(0, std::memory_order_relaxed);
}

Status ShardHead::Append(std::uint32_t sensor, std::string_view sensor_id,
                         std::string_view parameter, const Sample& sample, std::size_t slot_hint) {
  Series& s = FindOrAdd(sensor, parameter, slot_hint);
  s.touched = true;
  if (s.window_offset_ms < 0) s.window_offset_ms = WindowOffsetMs(sensor_id);
  const std::int64_t window = WindowStart(s, sample.t_ns);
  if (sample.t_ns > s.newest_ns) s.newest_ns = sample.t_ns;
  if (window > s.window_start) {
    if (s.open) {
      Status st = Seal(sensor_id, s);
      if (!st.ok()) return st;
    }
    s.open = true;
    s.window_start = window;
    s.unit = UnitFor(sample.t_ns);
    // Quantised readings go in a decimal chunk; the series' last chunk tells how many decimals.
    if (!FitsDecimals(sample.value, s.decimals)) {
      s.decimals = static_cast<std::int8_t>(DecimalsFor(sample.value));
    }
    const std::size_t had = s.writer.heap_bytes();
    s.writer = ChunkWriter(s.unit, s.decimals);
    AccountBytes(had, s.writer.heap_bytes());
  } else if (window < s.window_start || !s.open) {
    Bump(stats_.late);
    return RewriteSealed(sensor_id, parameter, window, sample);
  }
  // From the series, not the chunk's header: the header is a cache miss the hot path can skip.
  const std::int64_t factor = UnitFactor(s.unit);
  if ((s.writer.size() == 0 || sample.t_ns > s.writer.last_time() * factor) &&
      sample.t_ns % factor == 0) {
    // The hot path: in order and exact in the chunk's unit.
    const std::size_t had = s.writer.heap_bytes();
    Status st = s.writer.Append(sample.t_ns / factor, sample.value, sample.quality);
    AccountBytes(had, s.writer.heap_bytes());
    if (st.ok()) {
      Bump(stats_.appended);
      return Status::Ok();
    }
    if (s.writer.size() >= kMaxChunkSamples) return st;  // full: admission keeps this out
    // Otherwise the value needs more decimals (or none fit): rebuilt below.
    Bump(stats_.appended);
  }
  if (sample.t_ns <= LastNs(s)) Bump(stats_.late);
  RebuildOpen(s, sample);
  return Status::Ok();
}

void ShardHead::RebuildOpen(Series& s, const Sample& sample) {
  scratch_.clear();
  // The open chunk was written by this process: decoding it cannot fail.
  (void)DecodeChunk(OpenBytes(s), scratch_);
  if (MergeSample(scratch_, sample)) Bump(stats_.duplicates);
  const std::size_t had = s.writer.heap_bytes();
  s.writer = WriterFor(scratch_);
  AccountBytes(had, s.writer.heap_bytes());
  s.unit = s.writer.unit();
  s.decimals = static_cast<std::int8_t>(s.writer.decimals());
}

Status ShardHead::Seal(std::string_view sensor_id, Series& s) {
  scratch_.clear();
  const std::string_view chunk = OpenBytes(s);
  Status st = DecodeChunk(chunk, scratch_);
  if (st.ok()) st = WriteSealed(sensor_id, names_[s.name], s.window_start, chunk, scratch_);
  if (!st.ok()) return st;
  s.open = false;
  AccountBytes(s.writer.heap_bytes(), 0);
  s.writer = ChunkWriter(TimeUnit::kMillis);  // frees the buffer
  Bump(stats_.sealed);
  return Status::Ok();
}

Status ShardHead::RewriteSealed(std::string_view sensor_id, std::string_view parameter,
                                std::int64_t window, const Sample& sample) {
  auto existing = store_.GetChunk(sensor_id, parameter, window);
  if (!existing.ok()) return existing.status();
  scratch_.clear();
  if (existing->has_value()) {
    Status st = DecodeChunk(**existing, scratch_);
    if (!st.ok()) {
      return Status::Corruption(fmt::format("sealed chunk of {} {} at {}: {}", sensor_id, parameter,
                                            window, st.message()));
    }
  }
  if (MergeSample(scratch_, sample)) Bump(stats_.duplicates);
  if (scratch_.size() > kMaxChunkSamples) {
    return Status::InvalidArgument(fmt::format("window {} of {} {} already holds {} samples",
                                               window, sensor_id, parameter, kMaxChunkSamples));
  }
  std::string chunk = EncodeChunk(scratch_);
  Bump(stats_.rewritten);
  return WriteSealed(sensor_id, parameter, window, chunk, scratch_);
}

Status ShardHead::WriteSealed(std::string_view sensor_id, std::string_view parameter,
                              std::int64_t window, std::string_view chunk,
                              const std::vector<Sample>& samples) {
  std::vector<RollupBucket> minute, hour;
  BuildRollup(samples, kMinuteNs, minute);
  BuildRollup(samples, kHourNs, hour);
  std::size_t aggregated = 0;
  for (const RollupBucket& b : minute) aggregated += b.count;
  std::string r1m = aggregated >= 2 * minute.size() ? EncodeRollup(window, kMinuteNs, minute)
                                                    : std::string(kSeeRawRecord);
  std::string r1h = EncodeRollup(window, kHourNs, hour);
  return store_.Write({sensor_id, parameter, window, chunk, r1m, r1h});
}

Status ShardHead::SealBefore(std::int64_t cutoff_ns,
                             const std::function<std::string_view(std::uint32_t)>& id_of) {
  for (std::uint32_t sensor = 0; sensor < series_.size(); ++sensor) {
    for (Series& s : series_[sensor]) {
      if (!s.open || s.window_start + options_.chunk_span_ns > cutoff_ns) continue;
      Status st = Seal(id_of(sensor), s);
      if (!st.ok()) return st;
    }
  }
  return Status::Ok();
}

Status ShardHead::SealIdle(std::uint32_t sensor, std::string_view sensor_id) {
  if (sensor >= series_.size()) return Status::Ok();
  for (Series& s : series_[sensor]) {
    if (s.open && !s.touched) {
      Status st = Seal(sensor_id, s);
      if (!st.ok()) return st;
    }
    s.touched = false;
  }
  return Status::Ok();
}

SeriesCheckpoint ShardHead::CheckpointOf(const Series& s, std::string& chunk) const {
  SeriesCheckpoint c;
  c.parameter = names_[s.name];
  c.open = s.open;
  c.touched = s.touched;
  c.window_start = s.window_start;
  c.newest_ns = s.newest_ns;
  c.last_ns = s.open ? LastNs(s) : 0;
  if (s.open) {
    c.writer = s.writer.state();
    s.writer.CopyTo(chunk);  // a copy: readers on other threads may be copying the same writer
    c.chunk = chunk;
  }
  return c;
}

void ShardHead::ForEachSeries(
    const std::function<void(std::uint32_t, const SeriesCheckpoint&)>& fn) const {
  std::string chunk;
  for (std::uint32_t sensor = 0; sensor < series_.size(); ++sensor) {
    for (const Series& s : series_[sensor]) fn(sensor, CheckpointOf(s, chunk));
  }
}

Status ShardHead::RestoreSeries(std::uint32_t sensor, const SeriesCheckpoint& c) {
  Series& s = FindOrAdd(sensor, c.parameter);
  s.open = c.open;
  s.touched = c.touched;
  s.window_start = c.window_start;
  s.newest_ns = c.newest_ns;
  // The windows go on where the checkpoint's left off, staggered or not (older data directories
  // have aligned windows; a sensor must not get overlapping ones).
  if (c.window_start >= 0) {
    if (c.window_start % kNsPerMs != 0) {
      return Status::Corruption("a head series' window does not start at a whole millisecond");
    }
    s.window_offset_ms =
        static_cast<std::int32_t>(c.window_start % options_.chunk_span_ns / kNsPerMs);
  }
  if (c.open) {
    auto writer = ChunkWriter::Resume(c.chunk, c.writer);
    if (!writer.ok()) return writer.status();
    const std::size_t had = s.writer.heap_bytes();
    s.writer = std::move(writer).value();
    AccountBytes(had, s.writer.heap_bytes());
    s.unit = s.writer.unit();
    s.decimals = static_cast<std::int8_t>(s.writer.decimals());
  }
  return Status::Ok();
}

std::optional<OpenChunk> ShardHead::CopyOpen(std::uint32_t sensor,
                                             std::string_view parameter) const {
  const Series* s = Find(sensor, parameter);
  if (s == nullptr || !s->open) return std::nullopt;
  OpenChunk copy{s->window_start, {}};
  s->writer.CopyTo(copy.bytes);
  return copy;
}

void ShardHead::ForEachOpen(const std::function<void(std::uint32_t, std::string_view, std::int64_t,
                                                     const OpenChunk&)>& fn) const {
  OpenChunk copy;
  for (std::uint32_t sensor = 0; sensor < series_.size(); ++sensor) {
    for (const Series& s : series_[sensor]) {
      if (!s.open) continue;
      copy.start_ns = s.window_start;
      s.writer.CopyTo(copy.bytes);
      fn(sensor, names_[s.name], s.newest_ns, copy);
    }
  }
}

}  // namespace aquawatch
