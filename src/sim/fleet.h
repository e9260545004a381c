// Fleet: a deterministic model of many water-quality sensors, for `aquawatch simulate` and
// `aquawatch bench`.
//
// Each sensor reports the seven canonical parameters of treated drinking water every `interval`,
// at its own phase offset inside the interval so the fleet's load is even over time. Values follow
// a daily temperature cycle, chemistry that depends on it (oxygen saturation, chlorine decay with
// water age), slow per-sensor wander, zone-wide rain events and sensor noise rounded to each
// parameter's resolution. On top of that the fleet can inject sensor faults (stuck, drift, spike,
// dropout) and contamination events, and reports each one as a ground-truth Label.
//
// Everything is a pure function of FleetOptions (including the seed) and of the sequence of Step()
// calls' outputs: the same options give the same readings and labels, however Step() is sliced.
// There is no I/O, no clock and no global state.
// Thread-safety: a Fleet is used by one thread at a time. Different Fleets are independent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.h"

namespace aquawatch::sim {

inline constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

enum class LabelKind : std::uint8_t { kContamination, kStuck, kDrift, kSpike, kDropout };
std::string_view LabelKindName(LabelKind kind);

// One injected event. [start_time_ns, end_time_ns) covers every affected reading; a spike has
// start == end == the time of its single reading.
struct Label {
  std::string sensor;
  LabelKind kind = LabelKind::kContamination;
  std::int64_t start_time_ns = 0;
  std::int64_t end_time_ns = 0;
};

// Receives labels as events are scheduled (before any reading they affect is emitted).
// Called on the thread that calls Fleet::Step.
class LabelSink {
 public:
  virtual ~LabelSink() = default;
  virtual void Add(const Label& label) = 0;
};

class VectorLabelSink : public LabelSink {
 public:
  void Add(const Label& label) override { labels.push_back(label); }
  std::vector<Label> labels;
};

// The CSV header and one row (with trailing newline) of the labels file:
// `sensor,kind,start_time_ns,end_time_ns`.
std::string_view LabelCsvHeader();
std::string FormatLabelCsv(const Label& label);

// A contamination event at an explicit time. It starts at the sensor's first reading at or after
// `time_ns`.
struct ContaminationAt {
  std::int64_t time_ns = 0;
  // Index of the sensor, or npos for one chosen at random (from the seed).
  std::size_t sensor_index = std::numeric_limits<std::size_t>::max();
};

struct FleetOptions {
  std::size_t sensors = 1000;
  std::size_t sensors_per_site = 20;
  std::size_t sites_per_zone = 5;
  std::int64_t interval_ns = 10 * kNanosPerSecond;
  // Time of round 0; each sensor's first reading is at start_time_ns + its phase. Phases are whole
  // milliseconds, so readings are millisecond-aligned when start_time_ns is (JSON carries ms).
  std::int64_t start_time_ns = 0;
  std::uint64_t seed = 1;
  // Number of canonical parameters per reading, 1-7, in ParameterId order (6 drops orp_mv).
  int parameters = kCanonicalParameterCount;
  // Sensor ids are `<prefix><index+1>` zero-padded to at least 6 digits.
  std::string id_prefix = "sim-";

  // Expected sensor faults per sensor per day (all kinds together, chosen uniformly). 0 = none.
  double fault_rate_per_sensor_day = 0;
  // Contamination on a random sensor every this much simulated time (first one after one period).
  // 0 = never.
  std::int64_t contamination_every_ns = 0;
  std::int64_t contamination_duration_ns = 300 * kNanosPerSecond;
  std::vector<ContaminationAt> contamination_at;

  // Rain: each zone has this chance per day of a rain event raising turbidity by up to
  // rain_peak_ntu (times a per-sensor factor 0.5-1) and diluting conductivity a little. The
  // default keeps turbidity <= 0.3 NTU, the regulatory limit.
  double rain_events_per_zone_day = 0.3;
  double rain_peak_ntu = 0.15;

  LabelSink* labels = nullptr;  // not owned; may be null
};

class Fleet {
 public:
  // REQUIRES: options.sensors >= 1, options.interval_ns >= 1 ms, 1 <= parameters <= 7.
  explicit Fleet(const FleetOptions& options);
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;
  ~Fleet();

  // Appends, in time order, every reading due before `until_ns` that has not been emitted yet, but
  // at most `max_readings`. Returns how many were appended. Call again to continue.
  std::size_t Step(std::int64_t until_ns, ReadingBatch& out,
                   std::size_t max_readings = std::numeric_limits<std::size_t>::max());

  // Time of the next reading Step() will consider (a dropped-out sensor may skip it).
  std::int64_t next_time_ns() const;
  // Start of the round the next reading belongs to; every sensor reports once per round.
  std::int64_t round_start_ns() const;

  std::size_t size() const;
  std::string SensorId(std::size_t index) const;
  std::string SiteId(std::size_t index) const;
  std::string ZoneId(std::size_t index) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aquawatch::sim
