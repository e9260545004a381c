// ShardHead: the open chunk of every series (sensor × parameter) of one shard.
//
// Each series appends to the chunk of its current time window (docs/format/store.md); when a
// reading for a later window arrives, or the window has been idle for a while, the chunk is
// sealed into the BlockStore with its roll-ups. Late readings within the late window are merged
// into their window, open or sealed, and a repeated timestamp replaces the earlier value (last
// write wins). Nothing here is durable on its own: the shard log covers the head until a
// checkpoint (docs/format/checkpoint.md).
// Thread-safety: the shard thread mutates; readers (queries, checkpoints) must hold the shard's
// state lock, which the shard thread holds exclusively while it appends.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "store/tsdb/block_store.h"
#include "store/tsdb/samples.h"

namespace aquawatch {

struct HeadOptions {
  // Must divide one hour (so roll-up buckets never straddle chunks); see ValidateHeadOptions.
  std::int64_t chunk_span_ns = 3'600'000'000'000LL;  // docs/format/store.md: why one hour
  // How far behind a series' newest reading a late one is still accepted.
  std::int64_t late_window_ns = 3'600'000'000'000LL;
  // Each sensor's windows start at its own whole minute of the span (a hash of its id), so the
  // fleet's chunks do not all seal in the same seconds (docs/format/store.md). Off: windows
  // aligned to the span, as data directories from before this option have them.
  bool stagger_windows = true;
};

Status ValidateHeadOptions(const HeadOptions& options);

// Where a sensor's staggered chunk windows start within the span: a whole minute from a hash of
// its id, stable across builds and restarts.
std::int64_t StaggeredWindowOffset(std::string_view sensor_id, std::int64_t chunk_span_ns);

struct HeadStats {
  std::atomic<std::uint64_t> appended{0};    // values stored in order
  std::atomic<std::uint64_t> late{0};        // values merged behind a series' newest
  std::atomic<std::uint64_t> duplicates{0};  // values that replaced one with the same time
  std::atomic<std::uint64_t> sealed{0};      // chunks written to the block store
  std::atomic<std::uint64_t> rewritten{0};   // sealed chunks rewritten by a late value
  std::atomic<std::uint64_t> series{0};      // series with state in the head
  // Heap bytes of series state and open chunk buffers (the head's share of memory per sensor).
  std::atomic<std::uint64_t> bytes{0};
};

// What a query or checkpoint sees of one series' open chunk.
struct OpenChunk {
  std::int64_t start_ns = 0;
  std::string bytes;
};

// One series' whole head state, for checkpoints (docs/format/checkpoint.md).
struct SeriesCheckpoint {
  std::string_view parameter;
  bool open = false, touched = false;
  std::int64_t window_start = 0, newest_ns = 0, last_ns = 0;
  ChunkWriterState writer;
  std::string_view chunk;  // the open chunk's bytes; empty when not open
};

class ShardHead {
 public:
  ShardHead(BlockStore& store, const HeadOptions& options);

  // What the head knows of a series before a value at `t_ns` reaches the log (admission).
  struct Probe {
    bool exists = false;    // the series has state in the head
    bool too_late = false;  // older than the series' newest minus the late window
    // The chunk window that holds t_ns, and the samples already in it (open, sealed or not
    // begun yet).
    std::int64_t window_start = 0;
    std::size_t window_samples = 0;
  };
  // `sensor_id` names the series in the block store, for a window that is already sealed;
  // `slot_hint` as for Append. Errors come from the block store.
  Result<Probe> ProbeSeries(std::uint32_t sensor, std::string_view sensor_id,
                            std::string_view parameter, std::int64_t t_ns,
                            std::size_t slot_hint = 0) const;
  // Series (parameters) the shard's sensor number `sensor` has.
  std::size_t SeriesCount(std::uint32_t sensor) const {
    return sensor < series_.size() ? series_[sensor].size() : 0;
  }

  // Forgets every series (a shard that drops a damaged checkpoint starts again from nothing).
  void Clear();

  // Stores one value of the shard's sensor number `sensor`. Errors come from the block store;
  // the head itself never refuses a value that admission allowed (ProbeSeries: not too late,
  // and its window below kMaxChunkSamples).
  // `slot_hint`: where this parameter probably is among the sensor's series (its position in
  // the reading); a right guess saves the search, a wrong one costs nothing.
  Status Append(std::uint32_t sensor, std::string_view sensor_id, std::string_view parameter,
                const Sample& sample, std::size_t slot_hint = 0);

  // Seals the open chunks of sensor number `sensor` (id `sensor_id`) that had no value since
  // the previous call for it. The shard visits every sensor once per maintenance interval, a
  // slice at a time, so a series idle that long gives its memory back.
  Status SealIdle(std::uint32_t sensor, std::string_view sensor_id);
  // Seals every open chunk whose window ended at or before `cutoff_ns` (tests and benchmarks).
  Status SealBefore(std::int64_t cutoff_ns,
                    const std::function<std::string_view(std::uint32_t)>& id_of);
  // Sensor numbers with series: [0, sensors()).
  std::uint32_t sensors() const { return static_cast<std::uint32_t>(series_.size()); }

  std::optional<OpenChunk> CopyOpen(std::uint32_t sensor, std::string_view parameter) const;

  // Calls fn for every series with an open chunk (checkpoints).
  void ForEachOpen(const std::function<void(std::uint32_t sensor, std::string_view parameter,
                                            std::int64_t newest_ns, const OpenChunk&)>& fn) const;

  void ForEachSeries(
      const std::function<void(std::uint32_t sensor, const SeriesCheckpoint&)>& fn) const;
  // The same for one sensor's series (a checkpoint captures a sensor at a time). `chunk` is
  // scratch space the SeriesCheckpoint's chunk view points into.
  template <typename Fn>
  void ForEachSeriesOf(std::uint32_t sensor, std::string& chunk, Fn&& fn) const {
    if (sensor >= series_.size()) return;
    for (const Series& s : series_[sensor]) fn(CheckpointOf(s, chunk));
  }
  // Puts back one series as ForEachSeries showed it. Corruption when the chunk and its writer
  // state disagree.
  Status RestoreSeries(std::uint32_t sensor, const SeriesCheckpoint& c);

  const HeadStats& stats() const { return stats_; }
  const HeadOptions& options() const { return options_; }

 private:
  // One per series, so kept narrow (sizeof checked in head.cc): the head of a 10-million-sensor
  // fleet holds 60 million of these.
  struct Series {
    std::uint32_t name = 0;              // index into names_
    bool open = false;                   // whether `writer` holds the chunk of `window_start`
    bool touched = false;                // a value arrived since the last SealIdle
    std::int8_t decimals = -1;           // decimals of the last chunk: the guess for the next one
    TimeUnit unit = TimeUnit::kMillis;   // the open chunk's (its header is a cache miss)
    std::int32_t window_offset_ms = -1;  // where its windows start within the span; -1 = not yet
    std::int64_t window_start = 0;       // the open window, or the last one sealed
    std::int64_t newest_ns = 0;          // newest sample time this series has seen
    ChunkWriter writer{TimeUnit::kMillis};
  };
  // Time of the open chunk's last sample; INT64_MIN while it has none.
  static std::int64_t LastNs(const Series& s);

  SeriesCheckpoint CheckpointOf(const Series& s, std::string& chunk) const;
  // Adds `after - before` heap bytes to stats_.bytes.
  void AccountBytes(std::size_t before, std::size_t after);
  // s.writer.bytes(), with the buffer's growth accounted.
  std::string_view OpenBytes(Series& s);
  std::uint32_t NameId(std::string_view parameter);
  // The slot of the sensor's series with name id `name`, or -1.
  std::ptrdiff_t SlotOf(std::uint32_t sensor, std::uint32_t name) const;
  // The offset of a new series' windows within the span, in ms (0 unless staggered; the
  // staggered offsets are whole minutes, and the span is at most an hour).
  std::int32_t WindowOffsetMs(std::string_view sensor_id) const;
  // The start of the series' window holding `t_ns` (never before the epoch).
  std::int64_t WindowStart(const Series& s, std::int64_t t_ns) const;
  const Series* Find(std::uint32_t sensor, std::string_view parameter,
                     std::size_t slot_hint = 0) const;
  Series& FindOrAdd(std::uint32_t sensor, std::string_view parameter, std::size_t slot_hint = 0);
  Status Seal(std::string_view sensor_id, Series& s);
  // Puts a sample into the open chunk out of order (late, duplicate, or a finer time unit).
  void RebuildOpen(Series& s, const Sample& sample);
  // Merges a late sample into a window that is already sealed.
  Status RewriteSealed(std::string_view sensor_id, std::string_view parameter, std::int64_t window,
                       const Sample& sample);
  Status WriteSealed(std::string_view sensor_id, std::string_view parameter, std::int64_t window,
                     std::string_view chunk, const std::vector<Sample>& samples);

  BlockStore& store_;
  const HeadOptions options_;
  std::vector<std::vector<Series>> series_;  // by the shard's sensor number
  std::deque<std::string> names_;            // parameter names; deque keeps views stable
  std::unordered_map<std::string_view, std::uint32_t> name_ids_;
  // A sensor's series are found by a scan of its handful of name ids; a sensor with more than
  // kScanSeries of them (a wide custom payload) is indexed here instead, so adding n series
  // costs O(n), not O(n^2). Key: sensor << 32 | name id; value: slot in series_[sensor].
  static constexpr std::size_t kScanSeries = 32;
  std::unordered_map<std::uint64_t, std::uint32_t> wide_slots_;
  std::vector<Sample> scratch_;
  HeadStats stats_;
};

}  // namespace aquawatch
