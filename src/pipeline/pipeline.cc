#include "pipeline/pipeline.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <span>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "alert/alert_manager.h"
#include "core/duration.h"
#include "core/hash.h"
#include "pipeline/checkpoint.h"
#include "pipeline/checkpoint_stream.h"
#include "pipeline/group_commit.h"
#include "pipeline/log_codec.h"
#include "pipeline/sensor_index.h"
#include "pipeline/shard_inbox.h"
#include "pipeline/urgent_screen.h"

namespace aquawatch {

int ShardFor(std::string_view sensor, int partitions, int shards) {
  // Stable across builds and platforms, so a sensor keeps its shard across restarts.
  const std::uint64_t h = Fnv1a64(sensor);
  auto partition = static_cast<int>(h % static_cast<std::uint64_t>(partitions));
  return partition % shards;
}

namespace {

constexpr std::uint32_t kUnknownSensor = SensorIndex::kNotFound;

// The threshold rules of every site profile and the profile of each sensor, shared by the shards.
// Changes (through the API) are rare; a shard checks version() once per group and, when it
// moved, takes the new rules and the profile changes since it last looked (a list, so the
// shard touches only the sensors that changed, never its whole table).
// Thread-safety: every method may be called from any thread.
class RuleBook {
 public:
  explicit RuleBook(const ProfileRules& rules)
      : rules_(std::make_shared<const ProfileRules>(rules)) {}

  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

  std::shared_ptr<const ProfileRules> rules() const {
    std::lock_guard lock(mu_);
    return rules_;
  }

  void SetRules(const ProfileRules& rules) {
    auto next = std::make_shared<const ProfileRules>(rules);
    std::lock_guard lock(mu_);
    rules_ = std::move(next);
    version_.fetch_add(1, std::memory_order_release);
  }

  void SetSensorProfile(std::string_view sensor, std::size_t profile) {
    std::lock_guard lock(mu_);
    auto it = profiles_.find(std::string(sensor));
    if (it != profiles_.end()) {
      --followers_[it->second];
      profiles_.erase(it);
    }
    if (profile != DefaultSiteProfileIndex()) {
      profiles_[std::string(sensor)] = static_cast<std::uint8_t>(profile);
      ++followers_[profile];
    }
    changes_.emplace_back(sensor, static_cast<std::uint8_t>(profile));
    any_profiles_.store(!profiles_.empty(), std::memory_order_release);
    version_.fetch_add(1, std::memory_order_release);
  }

  std::size_t change_count() const {
    std::lock_guard lock(mu_);
    return changes_.size();
  }

  // Appends to `out` the profile changes from number `from` on; returns the number after the
  // last (where the next call starts).
  std::size_t ChangesSince(std::size_t from,
                           std::vector<std::pair<std::string, std::uint8_t>>& out) const {
    std::lock_guard lock(mu_);
    for (std::size_t i = from; i < changes_.size(); ++i) out.push_back(changes_[i]);
    return changes_.size();
  }

  // Bit p set when some sensor follows profile p other than the default.
  std::uint64_t profiles_in_use() const {
    std::lock_guard lock(mu_);
    std::uint64_t mask = 0;
    for (std::size_t p = 0; p < followers_.size(); ++p) {
      if (followers_[p] != 0) mask |= std::uint64_t{1} << p;
    }
    return mask;
  }

  std::uint8_t ProfileOf(std::string_view sensor) const {
    const auto fallback = static_cast<std::uint8_t>(DefaultSiteProfileIndex());
    if (!any_profiles_.load(std::memory_order_acquire)) return fallback;
    std::lock_guard lock(mu_);
    auto it = profiles_.find(std::string(sensor));
    return it == profiles_.end() ? fallback : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const ProfileRules> rules_;
  std::unordered_map<std::string, std::uint8_t> profiles_;     // sensors not on the default
  std::array<std::size_t, kSiteProfiles.size()> followers_{};  // of profiles_, by profile
  std::vector<std::pair<std::string, std::uint8_t>> changes_;  // every SetSensorProfile
  std::atomic<bool> any_profiles_{false};
  std::atomic<std::uint64_t> version_{1};
};

// Everything a shard knows about one sensor. Kept small: there may be millions.
struct SensorState {
  std::int64_t first_seen_ns = 0;
  std::int64_t last_time_ns = std::numeric_limits<std::int64_t>::min();
  std::int64_t last_arrival_ns = 0;
  std::int64_t last_live_push_ns = 0;
  std::int64_t last_sighting_ns = 0;  // arrival time of the last sighting sent to the catalog
  std::uint64_t readings = 0;
  std::array<double, kCanonicalParameterCount> latest;
  std::array<Level, kCanonicalParameterCount> levels{};
  // Sensor time a threshold crossing began that waits for its rule's min_duration (kNotPending).
  std::array<std::int64_t, kCanonicalParameterCount> pending_since;
  std::uint8_t profile = 0;  // index into kSiteProfiles (RuleBook)
  std::uint32_t site = 0;    // index into the shard's label table; 0 = none
  std::uint32_t zone = 0;
  // Detection engine state (docs/detection.md).
  std::array<ParamState, kCanonicalParameterCount> detect{};
  StationState station;
  EventState event;
  bool event_contamination = false;  // the open event was classified probable contamination
  FaultState fault;
  bool offline = false;  // a sensor_offline alert is open
  // The multivariate test's covariance (k x k floats), only while that test is on.
  std::unique_ptr<float[]> joint;
  SensorState() {
    latest.fill(std::nan(""));
    pending_since.fill(kNotPending);
  }
};

// The offline sweep visits this many sensors per shard at most this often: 200,000 a second.
constexpr std::size_t kOfflineSweepSlice = 50'000;
constexpr std::int64_t kOfflineSweepPeriodNs = 250'000'000;
// The idle-seal pass walks the sensor table at most this long per loop iteration, so a
// reading never waits longer behind it (checkpoints: StoreOptions::checkpoint_slice_ns).
constexpr std::int64_t kIdleSealSliceNs = 1'000'000;
// Detector state in a checkpoint is versioned on its own: a checkpoint with another version
// loads with fresh detector state (baselines warm up again) instead of refusing to start.
constexpr std::uint8_t kDetectorStateVersion = 6;
// The multivariate test's state of one sensor: the canonical parameters' covariance.
constexpr std::uint16_t kJointFloats = kCanonicalParameterCount * kCanonicalParameterCount;

// Distinct sensors and label values of the whole pipeline, so the limits hold across shards.
// Admission reserves what a batch would create before it is logged (compare-and-swap against
// the limit), so shards admitting at once cannot pass a limit together.
struct PipelineTotals {
  std::atomic<std::size_t> sensors{0};
  std::atomic<std::size_t> labels{0};
};

constexpr const char* kMemoryHelp =
    "Bytes held by one part of the engine: head (open chunks and series state), sensor_table "
    "(sensor and detector state, ids, index), store_* (RocksDB's own accounting)";

// A sensor is reported to the catalog on its first reading and then at most this often.
constexpr std::int64_t kSightingIntervalNs = 60 * kNsPerSecond;

struct ShardMetrics {
  Histogram* checkpoint_seconds;
  Gauge* checkpoint_bytes;
  Counter* checkpoint_failures;
  Counter* storage_failures;
  Counter* storage_recoveries;
  Counter* durable;
  Counter* out_of_order;
  Counter* too_late;
  Counter* store_refused;
  Histogram* group_readings;
  Histogram* sync_seconds;
  Histogram* loop_seconds;
  Gauge* loop_max_seconds;
  Counter* urgent_readings;
  Counter* urgent_deferred;
};

// One shard's metrics, labelled `label` (shard="N").
ShardMetrics NewShardMetrics(MetricsRegistry& metrics, const std::string& label) {
  return ShardMetrics{
      &metrics.AddHistogram("aquawatch_checkpoint_seconds",
                            "Time from a checkpoint's start to its publication (captured in "
                            "slices, written by its own thread)",
                            label, ExponentialBuckets(0.001, 2, 16)),
      &metrics.AddGauge("aquawatch_checkpoint_bytes", "Size of the shard's newest checkpoint",
                        label),
      &metrics.AddCounter("aquawatch_checkpoint_failures_total",
                          "Checkpoints that failed (e.g. a full disk); the log they would "
                          "have shortened stays",
                          label),
      &metrics.AddCounter("aquawatch_storage_failures_total",
                          "Times the shard's storage failed (a write, fsync or seal) and it "
                          "stopped acknowledging",
                          label),
      &metrics.AddCounter("aquawatch_storage_recoveries_total",
                          "Times the shard took writes again after a storage failure", label),
      &metrics.AddCounter("aquawatch_readings_durable_total",
                          "Readings written to a shard log and synced", label),
      &metrics.AddCounter("aquawatch_readings_out_of_order_total",
                          "Readings older than or equal to their sensor's latest (late or "
                          "duplicate); stored, not re-detected",
                          label),
      &metrics.AddCounter("aquawatch_readings_too_late_total",
                          "Readings refused before the log: older than their series' newest "
                          "minus store.late_window",
                          label),
      &metrics.AddCounter("aquawatch_store_refused_values_total",
                          "Values the store could not take after the log had them (a chunk "
                          "window past 65,535 samples)",
                          label),
      &metrics.AddHistogram("aquawatch_group_commit_readings",
                            "Readings per group commit (one write + one fdatasync)", label,
                            ExponentialBuckets(1, 4, 10)),
      &metrics.AddHistogram("aquawatch_log_sync_seconds", "fdatasync duration of a group", label,
                            ExponentialBuckets(0.00005, 2, 16)),
      &metrics.AddHistogram("aquawatch_shard_loop_seconds",
                            "Time of one shard loop iteration (a group, its sync and the "
                            "maintenance slices after it): how long a new batch may wait "
                            "behind work in progress",
                            label,
                            {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                             0.25, 0.5, 1, 2.5}),
      &metrics.AddGauge("aquawatch_shard_loop_max_seconds",
                        "The longest shard loop iteration since the start", label),
      &metrics.AddCounter("aquawatch_urgent_readings_total",
                          "Readings that took the urgent lane (a value past a critical limit), "
                          "ahead of the normal queue",
                          label),
      &metrics.AddCounter("aquawatch_urgent_deferred_total",
                          "Urgent readings that waited behind an earlier queued reading of "
                          "their sensor, to keep its order",
                          label),
  };
}

class Shard {
 public:
  Shard(int index, Env& env, Clock& clock, AlertManager& alerts, const PipelineOptions& options,
        ShardMetrics metrics, Histogram& ack_seconds, BlockStore& store, const RuleBook& rule_book,
        PipelineTotals& totals)
      : store_(store),
        totals_(totals),
        rule_book_(rule_book),
        rules_(rule_book.rules()),
        rules_version_(rule_book.version()),
        profile_changes_seen_(rule_book.change_count()),
        index_(index),
        env_(env),
        clock_(clock),
        alerts_(alerts),
        options_(options),
        metrics_(metrics),
        ack_seconds_(ack_seconds),
        inbox_(ShardInboxLimits{options.max_queued_readings, options.max_queued_batches,
                                options.max_urgent_readings, options.max_urgent_batches}),
        head_(store, options.store.head) {
    labels_.emplace_back();  // label 0 is "none"
  }

  ~Shard() { Stop(); }

  // Loads the newest checkpoint, if any, then replays the log after it.
  Status Recover(RecoveryStats* stats) {
    ShardLogRecovery log_stats;
    const std::string dir = Dir();
    Status st = env_.CreateDirs(dir);
    if (!st.ok()) return st;
    auto names = env_.ListFiles(dir);
    if (!names.ok()) return names.status();
    std::string newest;
    for (const std::string& name : *names) {
      std::uint64_t segment = 0;
      if (ParseCheckpointName(name, &segment) && segment >= checkpoint_segment_) {
        checkpoint_segment_ = segment;
        newest = name;
      }
    }
    for (const std::string& name : *names) {
      std::uint64_t segment = 0;
      bool stale = ParseCheckpointName(name, &segment) && name != newest;
      if (stale || name.ends_with(".ckpt.tmp")) {
        st = env_.RemoveFile(dir + "/" + name);
        if (!st.ok()) return st;
      }
    }
    if (!newest.empty()) {
      auto bytes = env_.ReadWholeFile(dir + "/" + newest);
      if (!bytes.ok()) return bytes.status();
      st = LoadCheckpoint(*bytes);
      if (st.ok()) {
        stats->checkpoint_bytes += bytes->size();
        stats->checkpoint_sensors += sensors_.size();
      } else {
        st = st.Annotate(fmt::format("{}/{}", dir, newest));
        if (options_.log.strict_recovery || st.code() != StatusCode::kCorruption) return st;
        // A checkpoint that cannot be read goes aside; the shard starts from nothing and the log
        // after it (what it held of open chunks and detector state is lost, and said so).
        st = QuarantineCheckpoint(newest, st);
        if (!st.ok()) return st;
        ResetState();
        ++stats->quarantined_checkpoints;
      }
    }
    ReadingBatch batch;
    auto log = ShardLog::Open(
        env_, dir, options_.log, checkpoint_segment_,
        [&](std::string_view payload, LogFormat format) {
          batch.Clear();
          // A payload that does not decode is Corruption: the log quarantines that record.
          Status s = DecodeBatch(payload, batch, format);
          if (!s.ok()) return s;
          // Replayed readings rebuild the latest values and the rule levels (and so the open
          // alerts); their arrival time is unknown, so the replay time stands in.
          batch.arrival_ns = clock_.NowNs();
          stats->readings += batch.size();
          return Apply(batch);
        },
        &log_stats);
    if (!log.ok()) return log.status();
    log_ = std::move(log).value();
    stats->records += log_stats.records;
    stats->truncated_bytes += log_stats.truncated_bytes;
    stats->quarantined_records += log_stats.quarantined_records;
    stats->quarantined_bytes += log_stats.quarantined_bytes;
    last_checkpoint_mono_ns_ = clock_.MonotonicNs();
    if (log_stats.quarantined_records > 0 || stats->quarantined_checkpoints > 0) {
      // Checkpoint now, so the damaged segments are deleted and the next start does not meet
      // (and quarantine) them again.
      Status c = Checkpoint();
      if (!c.ok()) {
        spdlog::warn("shard {}: checkpoint after quarantine failed: {}", index_, c.ToString());
      }
    }
    return Status::Ok();
  }

  // Moves a checkpoint that cannot be loaded to quarantine/ (docs/reliability.md).
  Status QuarantineCheckpoint(const std::string& name, const Status& why) {
    const std::string qdir = Dir() + "/quarantine";
    Status st = env_.CreateDirs(qdir);
    if (st.ok()) st = env_.RenameFile(Dir() + "/" + name, qdir + "/" + name);
    if (st.ok()) st = env_.SyncDir(Dir());
    if (st.ok()) st = env_.SyncDir(qdir);
    if (!st.ok()) return st;
    spdlog::error(
        "shard {}: checkpoint {} moved to {} ({}); starting from the log after it, without the "
        "open chunks and detector state it held (store.strict_recovery refuses to start instead)",
        index_, name, qdir, why.message());
    return Status::Ok();
  }

  // Forgets the sensor table and the head (a checkpoint that failed to load may have filled
  // part of them).
  void ResetState() {
    totals_.sensors.fetch_sub(sensors_.size(), std::memory_order_relaxed);
    totals_.labels.fetch_sub(labels_.size() - 1, std::memory_order_relaxed);
    ids_.clear();
    sensors_.clear();
    index_by_id_.Clear();
    labels_.clear();
    labels_.emplace_back();
    label_index_.clear();
    custom_latest_.clear();
    custom_names_of_.clear();
    head_.Clear();
    table_bytes_.store(0, std::memory_order_relaxed);
    capture_.reset();
  }

  // Checkpoints (docs/format/checkpoint.md) are captured copy-on-write: BeginCheckpoint fixes
  // the point (a new log segment N; the state as of then is what the file holds), then the
  // shard goes on taking readings while CaptureStep encodes the sensors a slice at a time
  // between groups, and any sensor about to change first is captured as it was (BeforeChange).
  // A CheckpointStream writes the entries on its own thread, flushes the block store,
  // publishes the file and deletes the log before N; PollCheckpoint then moves the shard on. No
  // step holds the shard for longer than a slice (checkpoint_slice_ns), whatever the number of
  // sensors. Shard thread only, like the state it reads.

  // Starts a checkpoint. *log_failed tells the caller the log itself failed (its current
  // segment could not be closed), which the shard treats as a storage failure.
  // REQUIRES: no checkpoint in progress, nothing unsynced.
  Status BeginCheckpoint(bool* log_failed = nullptr) {
    auto segment = log_->StartSegment();
    if (!segment.ok()) {
      if (log_failed != nullptr) *log_failed = true;
      return segment.status();
    }
    Capture& c = capture_.emplace();
    // Once published, the older checkpoint and the log segments before this one go, on the
    // stream's thread; neither is ever touched by the shard again.
    auto obsolete = [this, dir = Dir(), segment = *segment, old = checkpoint_segment_] {
      Status st;
      if (old != 0 && old != segment) st = env_.RemoveFile(dir + "/" + CheckpointName(old));
      if (st.ok()) st = RemoveShardLogSegmentsBefore(env_, dir, segment);
      return st;
    };
    c.stream = CheckpointStream::Start(
        env_, Dir(), CheckpointName(*segment), [this] { return store_.MakeDurable(); }, obsolete);
    c.segment = *segment;
    c.sensors = static_cast<std::uint32_t>(sensors_.size());
    c.done.assign((c.sensors + 63) / 64, 0);
    c.log_bytes = log_->appended_bytes();
    c.started_mono_ns = clock_.MonotonicNs();
    // Labels are few (sites, zones, custom names; the label limit bounds them) and only grow:
    // written now, every sensor captured later refers to these numbers at most.
    for (std::size_t i = 1; i < labels_.size(); ++i) {
      FieldWriter(c.stream->Entry('L')).PutString16(labels_[i]);
    }
    return Status::Ok();
  }

  // Captures sensor `idx` as it is now unless the checkpoint in progress has it already: called
  // before anything of a sensor changes, so the checkpoint sees it as it was at its start.
  void BeforeChange(std::uint32_t idx) {
    if (capture_.has_value() && idx < capture_->sensors && !capture_->Has(idx)) {
      CaptureSensor(idx);
    }
  }

  // One `T` entry: the sensor, its custom latest values and its head series.
  void CaptureSensor(std::uint32_t idx) {
    Capture& c = *capture_;
    c.done[idx / 64] |= Capture::Bit(idx);
    ++c.captured;
    std::string& out = c.stream->Entry('T');
    EncodeSensor(ids_[idx], sensors_[idx], out);
    FieldWriter f(out);
    auto names = custom_names_of_.find(idx);
    const std::size_t customs = names == custom_names_of_.end() ? 0 : names->second.size();
    f.Put<std::uint32_t>(static_cast<std::uint32_t>(customs));
    if (customs > 0) {
      for (std::uint32_t name : names->second) {
        auto v = custom_latest_.find((static_cast<std::uint64_t>(idx) << 32) | name);
        f.Put<std::uint32_t>(name);
        f.Put<double>(v != custom_latest_.end() ? v->second : std::nan(""));
      }
    }
    f.Put<std::uint32_t>(static_cast<std::uint32_t>(head_.SeriesCount(idx)));
    head_.ForEachSeriesOf(idx, capture_chunk_, [&](const SeriesCheckpoint& series) {
      EncodeSeries(series, out);
      ++c.series;
    });
  }

  static void EncodeSeries(const SeriesCheckpoint& c, std::string& out) {
    FieldWriter f(out);
    f.PutString16(c.parameter);
    f.Put<std::uint8_t>(static_cast<std::uint8_t>((c.open ? 1 : 0) | (c.touched ? 2 : 0)));
    f.Put<std::int64_t>(c.window_start);
    f.Put<std::int64_t>(c.newest_ns);
    f.Put<std::int64_t>(c.last_ns);
    f.Put<std::int64_t>(c.writer.t);
    f.Put<std::int64_t>(c.writer.delta);
    f.Put<std::uint64_t>(c.writer.value_bits);
    f.Put<std::int8_t>(c.writer.leading);
    f.Put<std::int8_t>(c.writer.trailing);
    f.Put<std::uint8_t>(c.writer.quality);
    f.Put<std::uint8_t>(c.writer.free_bits);
    f.Put<std::uint16_t>(c.writer.count);
    f.Put<std::int8_t>(c.writer.decimals);
    f.PutString32(c.chunk);
  }

  static bool DecodeSeries(FieldReader& f, SeriesCheckpoint& c) {
    c.parameter = f.GetString16();
    auto flags = f.Get<std::uint8_t>();
    c.open = (flags & 1) != 0;
    c.touched = (flags & 2) != 0;
    c.window_start = f.Get<std::int64_t>();
    c.newest_ns = f.Get<std::int64_t>();
    c.last_ns = f.Get<std::int64_t>();
    c.writer.t = f.Get<std::int64_t>();
    c.writer.delta = f.Get<std::int64_t>();
    c.writer.value_bits = f.Get<std::uint64_t>();
    c.writer.leading = f.Get<std::int8_t>();
    c.writer.trailing = f.Get<std::int8_t>();
    c.writer.quality = f.Get<std::uint8_t>();
    c.writer.free_bits = f.Get<std::uint8_t>();
    c.writer.count = f.Get<std::uint16_t>();
    c.writer.decimals = f.Get<std::int8_t>();
    c.chunk = f.GetString32();
    return f.ok();
  }

  // Captures the next sensors of the checkpoint in progress for at most `budget_ns` (0: all
  // of them), then hands the rest to the stream's thread once every sensor is in.
  void CaptureStep(std::int64_t budget_ns) {
    Capture& c = *capture_;
    if (c.finishing) return;
    const std::int64_t t0 = clock_.MonotonicNs();
    while (c.cursor < c.sensors) {
      // A disk slower than the capture: wait with the next slice rather than buffer the shard.
      if (budget_ns > 0 && c.stream->backlog_bytes() > options_.store.checkpoint_backlog_bytes)
        return;
      for (int n = 0; n < 64 && c.cursor < c.sensors; ++n, ++c.cursor) {
        if (!c.Has(c.cursor)) CaptureSensor(c.cursor);
      }
      if (budget_ns > 0 && clock_.MonotonicNs() - t0 >= budget_ns) return;
    }
    c.finishing = true;
    c.stream->Finish(c.captured, c.series);
  }

  // Once the stream has published the file (and deleted the older checkpoint and the log
  // before the new one), the shard moves on to it. A failed checkpoint changes nothing durable (the
  // old checkpoint and the log it needs stay) and is reported. Returns false while the stream is
  // still writing.
  bool PollCheckpoint(Status* result) {
    Capture& c = *capture_;
    Status st;
    // Done before Finish: the thread stopped at an error (it could not create or write).
    if (!c.stream->Done(&st)) return false;
    if (st.ok()) {
      // Only a published checkpoint moves the base the next one is due from: after a failed
      // one the next is due again as soon as the retry interval has passed.
      checkpoint_segment_ = c.segment;
      checkpoint_log_bytes_ = c.log_bytes;
      last_checkpoint_mono_ns_ = c.started_mono_ns;
      metrics_.checkpoint_seconds->Observe(
          static_cast<double>(clock_.MonotonicNs() - c.started_mono_ns) / 1e9);
      last_checkpoint_bytes_ = c.stream->bytes_written();
      metrics_.checkpoint_bytes->Set(static_cast<double>(last_checkpoint_bytes_));
    }
    capture_.reset();
    *result = st;
    return true;
  }

  // A whole checkpoint now, waiting for its file (start-up after quarantine, a clean stop):
  // finishes one in progress first, then takes a fresh one if the log has grown since.
  Status Checkpoint(bool* log_failed = nullptr) {
    auto finish_now = [this] {
      Status st;
      CaptureStep(0);
      (void)capture_->stream->Wait();
      (void)PollCheckpoint(&st);
      return st;
    };
    if (capture_.has_value()) {
      Status st = finish_now();
      if (!st.ok() || log_->appended_bytes() == checkpoint_log_bytes_) return st;
    }
    Status st = BeginCheckpoint(log_failed);
    return st.ok() ? finish_now() : st;
  }

  void Start() {
    started_ns_ = clock_.NowNs();
    thread_ = std::thread([this] { Run(); });
  }

  std::string Dir() const { return fmt::format("{}/wal/shard-{:03d}", options_.data_dir, index_); }

  static void EncodeSensor(std::string_view id, const SensorState& s, std::string& out) {
    FieldWriter f(out);
    f.PutString16(id);
    f.Put<std::int64_t>(s.first_seen_ns);
    f.Put<std::int64_t>(s.last_time_ns);
    f.Put<std::int64_t>(s.last_arrival_ns);
    f.Put<std::uint64_t>(s.readings);
    f.Put<std::uint32_t>(s.site);
    f.Put<std::uint32_t>(s.zone);
    for (double v : s.latest) f.Put<double>(v);
    for (Level l : s.levels) f.Put<std::uint8_t>(static_cast<std::uint8_t>(l));
    EncodeDetectorState(s, out);
    f.Put<std::uint8_t>(s.event.quiet_rows);
    f.Put<std::uint8_t>(s.event.in_event ? 1 : 0);
    f.Put<std::uint8_t>(s.event_contamination ? 1 : 0);
    f.Put<std::uint8_t>(s.fault.fault_rows);
    f.Put<std::uint8_t>(s.fault.clean_rows);
    f.Put<std::uint8_t>(s.fault.in_fault ? 1 : 0);
    f.Put<std::uint8_t>(s.fault.kinds);
    f.Put<std::uint8_t>(s.offline ? 1 : 0);
    for (std::int64_t t : s.pending_since) f.Put<std::int64_t>(t);
  }

  // The detection engine's state of one sensor: u16 length, then version and fields.
  static void EncodeDetectorState(const SensorState& s, std::string& out) {
    std::string block;
    FieldWriter f(block);
    f.Put<std::uint8_t>(kDetectorStateVersion);
    for (const ParamState& p : s.detect) {
      f.Put<double>(p.location);
      f.Put<float>(p.scale);
      f.Put<float>(p.daily_cos);
      f.Put<float>(p.daily_sin);
      f.Put<float>(p.drift_ref);
      f.Put<float>(p.drift_dev);
      f.Put<float>(p.flat_ref);
      f.Put<float>(p.flat_longest);
      f.Put<float>(p.last);
      f.Put<std::uint32_t>(p.seen);
      f.Put<std::uint16_t>(p.flat_run);
      f.Put<std::uint16_t>(p.outlier_run);
      f.Put<std::uint16_t>(p.drift_run);
      f.Put<std::uint16_t>(p.missing_run);
      f.Put<std::uint16_t>(p.flat_runs);
      f.Put<std::int16_t>(p.ramp_run);
    }
    f.Put<std::uint64_t>(s.station.window);
    f.Put<std::int64_t>(s.station.last_time_ns);
    f.Put<float>(s.station.interval_seconds);
    f.Put<std::uint32_t>(s.station.previous_outliers);
    f.Put<std::uint32_t>(s.station.rows);
    f.Put<std::uint64_t>(s.fault.spike_rows);
    const std::uint16_t joint_floats = s.joint != nullptr ? kJointFloats : 0;
    f.Put<std::uint16_t>(joint_floats);
    for (std::uint16_t k = 0; k < joint_floats; ++k) f.Put<float>(s.joint[k]);
    FieldWriter(out).PutString16(block);
  }

  static void DecodeDetectorState(std::string_view block, SensorState& s) {
    FieldReader f(block);
    if (f.Get<std::uint8_t>() != kDetectorStateVersion) return;  // fresh state: warm up again
    for (ParamState& p : s.detect) {
      p.location = f.Get<double>();
      p.scale = f.Get<float>();
      p.daily_cos = f.Get<float>();
      p.daily_sin = f.Get<float>();
      p.drift_ref = f.Get<float>();
      p.drift_dev = f.Get<float>();
      p.flat_ref = f.Get<float>();
      p.flat_longest = f.Get<float>();
      p.last = f.Get<float>();
      p.seen = f.Get<std::uint32_t>();
      p.flat_run = f.Get<std::uint16_t>();
      p.outlier_run = f.Get<std::uint16_t>();
      p.drift_run = f.Get<std::uint16_t>();
      p.missing_run = f.Get<std::uint16_t>();
      p.flat_runs = f.Get<std::uint16_t>();
      p.ramp_run = f.Get<std::int16_t>();
    }
    s.station.window = f.Get<std::uint64_t>();
    s.station.last_time_ns = f.Get<std::int64_t>();
    s.station.interval_seconds = f.Get<float>();
    s.station.previous_outliers = f.Get<std::uint32_t>();
    s.station.rows = f.Get<std::uint32_t>();
    s.fault.spike_rows = f.Get<std::uint64_t>();
    const std::uint16_t joint_floats = f.Get<std::uint16_t>();
    if (joint_floats == kJointFloats) {
      s.joint = std::make_unique<float[]>(kJointFloats);
      for (std::uint16_t k = 0; k < joint_floats; ++k) s.joint[k] = f.Get<float>();
    } else {
      for (std::uint16_t k = 0; k < joint_floats; ++k) f.Get<float>();
    }
    if (!f.ok()) {  // a short block of the right version: start fresh, as for another version
      s.detect = {};
      s.station = {};
      s.fault.spike_rows = 0;
      s.joint = nullptr;
    }
  }

  // Reads a sensor entry into a new slot of the sensor table.
  Status DecodeSensor(FieldReader& f) {
    std::string_view id = f.GetString16();
    if (!f.ok() || !SensorIdError(id).empty() || index_by_id_.Find(id) != SensorIndex::kNotFound) {
      return Status::Corruption("bad or repeated sensor id");
    }
    SensorState& s = sensors_[FindOrAddSensor(id, 0)];
    s.first_seen_ns = f.Get<std::int64_t>();
    s.last_time_ns = f.Get<std::int64_t>();
    s.last_arrival_ns = f.Get<std::int64_t>();
    s.readings = f.Get<std::uint64_t>();
    s.site = f.Get<std::uint32_t>();
    s.zone = f.Get<std::uint32_t>();
    for (double& v : s.latest) v = f.Get<double>();
    for (Level& l : s.levels) {
      auto v = f.Get<std::uint8_t>();
      if (v > static_cast<std::uint8_t>(Level::kCriticalHigh)) {
        return Status::Corruption("bad level");
      }
      l = static_cast<Level>(v);
    }
    const bool had_joint = s.joint != nullptr;
    DecodeDetectorState(f.GetString16(), s);
    if (!had_joint && s.joint != nullptr) AccountTable(kJointFloats * sizeof(float));
    s.event.quiet_rows = f.Get<std::uint8_t>();
    s.event.in_event = f.Get<std::uint8_t>() != 0;
    s.event_contamination = f.Get<std::uint8_t>() != 0;
    s.fault.fault_rows = f.Get<std::uint8_t>();
    s.fault.clean_rows = f.Get<std::uint8_t>();
    s.fault.in_fault = f.Get<std::uint8_t>() != 0;
    s.fault.kinds = f.Get<std::uint8_t>();
    s.offline = f.Get<std::uint8_t>() != 0;
    for (std::int64_t& t : s.pending_since) t = f.Get<std::int64_t>();
    if (s.site >= labels_.size() || s.zone >= labels_.size()) {
      return Status::Corruption("sensor refers to an unknown label");
    }
    return f.ok() ? Status::Ok() : Status::Corruption("truncated sensor entry");
  }

  // A format 3 `T` entry: the sensor, its custom values and its head series.
  Status DecodeCapturedSensor(FieldReader& f, std::uint64_t* series) {
    Status st = DecodeSensor(f);
    if (!st.ok()) return st;
    const auto idx = static_cast<std::uint32_t>(sensors_.size() - 1);
    const auto customs = f.Get<std::uint32_t>();
    for (std::uint32_t k = 0; k < customs && f.ok(); ++k) {
      const auto name = f.Get<std::uint32_t>();
      const double v = f.Get<double>();
      if (!f.ok()) break;
      if (name == 0 || name >= labels_.size()) {
        return Status::Corruption("custom value refers to an unknown name");
      }
      custom_latest_[(static_cast<std::uint64_t>(idx) << 32) | name] = v;
      custom_names_of_[idx].insert(name);
    }
    const auto count = f.Get<std::uint32_t>();
    for (std::uint32_t k = 0; k < count && f.ok(); ++k) {
      SeriesCheckpoint c;
      if (!DecodeSeries(f, c)) break;
      if (c.parameter.empty()) return Status::Corruption("head series without a parameter");
      st = head_.RestoreSeries(idx, c);
      if (!st.ok()) return st;
      ++*series;
    }
    return Status::Ok();
  }

  Status LoadCheckpoint(std::string_view bytes) {
    CheckpointReader reader(bytes);
    char type = 0;
    std::string_view entries;
    std::uint64_t series = 0;
    while (reader.Next(&type, &entries)) {
      FieldReader f(entries);
      while (!f.empty()) {
        Status st;
        switch (type) {
          case 'L': {
            std::string_view label = f.GetString16();
            auto idx = static_cast<std::uint32_t>(labels_.size());
            labels_.emplace_back(label);
            label_index_.emplace(labels_.back(), idx);
            totals_.labels.fetch_add(1, std::memory_order_relaxed);
            break;
          }
          case 'S':
            st = DecodeSensor(f);
            break;
          case 'C': {
            auto sensor = f.Get<std::uint32_t>();
            auto name = f.Get<std::uint32_t>();
            double v = f.Get<double>();
            if (sensor >= sensors_.size() || name == 0 || name >= labels_.size()) {
              st = Status::Corruption("custom value refers to an unknown sensor or name");
              break;
            }
            custom_latest_[(static_cast<std::uint64_t>(sensor) << 32) | name] = v;
            custom_names_of_[sensor].insert(name);
            break;
          }
          case 'H': {  // format 2
            auto sensor = f.Get<std::uint32_t>();
            SeriesCheckpoint c;
            if (!DecodeSeries(f, c)) break;
            if (sensor >= sensors_.size() || c.parameter.empty()) {
              st = Status::Corruption("head series refers to an unknown sensor");
              break;
            }
            st = head_.RestoreSeries(sensor, c);
            ++series;
            break;
          }
          case 'T':  // format 3
            st = DecodeCapturedSensor(f, &series);
            break;
          default:
            st = Status::Corruption(fmt::format("unknown record type {}", static_cast<int>(type)));
        }
        if (!st.ok()) return st;
        if (!f.ok()) return Status::Corruption(fmt::format("truncated '{}' entry", type));
      }
    }
    if (!reader.status().ok()) return reader.status();
    FieldReader end(reader.end());
    auto want_sensors = end.Get<std::uint64_t>();
    auto want_series = end.Get<std::uint64_t>();
    if (!end.ok() || want_sensors != sensors_.size() || want_series != series) {
      return Status::Corruption("the end record's counts do not match the entries");
    }
    ReraiseOpenAlerts();
    return Status::Ok();
  }

  // Alerts live in memory: after a checkpoint load, open again what the sensor table says is
  // open. The log after the checkpoint then moves them on as usual.
  void ReraiseOpenAlerts() {
    const std::int64_t now = clock_.NowNs();
    for (std::size_t idx = 0; idx < sensors_.size(); ++idx) {
      const SensorState& s = sensors_[idx];
      for (int p = 0; p < kCanonicalParameterCount; ++p) {
        if (s.levels[p] == Level::kNormal) continue;
        const ThresholdRule& rule = rules_->For(s.profile).by_parameter[p];
        alerts_.OnThresholdTransition({ids_[idx], labels_[s.site], labels_[s.zone],
                                       static_cast<ParameterId>(p), Level::kNormal, s.levels[p],
                                       s.latest[p], ThresholdFor(rule, s.levels[p]), s.last_time_ns,
                                       now});
      }
      auto open = [&](std::string_view kind, std::string_view classification,
                      AlertPriority priority) {
        alerts_.OnDetectorTransition({ids_[idx], labels_[s.site], labels_[s.zone], kind, true,
                                      classification, "", "still open at the last restart",
                                      priority, s.last_time_ns, now});
      };
      if (s.event.in_event) {
        if (s.event_contamination) {
          open("event", "probable_contamination", AlertPriority::kHigh);
        } else {
          open("event", "water_quality_deviation", AlertPriority::kMedium);
        }
      }
      if (s.fault.in_fault) {
        classification_ = FaultKindNames(s.fault.kinds);
        open("sensor_fault", classification_, FaultPriority(s.fault.kinds));
      }
      if (s.offline) open("sensor_offline", "offline", AlertPriority::kMedium);
    }
  }

  static std::string CheckpointName(std::uint64_t segment) {
    return fmt::format("checkpoint-{:016d}.ckpt", segment);
  }

  static bool ParseCheckpointName(const std::string& name, std::uint64_t* segment) {
    constexpr std::string_view kPrefix = "checkpoint-", kSuffix = ".ckpt";
    if (name.size() != kPrefix.size() + 16 + kSuffix.size() || !name.starts_with(kPrefix) ||
        !name.ends_with(kSuffix)) {
      return false;
    }
    std::uint64_t v = 0;
    for (std::size_t i = kPrefix.size(); i < kPrefix.size() + 16; ++i) {
      if (name[i] < '0' || name[i] > '9') return false;
      v = v * 10 + static_cast<std::uint64_t>(name[i] - '0');
    }
    *segment = v;
    return true;
  }

  void Stop() {
    if (!thread_.joinable()) return;
    stopping_.store(true);
    Wake();
    thread_.join();
    // The thread handles everything queued before it saw stopping_; a batch pushed in the
    // instant after (the pipeline's gate makes that impossible, a caller of Shard alone might
    // not) is answered here rather than left waiting for ever.
    for (ShardWork* w = inbox_.PopUrgent(); w != nullptr; w = inbox_.PopUrgent()) Refuse(w);
    for (ShardWork* w = inbox_.PopNormal(); w != nullptr; w = inbox_.PopNormal()) Refuse(w);
  }

  void Refuse(ShardWork* w) {
    Release(*w);
    w->ticket->Finish(Status::Unavailable("shutting down"), *w);
    delete w;
  }

  // Reserves room for one batch part of `readings` in `lane` (ShardInbox). Never blocks.
  Status Reserve(Lane lane, std::size_t readings, bool carries_urgent) {
    if (failed_.load(std::memory_order_acquire)) {
      return Status::Unavailable(fmt::format("shard {} has failed: {}", index_, FailureMessage()));
    }
    if (stopping_.load(std::memory_order_relaxed)) return Status::Unavailable("shutting down");
    if (!inbox_.Reserve(lane, readings, carries_urgent)) {
      return Status::Unavailable(fmt::format("shard {} is saturated", index_));
    }
    return Status::Ok();
  }
  void Release(Lane lane, std::size_t readings) { inbox_.Release(lane, readings); }
  void Release(const ShardWork& w) { inbox_.Release(w.lane, w.reserved); }

  // REQUIRES: Reserve succeeded for this work.
  void Push(ShardWork* work) {
    inbox_.Push(work);
    Wake();
  }
  std::uint64_t NormalTail() const { return inbox_.normal_tail(); }

  std::size_t QueuedReadings() const { return inbox_.QueuedReadings(); }
  bool Failed() const { return failed_.load(std::memory_order_acquire); }

  // DecodeShardCheckpoint: Recover's checkpoint load on a shard that never starts.
  Status LoadCheckpointImage(std::string_view image, CheckpointContents* contents) {
    Status st = LoadCheckpoint(image);
    if (!st.ok() || contents == nullptr) return st;
    for (std::uint32_t idx = 0; idx < sensors_.size(); ++idx) {
      contents->sensors.push_back(Snapshot(idx));
    }
    contents->series = head_.stats().series.load(std::memory_order_relaxed);
    head_.ForEachOpen([&](std::uint32_t sensor, std::string_view parameter, std::int64_t,
                          const OpenChunk& chunk) {
      contents->open_chunks.push_back({ids_[sensor], std::string(parameter), chunk});
    });
    return st;
  }

  std::optional<SensorSnapshot> Latest(std::string_view sensor) const {
    std::shared_lock lock(state_mu_);
    const std::uint32_t idx = index_by_id_.Find(sensor);
    if (idx == SensorIndex::kNotFound) return std::nullopt;
    return Snapshot(idx);
  }

  // Adds to `out` the `limit` smallest ids after `after`. The table is read in slices under
  // the shared lock, so listing millions of sensors never holds the shard thread back for long.
  // The views stay valid: ids are never changed or removed while the shard runs.
  void CollectIds(std::vector<std::string_view>& out, std::string_view after,
                  std::size_t limit) const {
    if (limit == 0) return;
    constexpr std::size_t kSlice = 8192;
    std::vector<std::string_view> best;  // a max-heap of the smallest ids seen so far
    for (std::size_t begin = 0;; begin += kSlice) {
      std::shared_lock lock(state_mu_);
      const std::size_t end = std::min(ids_.size(), begin + kSlice);
      if (begin >= end) break;
      for (std::size_t i = begin; i < end; ++i) {
        const std::string_view id = ids_[i];
        if (id <= after || (best.size() == limit && id >= best.front())) continue;
        best.push_back(id);
        std::push_heap(best.begin(), best.end());
        if (best.size() > limit) {
          std::pop_heap(best.begin(), best.end());
          best.pop_back();
        }
      }
    }
    out.insert(out.end(), best.begin(), best.end());
  }

  std::size_t SensorCount() const {
    std::shared_lock lock(state_mu_);
    return sensors_.size();
  }

  // A copy of the series' open chunk; false when the sensor is unknown.
  bool CopyOpen(std::string_view sensor, std::string_view parameter,
                std::optional<OpenChunk>* out) const {
    std::shared_lock lock(state_mu_);
    const std::uint32_t idx = index_by_id_.Find(sensor);
    if (idx == SensorIndex::kNotFound) return false;
    *out = head_.CopyOpen(idx, parameter);
    return true;
  }

  const HeadStats& head_stats() const { return head_.stats(); }
  // Heap bytes of the sensor table: states, ids, the index (labels and custom fields aside).
  std::uint64_t TableBytes() const { return table_bytes_.load(std::memory_order_relaxed); }

  void SetLiveValueListener(LiveValueListener* l) { live_ = l; }
  void SetSightingSink(SightingSink* sink) { sightings_sink_ = sink; }

 private:
  std::string FailureMessage() const {
    std::lock_guard lock(failure_mu_);
    return failure_;
  }

  void Wake() {
    // Pairs with the fence in Sleep(): either the sleeper sees the new work, or we see it asleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_relaxed)) {
      std::lock_guard lock(sleep_mu_);
      sleep_cv_.notify_one();
    }
  }

  void Sleep(std::chrono::nanoseconds timeout) {
    std::unique_lock lock(sleep_mu_);
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const bool sync_finished = syncer_.busy() && syncer_.done();
    if (inbox_.Empty() && !stopping_.load() && !sync_finished) sleep_cv_.wait_for(lock, timeout);
    sleeping_.store(false, std::memory_order_relaxed);
  }

  // With a sync interval, written groups wait (unacknowledged) until the interval has passed
  // since the last sync; with none, every group is synced at once.
  std::int64_t NanosUntilSyncDue() const {
    if (options_.log_sync_interval_ns == 0) return 0;
    return std::max<std::int64_t>(
        0, last_sync_mono_ns_ + options_.log_sync_interval_ns - clock_.MonotonicNs());
  }

  void Run() {
    std::vector<ShardWork*> group;
    std::string record;
    for (;;) {
      const std::int64_t t0 = clock_.MonotonicNs();
      group.clear();
      CollectSync();
      WriteAndApply(group, record, t0);
      if (group.empty()) {
        if (!unsynced_.empty() && NanosUntilSyncDue() == 0) StartSync();
        MaybeRecoverStorage();
        if (stopping_.load()) {
          SyncAndAcknowledge();
          // A clean stop leaves a checkpoint, so the next start replays nothing; otherwise
          // (crash tests) one in progress is abandoned as a crash would.
          if (options_.store.checkpoint_on_stop) MaybeCheckpoint(true);
          capture_.reset();
          return;  // everything queued before Stop() has been handled
        }
        Maintain();
        ObserveLoop(t0);
        std::int64_t wait = unsynced_.empty() ? 100'000'000 : NanosUntilSyncDue();
        // A checkpoint in progress goes on capturing while the shard is idle.
        if (capture_.has_value()) wait = std::min<std::int64_t>(wait, 1'000'000);
        if (idle_cursor_.has_value()) wait = 0;
        if (Failed()) wait = std::min(wait, next_recovery_mono_ns_ - clock_.MonotonicNs());
        Sleep(std::chrono::nanoseconds(std::max<std::int64_t>(wait, 1000)));
        continue;
      }
      if (NanosUntilSyncDue() == 0) StartSync();
      MaybeRecoverStorage();
      Maintain();  // also under sustained load, when the queue never runs dry
      ObserveLoop(t0);
    }
  }

  // The budgeted steps between groups: each does a slice of its work and keeps a cursor.
  void Maintain() {
    MaybeSealIdle();
    MaybeSweepOffline();
    MaybeCheckpoint(false);
  }

  void ObserveLoop(std::int64_t t0) {
    const double seconds = static_cast<double>(clock_.MonotonicNs() - t0) / 1e9;
    metrics_.loop_seconds->Observe(seconds);
    if (seconds > loop_max_seconds_) {
      loop_max_seconds_ = seconds;
      metrics_.loop_max_seconds->Set(seconds);
    }
  }

  // Starts a checkpoint when the log has grown enough since the last one, or enough time has
  // passed with writes (or `now`), captures a slice of the one in progress, and finishes it
  // once its file is published. `now` (a clean stop) does the whole checkpoint at once.
  // A checkpoint may start while groups are written but not yet synced (under load a sync is
  // nearly always in flight): starting it closes the log segment, and closing syncs it, so
  // everything the checkpoint holds is durable before it is published; the sync in flight then
  // finds its segment closed and synced. Not after an error the written groups will be answered
  // with.
  // A checkpoint that fails (a full disk) only postpones the next one: the log it would have
  // shortened stays, so nothing is lost; it is tried again after checkpoint_retry_interval.
  void MaybeCheckpoint(bool now) {
    if (Failed() || !unsynced_status_.ok()) return;
    const std::int64_t mono = clock_.MonotonicNs();
    Status s;
    bool log_failed = false;
    if (now) {
      if (!capture_.has_value() && log_->appended_bytes() == checkpoint_log_bytes_) return;
      s = Checkpoint(&log_failed);
    } else if (capture_.has_value()) {
      CaptureStep(options_.store.checkpoint_slice_ns);
      if (!PollCheckpoint(&s)) return;
    } else {
      const std::uint64_t grown = log_->appended_bytes() - checkpoint_log_bytes_;
      if (grown == 0) return;
      // Never more often by size than the log grows by the last checkpoint's own size: with a
      // million sensors an image is larger than checkpoint_bytes of log, and writing it every
      // checkpoint_bytes would write more than the readings themselves (and slow the log's
      // syncs on the same disk). Replay after a crash stays within twice that.
      const bool due = grown >= std::max(options_.store.checkpoint_bytes, last_checkpoint_bytes_) ||
                       mono - last_checkpoint_mono_ns_ >= options_.store.checkpoint_interval_ns;
      if (!due || mono < next_checkpoint_attempt_ns_) return;
      s = BeginCheckpoint(&log_failed);
      if (s.ok()) {
        CaptureStep(options_.store.checkpoint_slice_ns);
        return;
      }
    }
    if (s.ok()) return;
    capture_.reset();
    if (log_failed) return Fail(s);
    metrics_.checkpoint_failures->Add();
    const std::int64_t retry = options_.store.checkpoint_retry_interval_ns;
    next_checkpoint_attempt_ns_ = mono + retry;
    spdlog::warn(
        "shard {}: checkpoint failed; the log stays until one succeeds (next try in {}): {}",
        index_, FormatDuration(retry), s.ToString());
  }

  // After a storage failure, tries every storage_retry_interval to go on: the log is cut back
  // to what its last sync made durable (a half-written record must never sit before later
  // ones) and continues in a new segment, and the block store is asked to take writes again.
  // Readings of the failed groups were answered with an error, never acknowledged; those the
  // shard had applied in memory may still be stored (a retry finds them: last write wins).
  void MaybeRecoverStorage() {
    if (!Failed() || !unsynced_.empty() || syncer_.busy()) return;
    const std::int64_t mono = clock_.MonotonicNs();
    if (mono < next_recovery_mono_ns_) return;
    next_recovery_mono_ns_ = mono + options_.storage_retry_interval_ns;
    Status s = log_->DiscardUnsynced();
    if (s.ok()) s = store_.Resume();
    if (!s.ok()) {
      if (++recovery_attempts_ % 60 == 1) {
        spdlog::warn("shard {}: storage still failing: {}", index_, s.ToString());
      }
      return;
    }
    recovery_attempts_ = 0;
    {
      std::lock_guard lock(failure_mu_);
      failure_.clear();
    }
    failed_.store(false, std::memory_order_release);
    metrics_.storage_recoveries->Add();
    recovered_mono_ns_ = mono;
    if (relapses_ == 0) spdlog::warn("shard {}: storage works again; taking writes", index_);
  }

  // Seals the open chunks of series that had no reading for a whole maintenance interval, so
  // quiet sensors do not keep memory (and log) alive. Once per interval a pass walks the
  // sensors, a slice (kIdleSealSliceNs) per loop iteration.
  void MaybeSealIdle() {
    const std::int64_t now = clock_.MonotonicNs();
    if (next_idle_sweep_ns_ == 0) {
      next_idle_sweep_ns_ = now + options_.store.maintenance_interval_ns;
    }
    if (Failed()) return;
    if (!idle_cursor_.has_value()) {
      if (now < next_idle_sweep_ns_) return;
      next_idle_sweep_ns_ = now + options_.store.maintenance_interval_ns;
      idle_cursor_ = 0;
    }
    std::uint32_t& cursor = *idle_cursor_;
    std::unique_lock lock(state_mu_);
    const std::uint32_t end = head_.sensors();
    while (cursor < end) {
      for (int n = 0; n < 64 && cursor < end; ++n, ++cursor) {
        BeforeChange(cursor);
        Status s = head_.SealIdle(cursor, ids_[cursor]);
        if (!s.ok()) {
          idle_cursor_.reset();
          return Fail(s);
        }
      }
      if (clock_.MonotonicNs() - now >= kIdleSealSliceNs) return;
    }
    idle_cursor_.reset();
  }

  // Admission: takes out of the work, before anything reaches the log, every reading the shard
  // would refuse (docs/operations.md, "Limits"): too late for one of its series, a chunk window
  // already holding kMaxChunkSamples, or a new parameter, sensor or label value past its limit.
  // Each becomes a Refusal in the work's result; the rest of the batch goes on. A reading of a
  // known sensor with the parameters it always has costs one probe of each field's series (the
  // same slots Apply then finds in cache); the tallies below only see new things.
  Status Admit(ShardWork& w) {
    ReadingBatch& b = w.batch;
    batch_ids_.resize(b.size());
    for (std::size_t i = 0; i < b.size(); ++i) batch_ids_[i] = b.sensor(i);
    w.sensor_index.resize(b.size());
    index_by_id_.FindBatch(batch_ids_, batch_hashes_, w.sensor_index);
    admission_.Reset();
    refused_readings_.clear();
    for (std::size_t i = 0; i < b.size(); ++i) {
      auto limit = AdmitReading(w, i);
      if (!limit.ok()) return limit.status();
      if (*limit != Limit::kNone) refused_readings_.push_back(i);
    }
    if (refused_readings_.empty()) return Status::Ok();
    ReadingBatch kept;
    kept.arrival_ns = b.arrival_ns;
    std::vector<std::uint32_t> kept_index;
    kept_index.reserve(b.size() - refused_readings_.size());
    std::size_t next = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (next < refused_readings_.size() && refused_readings_[next] == i) {
        ++next;
        continue;
      }
      kept.AppendFrom(b, i);
      kept_index.push_back(w.sensor_index[i]);
    }
    b = std::move(kept);
    w.sensor_index = std::move(kept_index);
    return Status::Ok();
  }

  // What one batch's admission has let in so far that its sensor table and head do not show yet
  // (they are updated when the batch is applied): new sensors, label values and series, and
  // samples per chunk window of series near the limit.
  struct AdmissionTally {
    std::unordered_set<std::string_view> new_sensors;
    std::unordered_set<std::string_view> new_labels;
    std::unordered_map<std::string_view, std::unordered_set<std::string_view>> new_series;
    std::unordered_map<std::string, std::size_t> window_samples;  // sensor\0name\0window
    void Reset() {
      new_sensors.clear();
      new_labels.clear();
      new_series.clear();
      window_samples.clear();
    }
  };

  // Adds n to a pipeline-wide count unless that would pass `limit`.
  static bool Reserve(std::atomic<std::size_t>& count, std::size_t n, std::size_t limit) {
    if (n == 0) return true;
    std::size_t now = count.load(std::memory_order_relaxed);
    do {
      if (now + n > limit) return false;
    } while (!count.compare_exchange_weak(now, now + n, std::memory_order_relaxed));
    return true;
  }

  // Gives back what admission reserved for the batch and Apply did not create.
  void ReleaseReservations() {
    totals_.sensors.fetch_sub(reserved_sensors_, std::memory_order_relaxed);
    totals_.labels.fetch_sub(reserved_labels_, std::memory_order_relaxed);
    reserved_sensors_ = reserved_labels_ = 0;
  }

  // Decides reading i of the work; on a refusal records it and returns the limit.
  Result<Limit> AdmitReading(ShardWork& w, std::size_t i) {
    const ReadingBatch& b = w.batch;
    const std::uint32_t idx = w.sensor_index[i];
    const std::string_view sensor = b.sensor(i);
    const std::int64_t t = b.time_ns(i);
    const IngestLimits& limits = options_.limits;
    // A refusal takes back the window tallies this reading had taken.
    tally_undo_.clear();
    auto refuse = [&](Limit limit, std::string_view field, auto&& reason) -> Result<Limit> {
      for (std::size_t* pending : tally_undo_) --*pending;
      tally_undo_.clear();
      return Refuse(w, i, limit, field, reason);
    };
    if (t < 0) {
      return refuse(Limit::kMinTime, "", [&] {
        return std::string("time before 1970: the store keeps no readings before the Unix epoch");
      });
    }
    // Each field's series: too late, a full window, or new.
    new_names_.clear();
    for (std::size_t f = b.field_begin(i); f < b.field_end(i); ++f) {
      const std::string_view name = StoredName(b, f);
      auto probe = head_.ProbeSeries(idx, sensor, name, t, f - b.field_begin(i));
      if (!probe.ok()) return probe.status();
      if (probe->too_late) {
        metrics_.too_late->Add();
        return refuse(Limit::kLateWindow, name, [&] {
          return fmt::format("time {} is older than the sensor's newest reading minus {} ({})",
                             FormatRfc3339(t), FormatDuration(options_.store.head.late_window_ns),
                             LimitKey(Limit::kLateWindow));
        });
      }
      if (!probe->exists) new_names_.push_back(name);
      // A batch adds at most its size to a window: only windows that could fill are tallied.
      if (probe->window_samples + b.size() >= kMaxChunkSamples) {
        std::string& key = tally_key_;
        key.assign(sensor).push_back('\0');
        key.append(name).push_back('\0');
        key.append(std::to_string(probe->window_start));
        std::size_t& pending = admission_.window_samples[key];
        if (probe->window_samples + pending >= kMaxChunkSamples) {
          return refuse(Limit::kChunkSamples, name, [&] {
            return fmt::format(
                "the chunk window from {} already holds {} samples of this series, the most one "
                "window takes; a shorter {} gives a fast sensor more windows",
                FormatRfc3339(probe->window_start), kMaxChunkSamples,
                LimitKey(Limit::kChunkSamples));
          });
        }
        ++pending;  // taken back if a later check refuses the reading
        tally_undo_.push_back(&pending);
      }
    }
    if (new_names_.size() > 1) {  // a caller may repeat a field within a reading
      std::sort(new_names_.begin(), new_names_.end());
      new_names_.erase(std::unique(new_names_.begin(), new_names_.end()), new_names_.end());
    }
    // A new sensor.
    const bool new_sensor = idx == kUnknownSensor && !admission_.new_sensors.contains(sensor);
    // New label values: site, zone and the names of new custom series.
    new_labels_.clear();
    auto note_label = [&](std::string_view value, std::uint32_t current) {
      if (value.empty() || (idx != kUnknownSensor && labels_[current] == value)) return;
      if (label_index_.contains(value) || admission_.new_labels.contains(value)) return;
      new_labels_.push_back(value);  // deduplicated below
    };
    note_label(b.site(i), idx != kUnknownSensor ? sensors_[idx].site : 0);
    note_label(b.zone(i), idx != kUnknownSensor ? sensors_[idx].zone : 0);
    for (std::string_view name : new_names_) {
      if (ParameterFromName(name) == ParameterId::kCustom) note_label(name, 0);
    }
    if (new_labels_.size() > 1) {
      std::sort(new_labels_.begin(), new_labels_.end());
      new_labels_.erase(std::unique(new_labels_.begin(), new_labels_.end()), new_labels_.end());
    }
    if (!new_labels_.empty() &&
        totals_.labels.load(std::memory_order_relaxed) + new_labels_.size() >
            limits.max_label_values) {
      return refuse(Limit::kLabelValues, "", [&] {
        return fmt::format(
            "new value \"{}\" would pass {} ({} distinct site, zone and field "
            "names)",
            new_labels_.front(), LimitKey(Limit::kLabelValues), limits.max_label_values);
      });
    }
    // New series of this sensor.
    std::unordered_set<std::string_view>* pending_series = nullptr;
    if (!new_names_.empty()) {
      pending_series = &admission_.new_series[sensor];
      std::size_t added = 0;
      for (std::string_view name : new_names_) {
        if (!pending_series->contains(name)) ++added;
      }
      const std::size_t total =
          (idx != kUnknownSensor ? head_.SeriesCount(idx) : 0) + pending_series->size() + added;
      if (total > limits.max_parameters_per_sensor) {
        return refuse(Limit::kParametersPerSensor, new_names_.front(), [&] {
          return fmt::format("sensor \"{}\" would have {} parameters, more than {} ({})", sensor,
                             total, LimitKey(Limit::kParametersPerSensor),
                             limits.max_parameters_per_sensor);
        });
      }
    }
    // Last, the pipeline-wide counts are reserved, so that shards admitting at the same time
    // cannot pass a limit together. Apply turns a reservation into the sensor or label it
    // counts for; ReleaseReservations gives back what a failed batch did not create.
    if (new_sensor && !Reserve(totals_.sensors, 1, limits.max_sensors)) {
      return refuse(Limit::kSensors, "sensor", [&] {
        return fmt::format("sensor \"{}\" would pass {} ({} distinct sensors)", sensor,
                           LimitKey(Limit::kSensors), limits.max_sensors);
      });
    }
    if (!Reserve(totals_.labels, new_labels_.size(), limits.max_label_values)) {
      if (new_sensor) totals_.sensors.fetch_sub(1, std::memory_order_relaxed);
      return refuse(Limit::kLabelValues, "", [&] {
        return fmt::format(
            "new value \"{}\" would pass {} ({} distinct site, zone and field "
            "names)",
            new_labels_.front(), LimitKey(Limit::kLabelValues), limits.max_label_values);
      });
    }
    // Admitted: what it adds becomes part of the batch's tally.
    tally_undo_.clear();
    if (new_sensor) admission_.new_sensors.insert(sensor);
    for (std::string_view value : new_labels_) admission_.new_labels.insert(value);
    if (pending_series != nullptr) {
      pending_series->insert(new_names_.begin(), new_names_.end());
    }
    return Limit::kNone;
  }

  // Records reading i of the work as refused by `limit`; the reason is built only for the
  // refusals that are reported.
  template <typename MakeReason>
  Limit Refuse(ShardWork& w, std::size_t i, Limit limit, std::string_view field,
               MakeReason&& make_reason) {
    ++w.refused;
    ++w.refused_by_limit[static_cast<int>(limit)];
    if (w.refusals.size() < kMaxReportedRefusals) {
      const ReadingBatch& b = w.batch;
      w.refusals.push_back(Refusal{b.line(i), std::string(b.sensor(i)), b.time_ns(i), limit,
                                   std::string(field), make_reason()});
    }
    return limit;
  }

  // The series name a field is stored under: canonical parameters by their canonical name.
  static std::string_view StoredName(const ReadingBatch& b, std::size_t f) {
    ParameterId p = b.field_param(f);
    return p == ParameterId::kCustom ? b.field_name(f) : ParameterName(p);
  }

  // A failed write or sync leaves what is durable unknown: acknowledge nothing until
  // MaybeRecoverStorage has cut the log back to what is.
  void Fail(const Status& status) {
    if (Failed()) return;
    // A disk that is still full fails the first write after each recovery: say so once a
    // minute, not on every retry.
    const std::int64_t mono = clock_.MonotonicNs();
    const bool relapse = mono - recovered_mono_ns_ < 10 * options_.storage_retry_interval_ns;
    relapses_ = relapse ? relapses_ + 1 : 0;
    if (relapses_ == 0) {
      spdlog::error(
          "shard {}: storage failed; writes get 503 until it recovers (tried every {} ms): {}",
          index_, options_.storage_retry_interval_ns / 1'000'000, status.ToString());
    } else if (relapses_ % 60 == 1) {
      spdlog::error("shard {}: storage failed again right after recovering ({} times): {}", index_,
                    relapses_, status.ToString());
    }
    {
      std::lock_guard lock(failure_mu_);
      failure_ = status.ToString();
    }
    failed_.store(true, std::memory_order_release);
    // A checkpoint in progress is dropped with its file; the next one starts after recovery.
    capture_.reset();
    metrics_.storage_failures->Add();
    next_recovery_mono_ns_ = clock_.MonotonicNs() + options_.storage_retry_interval_ns;
  }

  // Group commit, first half: batches are taken from the normal lane one at a time, each
  // admitted, written (not yet synced) and applied to the sensor table, detection and head, so
  // each batch's admission sees what the ones before it added, until the lane is empty, the
  // group holds max_group_readings or it has run group_slice_ns (so the maintenance and
  // checkpoint slices after it come often). The urgent lane is served before each batch (and
  // when there is none). The batches wait in unsynced_ for StartSync. Returns the normal
  // readings taken.
  std::size_t WriteAndApply(std::vector<ShardWork*>& group, std::string& record, std::int64_t t0) {
    Status status =
        Failed() ? Status::Unavailable("storage has failed; see the log") : Status::Ok();
    if (status.ok()) status = unsynced_status_;
    std::size_t readings = 0;
    bool took_urgent = false;
    while (readings < options_.max_group_readings) {
      // An alert's readings wait for one normal batch at most, never for the whole group.
      took_urgent |= ServeUrgent(status, record);
      ShardWork* w = inbox_.PopNormal();
      if (w == nullptr) break;
      group.push_back(w);
      readings += w->batch.size();
      WriteAndApplyOne(*w, status, record);
      ServeDeferred(w->position, status, record);
      if (clock_.MonotonicNs() - t0 >= options_.group_slice_ns) break;
    }
    if (group.empty() && !took_urgent) return 0;
    FlushSightings();
    if (!status.ok()) unsynced_status_ = status;  // the parts taken are answered with it
    if (group.empty()) return 0;
    metrics_.group_readings->Observe(static_cast<double>(readings));
    for (const ShardWork* w : group) unsynced_readings_ += w->batch.size();  // as admitted
    unsynced_.insert(unsynced_.end(), group.begin(), group.end());
    return readings;
  }

  void FlushSightings() {
    if (sightings_.empty()) return;
    sightings_sink_->OnSightings(sightings_);
    sightings_.clear();
  }

  // One part: admission, its log record, then detection and the sensor table. Detection runs
  // before the sync so alerts are not delayed by the disk; readings are acknowledged only after
  // it. Once `status` is an error, parts are only carried to their (failed) acknowledgement.
  void WriteAndApplyOne(ShardWork& w, Status& status, std::string& record) {
    if (!status.ok()) return;
    status = Admit(w);
    reserved_sensors_ = admission_.new_sensors.size();
    reserved_labels_ = admission_.new_labels.size();
    if (status.ok() && !w.batch.empty()) status = AppendToLog(w.batch, record);
    if (status.ok() && !w.batch.empty()) {
      std::unique_lock lock(state_mu_);
      status = Apply(w.batch, w.sensor_index);
    }
    ReleaseReservations();
  }

  // Takes the urgent lane's parts. One that holds a sensor with an earlier reading in a normal
  // part not yet applied (still in the lane, before its after_normal) waits behind the last
  // such part (deferred_), so each sensor's readings keep their order; the others are written
  // and applied now, ahead of everything queued. Returns whether it took any.
  bool ServeUrgent(Status& status, std::string& record) {
    bool took = false;
    for (ShardWork* u = inbox_.PopUrgent(); u != nullptr; u = inbox_.PopUrgent()) {
      took = true;
      metrics_.urgent_readings->Add(u->batch.size());
      urgent_sensors_.clear();
      for (std::size_t i = 0; i < u->batch.size(); ++i) {
        const std::string_view id = u->batch.sensor(i);
        if (std::find(urgent_sensors_.begin(), urgent_sensors_.end(), id) ==
            urgent_sensors_.end()) {
          urgent_sensors_.push_back(id);
        }
      }
      std::optional<std::uint64_t> behind;
      auto look = [&](const ShardWork& w, std::uint64_t position) {
        if (position >= u->after_normal) return;
        for (std::size_t i = 0; i < w.batch.size(); ++i) {
          const std::string_view id = w.batch.sensor(i);
          if (std::find(urgent_sensors_.begin(), urgent_sensors_.end(), id) !=
              urgent_sensors_.end()) {
            behind = position;
            return;
          }
        }
      };
      inbox_.ForEachWaiting(u->after_normal, look);
      if (behind.has_value()) {
        metrics_.urgent_deferred->Add(u->batch.size());
        deferred_.emplace_back(*behind, u);
        continue;
      }
      WriteAndApplyOne(*u, status, record);
      FinishUrgent(u);
    }
    return took;
  }

  // Writes and applies the urgent parts deferred behind the normal part at `position`.
  void ServeDeferred(std::uint64_t position, Status& status, std::string& record) {
    if (deferred_.empty()) return;
    for (std::size_t i = 0; i < deferred_.size();) {
      if (deferred_[i].first != position) {
        ++i;
        continue;
      }
      ShardWork* u = deferred_[i].second;
      deferred_.erase(deferred_.begin() + static_cast<std::ptrdiff_t>(i));
      WriteAndApplyOne(*u, status, record);
      FinishUrgent(u);
    }
  }

  void FinishUrgent(ShardWork* u) {
    unsynced_readings_ += u->batch.size();
    unsynced_.push_back(u);
  }

  // Writes a batch as one log record, or as several when its encoding would pass
  // kMaxRecordPayloadBytes.
  Status AppendToLog(const ReadingBatch& b, std::string& record) {
    record.clear();
    EncodeBatch(b, record);
    if (record.size() <= kMaxRecordPayloadBytes) return log_->Append(record);
    for (std::size_t begin = 0; begin < b.size();) {
      std::size_t end = begin + 1, bytes = EncodedBytesBound(b, begin, end);
      while (end < b.size()) {
        const std::size_t next = EncodedBytesBound(b, end, end + 1) - 4;
        if (bytes + next > kMaxRecordPayloadBytes) break;
        bytes += next;
        ++end;
      }
      record.clear();
      EncodeBatch(b, begin, end, record);
      Status st = log_->Append(record);
      if (!st.ok()) return st;
      begin = end;
    }
    return Status::Ok();
  }

  // Group commit, second half: one fdatasync covering every group written so far, then their
  // acknowledgements, both on the syncer's thread while this one goes on with the next groups.
  // At most one sync is in flight; groups written meanwhile wait for the next. Groups written
  // after an error are answered with it at once, never synced.
  void StartSync() {
    CollectSync();
    if (unsynced_.empty() || syncer_.busy()) return;
    if (!unsynced_status_.ok()) {
      const Status status = unsynced_status_;
      Fail(status);
      Acknowledge(unsynced_, status, clock_.MonotonicNs());
      ClearUnsynced();
      last_sync_mono_ns_ = clock_.MonotonicNs();
      return;
    }
    in_flight_.works.swap(unsynced_);
    in_flight_.readings = unsynced_readings_;
    in_flight_.point = log_->PrepareSync();
    ClearUnsynced();
    syncer_.Submit([this] {
      const std::int64_t t0 = clock_.MonotonicNs();
      in_flight_.status = log_->SyncPrepared(in_flight_.point);
      in_flight_.synced_mono_ns = clock_.MonotonicNs();
      metrics_.sync_seconds->Observe(static_cast<double>(in_flight_.synced_mono_ns - t0) / 1e9);
      if (in_flight_.status.ok()) metrics_.durable->Add(in_flight_.readings);
      Acknowledge(in_flight_.works, in_flight_.status, in_flight_.synced_mono_ns);
    });
  }

  // Takes the result of a finished sync. A failed one fails the shard, and the groups written
  // since are answered with its error too: after a failed fdatasync nothing written before the
  // next successful one is known durable.
  void CollectSync() {
    if (!syncer_.busy() || !syncer_.done()) return;
    syncer_.Collect();
    last_sync_mono_ns_ = in_flight_.synced_mono_ns;
    if (in_flight_.status.ok()) {
      log_->MarkSynced(in_flight_.point);
    } else {
      if (unsynced_status_.ok()) unsynced_status_ = in_flight_.status;
      Fail(in_flight_.status);
    }
    in_flight_ = InFlightSync{};
  }

  // Blocks until everything written is durable (or answered with an error).
  void SyncAndAcknowledge() {
    for (int round = 0; round < 2; ++round) {
      if (syncer_.busy()) syncer_.Wait();
      StartSync();
    }
    if (syncer_.busy()) syncer_.Wait();
    CollectSync();
  }

  // Any thread: answers written parts and lets their room go.
  void Acknowledge(const std::vector<ShardWork*>& works, const Status& status,
                   std::int64_t mono_ns) {
    for (ShardWork* w : works) {
      ack_seconds_.Observe(static_cast<double>(mono_ns - w->enqueued_mono_ns) / 1e9);
      Release(*w);
      w->ticket->Finish(status, *w);
      delete w;
    }
  }

  void ClearUnsynced() {
    unsynced_.clear();
    unsynced_readings_ = 0;
    unsynced_status_ = Status::Ok();
  }

  std::uint32_t InternLabel(std::string_view s) {
    if (s.empty()) return 0;
    auto it = label_index_.find(s);
    if (it != label_index_.end()) return it->second;
    auto idx = static_cast<std::uint32_t>(labels_.size());
    labels_.emplace_back(s);
    label_index_.emplace(labels_.back(), idx);
    if (reserved_labels_ > 0) {
      --reserved_labels_;  // admission counted it already
    } else {
      totals_.labels.fetch_add(1, std::memory_order_relaxed);
    }
    return idx;
  }

  std::uint32_t FindOrAddSensor(std::string_view id, std::int64_t arrival_ns) {
    if (const std::uint32_t found = index_by_id_.Find(id); found != SensorIndex::kNotFound) {
      return found;
    }
    auto idx = static_cast<std::uint32_t>(sensors_.size());
    ids_.emplace_back(id);
    SensorState& s = sensors_.emplace_back();
    s.first_seen_ns = arrival_ns;
    s.profile = rule_book_.ProfileOf(id);
    const std::size_t index_bytes = index_by_id_.heap_bytes();
    index_by_id_.Insert(ids_.back(), idx);
    AccountTable(sizeof(SensorState) + sizeof(std::string) + index_by_id_.heap_bytes() -
                 index_bytes + (ids_.back().capacity() > 15 ? ids_.back().capacity() + 1 : 0));
    if (reserved_sensors_ > 0) {
      --reserved_sensors_;  // admission counted it already
    } else {
      totals_.sensors.fetch_add(1, std::memory_order_relaxed);
    }
    return idx;
  }

  void AccountTable(std::int64_t delta) {
    table_bytes_.store(table_bytes_.load(std::memory_order_relaxed) + delta,
                       std::memory_order_relaxed);
  }

  // Picks up changed rules or sensor profiles (the API's); one atomic load when nothing changed.
  void RefreshRules() {
    const std::uint64_t version = rule_book_.version();
    if (version == rules_version_) return;
    rules_version_ = version;
    rules_ = rule_book_.rules();
    profile_changes_.clear();
    profile_changes_seen_ = rule_book_.ChangesSince(profile_changes_seen_, profile_changes_);
    for (const auto& [sensor, profile] : profile_changes_) {
      const std::uint32_t idx = index_by_id_.Find(sensor);
      if (idx != SensorIndex::kNotFound) sensors_[idx].profile = profile;
    }
  }

  // Applies readings to the sensor table, runs detection and stores the values. Shard thread (or
  // recovery) only. Errors come from the store and fail the shard.
  // `known`: the readings' sensor numbers when already looked up (Admit), or empty.
  Status Apply(const ReadingBatch& batch, std::span<const std::uint32_t> known = {}) {
    RefreshRules();
    const bool live = live_ != nullptr && live_->WantsLiveValues();
    std::uint64_t out_of_order = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const std::uint32_t idx = i < known.size() && known[i] != kUnknownSensor
                                    ? known[i]
                                    : FindOrAddSensor(batch.sensor(i), batch.arrival_ns);
      BeforeChange(idx);
      SensorState& s = sensors_[idx];
      ++s.readings;
      // A sensor's site and zone rarely change: one comparison instead of a hash lookup.
      if (!batch.site(i).empty() && labels_[s.site] != batch.site(i)) {
        s.site = InternLabel(batch.site(i));
      }
      if (!batch.zone(i).empty() && labels_[s.zone] != batch.zone(i)) {
        s.zone = InternLabel(batch.zone(i));
      }
      // A late or repeated reading is stored, but must not move the latest value back or raise
      // the same alert twice.
      const bool in_order = batch.time_ns(i) > s.last_time_ns;
      RowVerdict verdict;
      if (in_order && sightings_sink_ != nullptr &&
          batch.arrival_ns - s.last_sighting_ns >= kSightingIntervalNs) {
        s.last_sighting_ns = batch.arrival_ns;
        Sight(batch, i);
      }
      if (in_order) {
        UpdateLatest(batch, i, idx, s);
        if (options_.station_model != nullptr) verdict = Detect(batch, i, s);
      } else {
        ++out_of_order;
      }
      Status st = Store(batch, i, idx, verdict);
      if (!st.ok()) return st;
      if (in_order && live && batch.arrival_ns - s.last_live_push_ns >= kNsPerSecond) {
        s.last_live_push_ns = batch.arrival_ns;
        live_values_.clear();
        for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
          live_values_.emplace_back(batch.field_name(f), batch.field_value(f));
        }
        live_->OnLiveValue({batch.sensor(i), batch.time_ns(i), &live_values_});
      }
    }
    if (out_of_order > 0) metrics_.out_of_order->Add(out_of_order);
    return Status::Ok();
  }

  void Sight(const ReadingBatch& batch, std::size_t i) {
    SensorSighting& s = sightings_.emplace_back();
    s.id = batch.sensor(i);
    s.site = batch.site(i);
    s.zone = batch.zone(i);
    s.time_ns = batch.time_ns(i);
    for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
      s.parameters.emplace_back(StoredName(batch, f));
    }
  }

  // Latest values and threshold rules, for an in-order reading.
  void UpdateLatest(const ReadingBatch& batch, std::size_t i, std::uint32_t idx, SensorState& s) {
    s.last_time_ns = batch.time_ns(i);
    s.last_arrival_ns = batch.arrival_ns;
    for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
      ParameterId p = batch.field_param(f);
      double v = batch.field_value(f);
      if (p == ParameterId::kCustom) {
        custom_latest_[CustomKey(idx, batch.field_name(f))] = v;
        continue;
      }
      auto pi = static_cast<std::size_t>(p);
      s.latest[pi] = v;
      const ThresholdRule& rule = rules_->For(s.profile).by_parameter[pi];
      const Level next =
          TrackThreshold(rule, s.levels[pi], s.pending_since[pi], batch.time_ns(i), v);
      if (next != s.levels[pi]) MoveLevel(batch, i, s, p, next, v, rule);
    }
  }

  // Moves a parameter of reading i's sensor to `next` and tells the alert manager.
  void MoveLevel(const ReadingBatch& batch, std::size_t i, SensorState& s, ParameterId p,
                 Level next, double v, const ThresholdRule& rule) {
    const auto pi = static_cast<std::size_t>(p);
    const Level threshold_level = next == Level::kNormal ? s.levels[pi] : next;
    alerts_.OnThresholdTransition({batch.sensor(i), labels_[s.site], labels_[s.zone], p,
                                   s.levels[pi], next, v, ThresholdFor(rule, threshold_level),
                                   batch.time_ns(i), batch.arrival_ns});
    s.levels[pi] = next;
  }

  // Puts every value of reading i into the store, flagged by QA/QC (bad) and the event layer
  // (suspect).
  Status Store(const ReadingBatch& batch, std::size_t i, std::uint32_t idx,
               const RowVerdict& verdict) {
    for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
      ParameterId p = batch.field_param(f);
      Quality q = Quality::kGood;
      if (p != ParameterId::kCustom) {
        std::uint32_t bit = 1u << static_cast<int>(p);
        if ((verdict.faults & bit) != 0) {
          q = Quality::kBad;
        } else if ((verdict.outliers & bit) != 0) {
          q = Quality::kSuspect;
        }
      }
      Status st =
          head_.Append(idx, batch.sensor(i), StoredName(batch, f),
                       {batch.time_ns(i), batch.field_value(f), q}, f - batch.field_begin(i));
      if (st.code() == StatusCode::kInvalidArgument) {
        // A window past 65,535 samples (docs/format/store.md): admission refuses those before
        // the log, so only the replay of a log written before it did can meet one.
        metrics_.store_refused->Add();
        continue;
      }
      if (!st.ok()) return st;
    }
    return Status::Ok();
  }

  // Runs the detection engine on reading i and turns its verdicts into event and fault alerts.
  RowVerdict Detect(const ReadingBatch& batch, std::size_t i, SensorState& s) {
    const StationModel& model = *options_.station_model;
    double values[kCanonicalParameterCount];
    std::fill(std::begin(values), std::end(values), std::nan(""));
    for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
      if (batch.field_param(f) != ParameterId::kCustom) {
        values[static_cast<int>(batch.field_param(f))] = batch.field_value(f);
      }
    }
    std::span<float> joint;
    if (const std::size_t n = model.JointStateSize(); n > 0) {
      if (s.joint == nullptr) {  // the test was off, or this is the sensor's first reading
        s.joint = std::make_unique<float[]>(n);
        AccountTable(static_cast<std::int64_t>(n * sizeof(float)));
        model.InitJointState({s.joint.get(), n});
      }
      joint = {s.joint.get(), n};
    }
    RowVerdict v = model.Process(s.detect, s.station, batch.time_ns(i), values, joint);
    // A fresh transition per alert kind: nothing of the event's carries over to the fault's.
    auto transition = [&](std::string_view kind, bool open) {
      return DetectorTransition{
          batch.sensor(i),        labels_[s.site],  labels_[s.zone], kind, open, "", "", "",
          AlertPriority::kMedium, batch.time_ns(i), batch.arrival_ns};
    };
    if (s.offline) {
      s.offline = false;
      alerts_.OnDetectorTransition(transition("sensor_offline", false));
    }
    switch (TrackEvent(s.event, v, model.tuning().window)) {
      case EventChange::kOpened: {
        DetectorTransition t = transition("event", true);
        Describe(model, s, values, v.outliers, t);
        s.event_contamination = t.priority == AlertPriority::kHigh;
        alerts_.OnDetectorTransition(t);
        break;
      }
      case EventChange::kClosed:
        alerts_.OnDetectorTransition(transition("event", false));
        break;
      case EventChange::kNone:
        break;
    }
    TrackFaults(s, v, transition);
    return v;
  }

  // Persistent QA/QC faults become one sensor_fault alert (TrackFault).
  template <typename MakeTransition>
  void TrackFaults(SensorState& s, const RowVerdict& v, MakeTransition& transition) {
    switch (TrackFault(s.fault, v)) {
      case EventChange::kOpened: {
        DetectorTransition t = transition("sensor_fault", true);
        t.priority = FaultPriority(s.fault.kinds);
        classification_ = FaultKindNames(s.fault.kinds);
        const std::uint32_t bad = v.faults | v.missing;
        fault_names_ = MaskNames(bad != 0 ? bad : v.spikes);
        evidence_ = fmt::format("{} from {}", classification_, fault_names_);
        t.classification = classification_;
        t.parameters = fault_names_;
        t.evidence = evidence_;
        alerts_.OnDetectorTransition(t);
        break;
      }
      case EventChange::kClosed:
        alerts_.OnDetectorTransition(transition("sensor_fault", false));
        break;
      case EventChange::kNone:
        break;
    }
  }

  // Spikes alone are a nuisance (low); a probe that reads wrong or nothing is work (medium).
  static AlertPriority FaultPriority(std::uint8_t kinds) {
    return kinds == FaultBit(FaultKind::kSpike) ? AlertPriority::kLow : AlertPriority::kMedium;
  }

  static std::string FaultKindNames(std::uint8_t kinds) {
    std::string names;
    for (int k = 0; k < kFaultKindCount; ++k) {
      if ((kinds & (1u << k)) == 0) continue;
      if (!names.empty()) names += ",";
      names += FaultKindName(static_cast<FaultKind>(k));
    }
    return names;
  }

  // Opens a sensor_offline alert for every sensor silent for longer than the detector's offline
  // test allows; its next reading closes it. Sweeps a slice of the sensor table per call so a
  // million sensors never stall the shard.
  void MaybeSweepOffline() {
    const StationModel* model = options_.station_model.get();
    if (model == nullptr || model->tuning().offline_after <= 0 || sensors_.empty()) return;
    const std::int64_t mono = clock_.MonotonicNs();
    if (mono < next_offline_sweep_ns_) return;
    next_offline_sweep_ns_ = mono + kOfflineSweepPeriodNs;
    const std::int64_t now = clock_.NowNs();
    std::unique_lock lock(state_mu_);
    for (std::size_t n = 0; n < kOfflineSweepSlice && n < sensors_.size(); ++n) {
      if (offline_cursor_ >= sensors_.size()) offline_cursor_ = 0;
      const std::uint32_t idx = static_cast<std::uint32_t>(offline_cursor_++);
      SensorState& s = sensors_[idx];
      // Silence counts from the start at the earliest: after a restart every sensor gets its
      // full allowance to report again, rather than a million offline alerts at once.
      const std::int64_t heard_ns = std::max(s.last_arrival_ns, started_ns_);
      if (s.offline || !model->IsSilent(s.station, heard_ns, now)) continue;
      BeforeChange(idx);
      s.offline = true;
      evidence_ =
          fmt::format("no reading for {:.0f} s (usually every {:.3g} s)",
                      static_cast<double>(now - heard_ns) / 1e9, s.station.interval_seconds);
      alerts_.OnDetectorTransition({ids_[idx], labels_[s.site], labels_[s.zone], "sensor_offline",
                                    true, "offline", "", evidence_, AlertPriority::kMedium,
                                    s.last_time_ns, now});
    }
  }

  // Classifies an event and writes its evidence. Contamination shows as chlorine falling while
  // turbidity or conductivity rise; any other joint movement is a water-quality deviation.
  void Describe(const StationModel& model, const SensorState& s, const double* values,
                std::uint32_t outliers, DetectorTransition& t) {
    const bool contamination = LooksLikeContamination(s.detect, values, outliers);
    t.classification = contamination ? "probable_contamination" : "water_quality_deviation";
    t.priority = contamination ? AlertPriority::kHigh : AlertPriority::kMedium;
    evidence_.clear();
    for (int p = 0; p < kCanonicalParameterCount; ++p) {
      if ((outliers & (1u << p)) == 0) continue;
      const ParamState& st = s.detect[p];
      double floor = model.tuning().resolution_floor * model.params()[p].resolution;
      double z = (values[p] - st.location) / std::max<double>(st.scale, floor);
      if (!evidence_.empty()) evidence_ += ", ";
      evidence_ += fmt::format("{} {:+.1f} sd", ParameterName(static_cast<ParameterId>(p)), z);
    }
    fault_names_ = MaskNames(outliers);
    t.parameters = fault_names_;
    t.evidence = evidence_;
  }

  static std::string MaskNames(std::uint32_t mask) {
    std::string names;
    for (int p = 0; p < kCanonicalParameterCount; ++p) {
      if ((mask & (1u << p)) == 0) continue;
      if (!names.empty()) names += ",";
      names += ParameterName(static_cast<ParameterId>(p));
    }
    return names;
  }

  std::uint64_t CustomKey(std::uint32_t sensor, std::string_view name) {
    std::uint32_t name_id = InternLabel(name);
    custom_names_of_[sensor].insert(name_id);
    return (static_cast<std::uint64_t>(sensor) << 32) | name_id;
  }

  SensorSnapshot Snapshot(std::uint32_t idx) const {
    const SensorState& s = sensors_[idx];
    SensorSnapshot snap;
    snap.id = ids_[idx];
    snap.site = labels_[s.site];
    snap.zone = labels_[s.zone];
    snap.first_seen_ns = s.first_seen_ns;
    snap.last_time_ns = s.last_time_ns;
    snap.last_arrival_ns = s.last_arrival_ns;
    snap.readings = s.readings;
    for (int p = 0; p < kCanonicalParameterCount; ++p) {
      if (!std::isnan(s.latest[p])) {
        snap.values.emplace_back(ParameterName(static_cast<ParameterId>(p)), s.latest[p]);
      }
      if (s.levels[p] != Level::kNormal) {
        snap.levels.emplace_back(ParameterName(static_cast<ParameterId>(p)),
                                 LevelName(s.levels[p]));
      }
    }
    auto names = custom_names_of_.find(idx);
    if (names != custom_names_of_.end()) {
      for (std::uint32_t name_id : names->second) {
        auto v = custom_latest_.find((static_cast<std::uint64_t>(idx) << 32) | name_id);
        if (v != custom_latest_.end()) snap.values.emplace_back(labels_[name_id], v->second);
      }
    }
    return snap;
  }

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  BlockStore& store_;
  PipelineTotals& totals_;
  const RuleBook& rule_book_;
  std::shared_ptr<const ProfileRules> rules_;  // the rule book's, as of rules_version_
  std::uint64_t rules_version_;
  std::size_t profile_changes_seen_;  // the rule book's profile changes applied so far
  std::vector<std::pair<std::string, std::uint8_t>> profile_changes_;  // scratch
  const int index_;
  Env& env_;
  Clock& clock_;
  AlertManager& alerts_;
  const PipelineOptions& options_;
  ShardMetrics metrics_;
  Histogram& ack_seconds_;
  std::unique_ptr<ShardLog> log_;

  ShardInbox inbox_;
  // Urgent parts waiting behind the normal part at `first`'s position (shard thread only).
  std::vector<std::pair<std::uint64_t, ShardWork*>> deferred_;
  std::vector<std::string_view> urgent_sensors_;  // scratch for ServeUrgent
  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};
  mutable std::mutex failure_mu_;
  std::string failure_;
  std::atomic<bool> sleeping_{false};
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::thread thread_;
  LiveValueListener* live_ = nullptr;
  SightingSink* sightings_sink_ = nullptr;
  std::vector<SensorSighting> sightings_;  // gathered during a group (shard thread only)
  std::vector<std::pair<std::string_view, double>> live_values_;
  // Written but not yet handed to the syncer (shard thread only).
  std::vector<ShardWork*> unsynced_;
  std::size_t unsynced_readings_ = 0;
  Status unsynced_status_;
  std::int64_t last_sync_mono_ns_ = 0;
  // Scratch for alert text (shard thread only).
  std::string evidence_, fault_names_, classification_;
  std::int64_t next_idle_sweep_ns_ = 0;
  std::int64_t next_offline_sweep_ns_ = 0;
  std::int64_t next_checkpoint_attempt_ns_ = 0;
  std::int64_t next_recovery_mono_ns_ = 0;
  std::uint64_t recovery_attempts_ = 0;
  std::int64_t recovered_mono_ns_ = INT64_MIN / 2;  // last recovery from a storage failure
  std::uint64_t relapses_ = 0;                      // failures each soon after a recovery, in a row
  std::size_t offline_cursor_ = 0;                  // next sensor the offline sweep visits
  std::int64_t started_ns_ = 0;                     // wall-clock start of the shard thread
  // Checkpoints (shard thread only).
  std::uint64_t checkpoint_segment_ = 0;    // first log segment after the newest checkpoint
  std::uint64_t checkpoint_log_bytes_ = 0;  // log size at the start of the newest checkpoint
  std::int64_t last_checkpoint_mono_ns_ = 0;
  std::uint64_t last_checkpoint_bytes_ = 0;  // size of the newest checkpoint written
  // The checkpoint being captured, if any (BeginCheckpoint).
  struct Capture {
    std::unique_ptr<CheckpointStream> stream;
    std::uint64_t segment = 0;        // the first log segment it does not cover
    std::uint32_t sensors = 0;        // the sensors at its start: the ones it holds
    std::vector<std::uint64_t> done;  // bit per sensor: captured
    std::uint32_t cursor = 0;         // the next sensor CaptureStep looks at
    std::uint64_t captured = 0, series = 0;
    std::uint64_t log_bytes = 0;  // log size at its start
    std::int64_t started_mono_ns = 0;
    bool finishing = false;  // every sensor is in; the stream is publishing
    static std::uint64_t Bit(std::uint32_t idx) { return std::uint64_t{1} << (idx % 64); }
    bool Has(std::uint32_t idx) const { return (done[idx / 64] & Bit(idx)) != 0; }
  };
  std::optional<Capture> capture_;
  std::string capture_chunk_;  // scratch: one series' open chunk
  // The idle-seal pass in progress: the next sensor it visits, or none.
  std::optional<std::uint32_t> idle_cursor_;
  double loop_max_seconds_ = 0;  // the longest loop iteration so far

  // Sensor table: written by the shard thread under an exclusive lock once per group; read by
  // API threads under a shared lock.
  mutable std::shared_mutex state_mu_;
  std::deque<std::string> ids_;  // deque: stable addresses for the index's string_views
  // A deque, not a vector: growing never moves the table (a vector's doubling copied every
  // SensorState at once, a pause of tens of ms per 100,000 sensors on the shard thread).
  std::deque<SensorState> sensors_;
  SensorIndex index_by_id_{ids_};
  std::atomic<std::uint64_t> table_bytes_{0};  // TableBytes(); written by the shard thread only
  // Scratch for admission (shard thread only).
  AdmissionTally admission_;
  // What admission reserved in totals_ for the batch being applied (see Reserve).
  std::size_t reserved_sensors_ = 0;
  std::size_t reserved_labels_ = 0;
  std::vector<std::size_t> refused_readings_;
  std::vector<std::string_view> new_names_, new_labels_;
  std::vector<std::size_t*> tally_undo_;
  std::string tally_key_;
  std::vector<std::string_view> batch_ids_;
  std::vector<std::uint64_t> batch_hashes_;
  std::deque<std::string> labels_;  // sites, zones and custom field names
  std::unordered_map<std::string_view, std::uint32_t, StringHash, std::equal_to<>> label_index_;
  std::unordered_map<std::uint64_t, double> custom_latest_;
  std::unordered_map<std::uint32_t, std::set<std::uint32_t>> custom_names_of_;
  // Open chunks; written under state_mu_ like the sensor table.
  ShardHead head_;
  // The sync in flight: the syncer's job owns it from Submit until done(), the shard thread
  // before and after.
  struct InFlightSync {
    std::vector<ShardWork*> works;
    std::size_t readings = 0;
    ShardLog::SyncPoint point;
    Status status;
    std::int64_t synced_mono_ns = 0;
  };
  InFlightSync in_flight_;
  // Last, so it is destroyed (and its thread joined) before anything its job touches.
  Syncer syncer_{[this] { Wake(); }};
};

Status CheckWidths(const ReadingBatch& batch);

class PipelineImpl final : public Pipeline {
 public:
  PipelineImpl(Env& env, Clock& clock, MetricsRegistry& metrics, AlertManager& alerts,
               const PipelineOptions& options, std::unique_ptr<BlockStore> store)
      : options_(options),
        clock_(clock),
        rule_book_(options.rules),
        urgent_screen_(options.rules, 0),
        store_(std::move(store)) {
    for (const auto& [sensor, profile] : options_.sensor_profiles) {
      rule_book_.SetSensorProfile(sensor, profile);
    }
    urgent_screen_.Update(options_.rules, rule_book_.profiles_in_use());
    Histogram& ack = metrics.AddHistogram(
        "aquawatch_ack_latency_seconds",
        "Time from a batch entering a shard queue to being durable and acknowledged", "",
        ExponentialBuckets(0.0001, 2, 16));
    for (int i = 0; i < options_.shards; ++i) {
      std::string label = fmt::format("shard=\"{}\"", i);
      ShardMetrics m = NewShardMetrics(metrics, label);
      shards_.push_back(std::make_unique<Shard>(i, env, clock, alerts, options_, m, ack, *store_,
                                                rule_book_, totals_));
      Shard* shard = shards_.back().get();
      metrics.AddCallbackGauge("aquawatch_queue_readings",
                               "Readings queued for a shard and not yet durable", label,
                               [shard] { return static_cast<double>(shard->QueuedReadings()); });
      const HeadStats* hs = &shard->head_stats();
      auto stat = [](const std::atomic<std::uint64_t>& v) {
        return [&v] { return static_cast<double>(v.load(std::memory_order_relaxed)); };
      };
      metrics.AddCallbackCounter("aquawatch_store_values_late_total",
                                 "Values merged behind their series' newest (late or duplicate)",
                                 label, stat(hs->late));
      metrics.AddCallbackCounter("aquawatch_store_values_duplicate_total",
                                 "Values that replaced one with the same time (last write wins)",
                                 label, stat(hs->duplicates));
      metrics.AddCallbackCounter("aquawatch_store_chunks_sealed_total",
                                 "Chunks sealed into the block store", label, stat(hs->sealed));
      metrics.AddCallbackCounter("aquawatch_store_chunks_rewritten_total",
                                 "Sealed chunks rewritten by a late value", label,
                                 stat(hs->rewritten));
      metrics.AddCallbackGauge("aquawatch_store_head_series",
                               "Series (sensor x parameter) with state in the head", label,
                               stat(hs->series));
      metrics.AddCallbackGauge("aquawatch_memory_bytes", kMemoryHelp, "component=\"head\"," + label,
                               stat(hs->bytes));
      metrics.AddCallbackGauge("aquawatch_memory_bytes", kMemoryHelp,
                               "component=\"sensor_table\"," + label,
                               [shard] { return static_cast<double>(shard->TableBytes()); });
    }
    metrics.AddCallbackGauge("aquawatch_store_disk_bytes",
                             "Bytes of the block store on disk (SST files and WAL)", "",
                             [this] { return static_cast<double>(store_->DiskBytes()); });
    auto store_memory = [this](std::uint64_t StoreMemory::*part) {
      return [this, part] { return static_cast<double>(store_->Memory().*part); };
    };
    metrics.AddCallbackGauge("aquawatch_memory_bytes", kMemoryHelp, "component=\"store_memtables\"",
                             store_memory(&StoreMemory::memtables));
    metrics.AddCallbackGauge("aquawatch_memory_bytes", kMemoryHelp,
                             "component=\"store_block_cache\"",
                             store_memory(&StoreMemory::block_cache));
    metrics.AddCallbackGauge("aquawatch_memory_bytes", kMemoryHelp,
                             "component=\"store_table_readers\"",
                             store_memory(&StoreMemory::table_readers));
    metrics.AddCallbackGauge("aquawatch_sensors", "Sensors known to this process", "",
                             [this] { return static_cast<double>(SensorCount()); });
  }

  ~PipelineImpl() override { Stop(); }

  Status ReadSeries(const SeriesRead& read, std::vector<SeriesPoint>& out) const override {
    if (SensorIdError(read.sensor).size() > 0) return Status::NotFound("no such sensor");
    std::optional<OpenChunk> open;
    const Shard& shard = *shards_[ShardFor(read.sensor, options_.partitions, options_.shards)];
    if (!shard.CopyOpen(read.sensor, read.parameter, &open)) {
      return Status::NotFound(fmt::format("no sensor \"{}\"", read.sensor));
    }
    return aquawatch::ReadSeries(*store_, open, read, out);
  }

  // Retention: once per maintenance interval, drops the store's partitions past each level's age.
  void RunMaintenance() {
    std::unique_lock lock(maintenance_mu_);
    while (!stop_maintenance_) {
      for (int level = 0; level < kStoreLevels; ++level) {
        std::int64_t keep = options_.store.retention_ns[level];
        if (keep <= 0) continue;
        auto dropped = store_->DropBefore(static_cast<StoreLevel>(level), clock_.NowNs() - keep);
        if (!dropped.ok()) {
          spdlog::warn("retention of {} failed: {}", StoreLevelName(static_cast<StoreLevel>(level)),
                       dropped.status().ToString());
        } else if (*dropped > 0) {
          spdlog::info("retention dropped {} partitions of {}", *dropped,
                       StoreLevelName(static_cast<StoreLevel>(level)));
        }
      }
      maintenance_cv_.wait_for(lock,
                               std::chrono::nanoseconds(options_.store.maintenance_interval_ns));
    }
  }

  Status Recover() {
    std::int64_t t0 = clock_.MonotonicNs();
    // Shards recover in parallel: each loads its own checkpoint and replays its own log.
    std::vector<RecoveryStats> stats(shards_.size());
    std::vector<Status> results(shards_.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      threads.emplace_back([&, i] { results[i] = shards_[i]->Recover(&stats[i]); });
    }
    for (auto& t : threads) t.join();
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      if (!results[i].ok()) return results[i];
      recovery_.checkpoint_bytes += stats[i].checkpoint_bytes;
      recovery_.checkpoint_sensors += stats[i].checkpoint_sensors;
      recovery_.records += stats[i].records;
      recovery_.readings += stats[i].readings;
      recovery_.truncated_bytes += stats[i].truncated_bytes;
      recovery_.quarantined_records += stats[i].quarantined_records;
      recovery_.quarantined_bytes += stats[i].quarantined_bytes;
      recovery_.quarantined_checkpoints += stats[i].quarantined_checkpoints;
    }
    recovery_.seconds = static_cast<double>(clock_.MonotonicNs() - t0) / 1e9;
    for (auto& shard : shards_) shard->Start();
    maintenance_ = std::thread([this] { RunMaintenance(); });
    return Status::Ok();
  }

  Status Submit(const ReadingBatch& batch, Done done) override {
    if (batch.empty()) {
      done(WriteResult{});
      return Status::Ok();
    }
    // The gate Stop closes: once it has seen no submitter inside, no batch reaches a shard
    // queue that its thread would never read again.
    submitters_.fetch_add(1, std::memory_order_seq_cst);
    struct Leave {
      std::atomic<int>& n;
      ~Leave() { n.fetch_sub(1, std::memory_order_seq_cst); }
    } leave{submitters_};
    if (stopping_.load(std::memory_order_seq_cst)) return Status::Unavailable("shutting down");
    if (Status st = CheckWidths(batch); !st.ok()) return st;
    const int n = options_.shards;
    // Which shard and lane each reading goes to, and how many per (shard, lane). Every reading
    // of a sensor with an urgent one goes to the urgent lane, so the sensor's readings in this
    // batch keep their order.
    thread_local std::vector<std::uint16_t> shard_of;
    thread_local std::vector<std::uint8_t> urgent_of;
    thread_local std::vector<std::string_view> urgent_sensors;
    shard_of.resize(batch.size());
    urgent_sensors.clear();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (urgent_screen_.IsUrgent(
              batch, i, [this](std::string_view sensor) { return rule_book_.ProfileOf(sensor); })) {
        urgent_sensors.push_back(batch.sensor(i));
      }
    }
    urgent_of.assign(batch.size(), 0);
    std::vector<std::array<std::size_t, 2>> counts(static_cast<std::size_t>(n), {0, 0});
    for (std::size_t i = 0; i < batch.size(); ++i) {
      shard_of[i] = static_cast<std::uint16_t>(ShardFor(batch.sensor(i), options_.partitions, n));
      if (!urgent_sensors.empty() && std::find(urgent_sensors.begin(), urgent_sensors.end(),
                                               batch.sensor(i)) != urgent_sensors.end()) {
        urgent_of[i] = 1;
      }
      ++counts[shard_of[i]][urgent_of[i]];
    }
    // Reserve everywhere first so a batch is taken whole or not at all. A full urgent lane
    // sends its readings to the normal one, behind the queue like any other.
    const bool carries_urgent = !urgent_sensors.empty();
    std::vector<std::uint8_t> urgent_taken(static_cast<std::size_t>(n), 0);
    auto release_all = [&](int upto) {
      for (int r = 0; r < upto; ++r) {
        if (urgent_taken[r]) shards_[r]->Release(Lane::kUrgent, counts[r][1]);
        if (counts[r][0] != 0) shards_[r]->Release(Lane::kNormal, counts[r][0]);
      }
    };
    int parts = 0;
    for (int s = 0; s < n; ++s) {
      auto& c = counts[s];
      if (c[1] != 0 && shards_[s]->Reserve(Lane::kUrgent, c[1], true).ok()) {
        urgent_taken[s] = 1;
        ++parts;
      } else {
        c[0] += c[1];
      }
      if (c[0] == 0) continue;
      Status st = shards_[s]->Reserve(Lane::kNormal, c[0], carries_urgent);
      if (!st.ok()) {
        if (urgent_taken[s]) shards_[s]->Release(Lane::kUrgent, c[1]);
        urgent_taken[s] = 0;
        release_all(s);
        return st;
      }
      ++parts;
    }
    auto ticket = std::make_shared<Ticket>(parts, std::move(done));
    std::int64_t now = clock_.MonotonicNs();
    // A batch without an arrival time (an embedding caller's) arrived now: the offline test
    // measures silence from it.
    const std::int64_t arrival_ns = batch.arrival_ns != 0 ? batch.arrival_ns : clock_.NowNs();
    auto push = [&](int s, Lane lane, std::size_t count) {
      auto* work = new ShardWork;
      work->lane = lane;
      if (parts == 1) {
        work->batch = batch;  // the common single-part case: one bulk copy
      } else {
        const bool want_urgent = lane == Lane::kUrgent;
        for (std::size_t i = 0; i < batch.size(); ++i) {
          if (shard_of[i] != s) continue;
          if (urgent_taken[s] && (urgent_of[i] != 0) != want_urgent) continue;
          work->batch.AppendFrom(batch, i);
        }
      }
      work->batch.arrival_ns = arrival_ns;
      work->ticket = ticket;
      work->enqueued_mono_ns = now;
      work->reserved = count;
      // Only normal parts before this point can hold an earlier reading of its sensors.
      if (lane == Lane::kUrgent) work->after_normal = shards_[s]->NormalTail();
      shards_[s]->Push(work);
    };
    for (int s = 0; s < n; ++s) {
      if (urgent_taken[s]) push(s, Lane::kUrgent, counts[s][1]);
      if (counts[s][0] != 0) push(s, Lane::kNormal, counts[s][0]);
    }
    return Status::Ok();
  }

  ProfileRules profile_rules() const override { return *rule_book_.rules(); }
  void SetProfileRules(const ProfileRules& rules) override {
    // A reading screened with one rule set and applied with the other only changes lanes:
    // detection always uses the shard's rules.
    std::lock_guard lock(screen_mu_);
    rule_book_.SetRules(rules);
    urgent_screen_.Update(rules, rule_book_.profiles_in_use());
  }
  void SetSensorProfile(std::string_view sensor, std::size_t profile) override {
    std::lock_guard lock(screen_mu_);
    rule_book_.SetSensorProfile(sensor, profile);
    urgent_screen_.Update(*rule_book_.rules(), rule_book_.profiles_in_use());
  }

  std::optional<SensorSnapshot> Latest(std::string_view sensor) const override {
    if (SensorIdError(sensor).size() > 0) return std::nullopt;
    return shards_[ShardFor(sensor, options_.partitions, options_.shards)]->Latest(sensor);
  }

  std::vector<SensorSnapshot> ListSensors(std::string_view after,
                                          std::size_t limit) const override {
    std::vector<std::string_view> ids;
    for (const auto& shard : shards_) shard->CollectIds(ids, after, limit);
    std::sort(ids.begin(), ids.end());
    if (ids.size() > limit) ids.resize(limit);
    std::vector<SensorSnapshot> out;
    out.reserve(ids.size());
    // The ids point into shard tables that only grow (deque), so they stay valid here.
    for (std::string_view id : ids) {
      auto snap = Latest(id);
      if (snap) out.push_back(std::move(*snap));
    }
    return out;
  }

  std::size_t SensorCount() const override {
    std::size_t n = 0;
    for (const auto& shard : shards_) n += shard->SensorCount();
    return n;
  }

  RecoveryStats recovery() const override { return recovery_; }

  bool Healthy() const override {
    return std::none_of(shards_.begin(), shards_.end(), [](const auto& s) { return s->Failed(); });
  }

  void SetLiveValueListener(LiveValueListener* listener) override {
    for (auto& shard : shards_) shard->SetLiveValueListener(listener);
  }

  void SetSightingSink(SightingSink* sink) override {
    for (auto& shard : shards_) shard->SetSightingSink(sink);
  }

  void Stop() override {
    stopping_.store(true, std::memory_order_seq_cst);
    while (submitters_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
    for (auto& shard : shards_) shard->Stop();
    {
      std::lock_guard lock(maintenance_mu_);
      stop_maintenance_ = true;
    }
    maintenance_cv_.notify_all();
    if (maintenance_.joinable()) maintenance_.join();
  }

 private:
  PipelineOptions options_;
  Clock& clock_;
  RuleBook rule_book_;                 // outlives the shards, which read it
  UrgentScreen urgent_screen_;         // which readings take the urgent lane
  std::mutex screen_mu_;               // orders rule changes with their screen updates
  PipelineTotals totals_;              // outlives the shards, which count into it
  std::unique_ptr<BlockStore> store_;  // outlives the shards, which write to it
  std::vector<std::unique_ptr<Shard>> shards_;
  std::thread maintenance_;
  std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool stop_maintenance_ = false;
  RecoveryStats recovery_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> submitters_{0};  // Submit calls in progress (Stop waits for none)
};

// The log and checkpoint formats keep ids, labels and names with lengths the decoders bound
// (core/reading.h); an embedding caller that skipped them is told, not written to disk.
Status CheckWidths(const ReadingBatch& batch) {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch.sensor(i).empty() || batch.sensor(i).size() > kMaxSensorIdBytes ||
        batch.site(i).size() > kMaxLabelBytes || batch.zone(i).size() > kMaxLabelBytes) {
      return Status::InvalidArgument(
          fmt::format("reading {} has a sensor id, site or zone outside 1-128 bytes", i));
    }
  }
  for (std::size_t f = 0; f < batch.field_count(); ++f) {
    if (batch.field_param(f) == ParameterId::kCustom &&
        (batch.field_name(f).empty() || batch.field_name(f).size() > kMaxFieldNameBytes)) {
      return Status::InvalidArgument("a custom field name outside 1-64 bytes");
    }
  }
  return Status::Ok();
}

// The shard layout is fixed once data exists: a sensor must stay on the shard whose log holds
// its history. The layout also says whether chunk windows are staggered per sensor (data
// directories created before that have aligned windows, and keep them). Returns whether they are.
Result<bool> CheckLayout(Env& env, const PipelineOptions& options) {
  std::string path = options.data_dir + "/LAYOUT";
  const std::string layout =
      fmt::format("partitions={} shards={}", options.partitions, options.shards);
  const std::string staggered = layout + " windows=staggered\n";
  if (env.Exists(path)) {
    auto have = env.ReadWholeFile(path);
    if (!have.ok()) return have.status();
    if (*have == staggered) return true;
    if (*have == layout + "\n") return false;
    return Status::InvalidArgument(
        fmt::format("data directory {} was created with {}, but this run asks for {}; use the same "
                    "--shards and --partitions, or a new data directory",
                    options.data_dir, *have, staggered));
  }
  auto file = env.OpenAppendable(path);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(staggered);
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = env.SyncDir(options.data_dir);
  if (!s.ok()) return s;
  return true;
}

}  // namespace

Result<std::unique_ptr<Pipeline>> Pipeline::Open(Env& env, Clock& clock, MetricsRegistry& metrics,
                                                 AlertManager& alerts,
                                                 const PipelineOptions& options) {
  if (options.shards < 1 || options.shards > 256) {
    return Status::InvalidArgument("shards must be between 1 and 256");
  }
  if (options.partitions < options.shards) {
    return Status::InvalidArgument("partitions must be at least the number of shards");
  }
  Status s = ValidateHeadOptions(options.store.head);
  if (s.ok()) s = env.CreateDirs(options.data_dir);
  if (!s.ok()) return s;
  auto staggered = CheckLayout(env, options);
  if (!staggered.ok()) return staggered.status();
  PipelineOptions opened_options = options;
  opened_options.store.head.stagger_windows = *staggered;
  BlockStoreOptions store_options;
  store_options.chunk_span_ns = options.store.head.chunk_span_ns;
  store_options.block_cache_bytes = options.store.block_cache_mb << 20;
  auto store = BlockStore::Open(options.data_dir + "/store", store_options);
  if (!store.ok()) return store.status();
  auto pipeline = std::make_unique<PipelineImpl>(env, clock, metrics, alerts, opened_options,
                                                 std::move(store).value());
  s = pipeline->Recover();
  if (!s.ok()) return s;
  return std::unique_ptr<Pipeline>(std::move(pipeline));
}

namespace {

// The block store of a shard that only decodes a checkpoint: loading one never touches chunks.
class NoBlockStore final : public BlockStore {
 public:
  Status Write(const SealedChunk&) override { return Refuse(); }
  Result<std::optional<std::string>> GetChunk(std::string_view, std::string_view,
                                              std::int64_t) override {
    return Refuse();
  }
  Status Scan(StoreLevel, std::string_view, std::string_view, std::int64_t, std::int64_t,
              const std::function<void(std::int64_t, std::string_view)>&) override {
    return Refuse();
  }
  Status MakeDurable() override { return Refuse(); }
  Status Resume() override { return Status::Ok(); }
  Result<int> DropBefore(StoreLevel, std::int64_t) override { return Refuse(); }
  std::uint64_t DiskBytes() override { return 0; }
  std::uint64_t LevelBytes(StoreLevel) override { return 0; }
  StoreMemory Memory() override { return {}; }
  Status CompactAll() override { return Refuse(); }

 private:
  static Status Refuse() { return Status::Internal("no block store: decoding a checkpoint only"); }
};

}  // namespace

Status DecodeShardCheckpoint(std::string_view image, const PipelineOptions& options,
                             CheckpointContents* contents) {
  Status s = ValidateHeadOptions(options.store.head);
  if (!s.ok()) return s;
  PipelineOptions shard_options = options;
  shard_options.max_queued_batches = 2;  // the shard never takes a batch
  MetricsRegistry metrics;
  Histogram& ack = metrics.AddHistogram("aquawatch_ack_latency_seconds", "unused", "",
                                        ExponentialBuckets(0.0001, 2, 4));
  AlertManager alerts;
  NoBlockStore store;
  RuleBook rule_book(shard_options.rules);
  PipelineTotals totals;
  Shard shard(0, DefaultEnv(), SystemClock(), alerts, shard_options,
              NewShardMetrics(metrics, "shard=\"0\""), ack, store, rule_book, totals);
  s = shard.LoadCheckpointImage(image, contents);
  if (s.ok() && contents != nullptr) contents->open_alerts = alerts.OpenCount();
  return s;
}

}  // namespace aquawatch
