// Pipeline: routes readings to shard threads that make them durable and run detection.
//
// partition = hash(sensor id) mod P, shard = partition mod S. Each shard thread alone writes its
// sensors' state, its log and its detectors, so the hot path takes no lock but one short
// exclusive lock per group that lets API readers see a consistent latest-value table.
// Submit never blocks: when a shard's bounded queue is full it refuses the whole batch, and the
// listener turns that into backpressure (HTTP 429, a paused socket, a held MQTT message).
// See docs/life-of-a-reading.md.
// Thread-safety: Submit and the query methods may be called from any thread; Stop from one.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/env.h"
#include "core/ingest_limits.h"
#include "core/metrics.h"
#include "core/reading.h"
#include "core/status.h"
#include "detect/rules.h"
#include "detect/station_detector.h"
#include "pipeline/shard_log.h"
#include "store/catalog/catalog.h"
#include "store/tsdb/block_store.h"
#include "store/tsdb/head.h"
#include "store/tsdb/query.h"

namespace aquawatch {

class AlertManager;

// The embedded time-series store (docs/format/store.md).
struct StoreOptions {
  HeadOptions head;
  // Age past which data is dropped, per level (raw, 1-minute and 1-hour roll-ups); 0 keeps
  // everything. A level's data lives at most one partition span (1 day, 1 day, 32 days) longer.
  std::int64_t retention_ns[kStoreLevels] = {30 * 86'400'000'000'000LL, 400 * 86'400'000'000'000LL,
                                             0};
  // How often retention runs, and how long a series may go without a reading before its open
  // chunk is sealed.
  std::int64_t maintenance_interval_ns = 3'600'000'000'000LL;
  std::size_t block_cache_mb = 256;
  // A shard checkpoints (docs/format/checkpoint.md) once its log has grown this much (or by the
  // newest checkpoint's size, if larger), or this
  // long after the last checkpoint if anything was written; restart replays at most that much.
  std::uint64_t checkpoint_bytes = 256ull << 20;
  // Whether a clean Stop() checkpoints, so the next start replays nothing. Crash tests turn it
  // off to stop like a crash would.
  bool checkpoint_on_stop = true;
  std::int64_t checkpoint_interval_ns = 600'000'000'000LL;
  // A checkpoint that failed (e.g. a full disk) is tried again after this long; the log it
  // would have shortened stays meanwhile, so nothing is lost by waiting.
  std::int64_t checkpoint_retry_interval_ns = 10'000'000'000LL;
  // A checkpoint is captured between groups, at most this long per shard loop iteration, and
  // waits with its next slice while more than checkpoint_backlog_bytes of it are not written
  // yet (docs/format/checkpoint.md). Tests shrink both to hold a checkpoint in progress.
  std::int64_t checkpoint_slice_ns = 2'000'000;
  std::size_t checkpoint_backlog_bytes = 64u << 20;
};

struct PipelineOptions {
  std::string data_dir = "data";
  int shards = 2;
  int partitions = 64;
  // Backpressure limits per shard: readings and batches queued but not yet durable. Small
  // enough that a reading waits at most ~0.15 s in a full queue at the ~200 k readings/s a shard
  // sustains with the store (docs/benchmarks.md): an alert is never older than that when
  // detection sees it.
  std::size_t max_queued_readings = 1u << 15;
  std::size_t max_queued_batches = 4096;  // rounded up to a power of two
  // The urgent lane (pipeline/shard_inbox.h): readings of sensors past a critical limit, served
  // ahead of the normal queue. When it is full they wait in the normal queue like any other.
  std::size_t max_urgent_readings = 4096;
  std::size_t max_urgent_batches = 256;
  // A group commit takes at most this many readings, and stops taking batches once it has run
  // this long, before the shard's maintenance slices and the sync hand-off.
  std::size_t max_group_readings = 1u << 16;
  std::int64_t group_slice_ns = 5'000'000;
  ShardLogOptions log;
  // 0: fdatasync every group as soon as it is written (lowest acknowledgement latency). N > 0:
  // at most one fdatasync per N ns per shard; written groups wait for it, so acknowledgements
  // are up to N later but the disk does fewer syncs. Nothing is acknowledged before its sync
  // either way (docs/operations.md).
  std::int64_t log_sync_interval_ns = 0;
  // A shard whose storage failed (a full disk, a failed write or fsync) refuses writes (503) and
  // tries to go on this often: it cuts its log back to what was durable and starts a new segment.
  std::int64_t storage_retry_interval_ns = 1'000'000'000;
  // Parameters per sensor, sensors and label values (docs/operations.md); the decoders check
  // the rest of IngestLimits.
  IngestLimits limits;
  // Threshold rules per site profile; the API may replace them (SetProfileRules).
  ProfileRules rules = DefaultProfileRules();
  // Sensors that follow another profile than kDefaultSiteProfile, as the catalog says at start
  // (index into kSiteProfiles); later changes come through SetSensorProfile.
  std::vector<std::pair<std::string, std::size_t>> sensor_profiles;
  // The detection engine run on every sensor's canonical parameters; null turns it off.
  std::shared_ptr<const StationModel> station_model = CanonicalStationModel();
  StoreOptions store;
};

// A reading a shard refused before its log write.
struct Refusal {
  std::uint32_t line = 0;  // ReadingBatch::line of the reading
  std::string sensor;
  std::int64_t time_ns = 0;
  Limit limit = Limit::kNone;
  std::string field;   // the field that hit the limit, or empty for the reading as a whole
  std::string reason;  // names the limit's configuration key
};

// How a submitted batch ended.
struct WriteResult {
  Status status;  // not OK: the batch is not known to be durable
  // Readings not stored because a limit refused them (too late, a full chunk window, too many
  // parameters, sensors or label values); the rest of the batch is stored.
  std::size_t refused = 0;
  std::array<std::uint32_t, kLimitCount> refused_by_limit{};
  std::vector<Refusal> refusals;  // the first kMaxReportedRefusals of them
};
inline constexpr std::size_t kMaxReportedRefusals = 100;

// Live values for dashboards, at most one per sensor per second.
struct LiveValue {
  std::string_view sensor;
  std::int64_t time_ns;
  // (name, value) of every field of the reading that triggered the push.
  const std::vector<std::pair<std::string_view, double>>* values;
};

class LiveValueListener {
 public:
  virtual ~LiveValueListener() = default;
  // Cheap check so shards skip building live values nobody watches. Any thread.
  virtual bool WantsLiveValues() const = 0;
  // Called on a shard thread; must not block.
  virtual void OnLiveValue(const LiveValue& value) = 0;
};

struct SensorSnapshot {
  std::string id, site, zone;
  std::int64_t first_seen_ns = 0;
  std::int64_t last_time_ns = 0;     // sensor time of the latest reading
  std::int64_t last_arrival_ns = 0;  // when it arrived
  std::uint64_t readings = 0;
  std::vector<std::pair<std::string, double>> values;  // latest value per parameter
  std::vector<std::pair<std::string, std::string>>
      levels;  // rule level per parameter, if not normal
};

struct RecoveryStats {
  std::uint64_t checkpoint_bytes = 0;    // checkpoint files loaded
  std::uint64_t checkpoint_sensors = 0;  // sensors they held
  std::uint64_t records = 0;
  std::uint64_t readings = 0;
  std::uint64_t truncated_bytes = 0;
  // Damaged log records and checkpoints moved to quarantine/ instead of refusing to start
  // (docs/reliability.md).
  std::uint64_t quarantined_records = 0;
  std::uint64_t quarantined_bytes = 0;
  std::uint64_t quarantined_checkpoints = 0;
  double seconds = 0;
};

class Pipeline {
 public:
  using Done = std::function<void(const WriteResult&)>;

  // Opens every shard's log under options.data_dir/wal, replays it into the shard's state and
  // starts the shard threads.
  static Result<std::unique_ptr<Pipeline>> Open(Env& env, Clock& clock, MetricsRegistry& metrics,
                                                AlertManager& alerts,
                                                const PipelineOptions& options);
  virtual ~Pipeline() = default;

  // Takes a copy of every reading of `batch`. On OK, `done` runs exactly once, on one of a
  // shard's threads (or, during Stop, on the stopping thread), after all of them are durable, or
  // with the error that stopped that. Readings past a limit (WriteResult::refusals) are refused
  // before the log, not stored; the rest of the batch is stored. Returns Unavailable, having taken
  // nothing, when a shard is saturated, failed or stopping.
  // REQUIRES: the readings are valid as the decoders make them (ids, label and name lengths).
  virtual Status Submit(const ReadingBatch& batch, Done done) = 0;

  virtual std::optional<SensorSnapshot> Latest(std::string_view sensor) const = 0;
  // Sensors in id order, starting after `after`, at most `limit`.
  virtual std::vector<SensorSnapshot> ListSensors(std::string_view after,
                                                  std::size_t limit) const = 0;
  virtual std::size_t SensorCount() const = 0;
  // The stored history of one series. NotFound for a sensor this pipeline has never seen.
  virtual Status ReadSeries(const SeriesRead& read, std::vector<SeriesPoint>& out) const = 0;
  virtual RecoveryStats recovery() const = 0;
  // False once a shard has failed (e.g. fsync error) and stopped acknowledging.
  virtual bool Healthy() const = 0;

  // REQUIRES: called before traffic starts; the listener outlives the pipeline.
  virtual void SetLiveValueListener(LiveValueListener* listener) = 0;
  // Where shards report sensors seen (first reading, then at most once a minute per sensor).
  // REQUIRES: called before traffic starts; the sink outlives the pipeline.
  virtual void SetSightingSink(SightingSink* sink) = 0;

  // Stops taking batches, finishes the queued ones (every `done` has run when it returns),
  // joins the shard threads.
  virtual void Stop() = 0;

  // Threshold rules per site profile, and which profile a sensor follows (default:
  // kDefaultSiteProfile). Changes reach the shards at their next batch. Any thread.
  virtual ProfileRules profile_rules() const = 0;
  virtual void SetProfileRules(const ProfileRules& rules) = 0;
  // REQUIRES: profile < kSiteProfiles.size().
  virtual void SetSensorProfile(std::string_view sensor, std::size_t profile) = 0;
};

// What DecodeShardCheckpoint found in a checkpoint image.
struct CheckpointContents {
  std::vector<SensorSnapshot> sensors;  // in the image's order
  std::uint64_t series = 0;             // head series restored
  // The open chunk of every restored series that has one: sensor id, parameter, chunk.
  struct Open {
    std::string sensor, parameter;
    OpenChunk chunk;
  };
  std::vector<Open> open_chunks;
  std::size_t open_alerts = 0;  // alerts a start would raise again from the image
};

// Decodes one shard checkpoint image (docs/format/checkpoint.md) with the code a start runs on
// the newest checkpoint file, into a fresh in-memory shard (no files, threads or block store;
// `options` gives the head and rule settings), and reports what it held in *contents (may be
// null). Corruption for a damaged image, never a crash; memory stays proportional to the image.
// For tests, tools and the checkpoint fuzz target. Thread-safety: any thread; nothing is shared.
Status DecodeShardCheckpoint(std::string_view image, const PipelineOptions& options,
                             CheckpointContents* contents = nullptr);

// The shard index (0-based) that owns `sensor`.
int ShardFor(std::string_view sensor, int partitions, int shards);

}  // namespace aquawatch
