// StationDetector: the layered, causal detector for one station (one multi-parameter probe).
//
// Each row (one timestamp, one value per parameter; NaN = missing) passes QA/QC, then a robust
// per-parameter baseline that scores how far the value is from normal, then event fusion that
// turns the per-row outlier flags into an event probability (a binomial event discriminator in
// the spirit of EPA CANARY). Everything is causal: a row's verdict depends only on earlier rows.
// The same class runs inside the server's shard threads and in `aquawatch replay`.
// Thread-safety: one instance per station, used by one thread.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.h"
#include "core/status.h"

namespace aquawatch {

struct ParameterSpec {
  std::string name;
  double resolution = 0.01;   // smallest step the sensor reports; floors the noise scale
  double min_valid = -1e300;  // physically possible range; outside = bad value (QA/QC)
  double max_valid = 1e300;
  bool water_quality = true;  // false: context only (e.g. flow), never raises an event
};

// Defaults were chosen by bench/detect/tune_gecco.py on GECCO 2018's earlier months (Aug-Sep
// 2016) and by `aquawatch evaluate` on the simulator; docs/detection.md has the held-out scores.
struct DetectorTuning {
  double baseline_alpha = 0.005;   // EWMA weight of the location per sample
  double scale_alpha = 0.01;       // EWMA weight of the absolute deviation per sample
  double resolution_floor = 2.0;   // noise scale >= this many resolutions
  double outlier_z = 6.0;          // |value - baseline| / scale above this flags an outlier
  int warmup_samples = 60;         // no outliers before the baseline has seen this many
  int window = 10;                 // binomial event discriminator window, in rows
  double outlier_rate = 0.05;      // probability of an outlier row in normal operation
  double event_probability = 0.9;  // event when P(fewer outliers | normal) reaches this
  // Daily cycle: temperature, dissolved oxygen and conductivity follow the sun. Each parameter
  // learns the first harmonic of its day (a cos + b sin of the time of day, UTC) around the
  // drift test's slow reference, averaged over about daily_days days of normal rows. Once it
  // has seen a full day the cycle is phased in over the next, and from then on the baseline
  // (location, scale, outlier test) judges the value with the cycle taken out, so the scale is
  // no longer inflated by the baseline lagging the cycle. The drift test keeps the raw value.
  // 0 = off.
  double daily_days = 7.0;
  // Rate of change: a parameter that has moved the same way on each of its last ramp_rows rows
  // (strictly) and is ramp_z scales from its baseline is an outlier before the level test
  // (outlier_z) would see it: a ramp, where noise goes up and down. 0 = off.
  int ramp_rows = 5;
  double ramp_z = 5.0;
  // Multivariate: the station's standardised deviations z (one per water-quality parameter with
  // a value) are scored against their learnt joint covariance C (an EWMA of z z^T over normal
  // rows, weight joint_alpha): D^2 = z^T (C + ridge I)^-1 z. A row whose D^2 exceeds the
  // chi-square quantile of its dimension at joint_p is an outlier row even when no parameter
  // is one alone: several moving together where they usually do not. Its outliers are the
  // parameters with |z| >= 2. joint_p = 0: off. The per-station state is k x k floats
  // (JointStateSize), kept apart from ParamState.
  double joint_p = 0;
  double joint_alpha = 0.002;
  // A row whose z reaches strong_z is an event at once, without waiting for the window: a
  // sharp contamination must not wait for five samples (0 = off).
  double strong_z = 0;
  // A parameter that has been an outlier for this many consecutive rows has a new normal (a
  // recalibration, a change of source water): its baseline jumps to the current value. 0 = off.
  int rebaseline_after = 0;

  // QA/QC (docs/detection.md). A fault is the probe's problem, not the water's: the value is
  // stored as bad, never counts as an outlier and never teaches the baseline.
  //
  // Flat line: at least flat_samples rows in a row within flat_tolerance resolutions of the
  // run's first value, and more than flat_factor times the longest such run the parameter has
  // had lately (a slowly forgotten maximum). A parameter often flat at its resolution (GECCO's
  // conductivity) needs a far longer run than a noisy one. 0 = off.
  int flat_samples = 60;
  double flat_tolerance = 0;
  double flat_factor = 5.0;
  // Drift: the value against a slow reference, an EWMA of weight drift_alpha per sample (far
  // slower than the baseline, which follows a slow drift as fast as it grows), in units of its
  // usual distance from that reference (learnt on rows within drift_z). A parameter more than
  // drift_z of those units away for drift_samples rows, while no other parameter of the station
  // is an outlier or drifting, is drifting: one probe wandering off alone, where real water
  // changes move several parameters. While drifting the value is a fault and nothing learns
  // from it. 0 = off.
  double drift_alpha = 0.0002;
  double drift_z = 5.0;
  int drift_samples = 720;
  // Spikes: a parameter that is an outlier on one row and back within outlier_z on the next
  // was a single-sample spike; the earlier row is taken out of the event window.
  bool spike_filter = true;
  // Missing: a parameter the station has reported is absent for this many rows. 0 = off.
  int missing_samples = 0;
  // Offline: no row for offline_after times the station's usual interval, and at least
  // offline_min_seconds, once the station has sent warmup_samples rows. 0 = off.
  double offline_after = 5;
  double offline_min_seconds = 60;
};

// What QA/QC can find wrong with a value or a station.
enum class FaultKind : std::uint8_t {
  kOutOfRange = 0,  // outside the parameter's physically possible range
  kSentinel,        // a data logger's "no value" code (-9999, 65535, ...)
  kFlatLine,        // a normally noisy parameter flat at its resolution for flat_samples rows
  kDrift,           // one parameter alone, far from its slow reference for too long
  kSpike,           // one isolated outlier sample (confirmed on the next row)
  kMissing,         // a parameter the probe reports has been absent for missing_samples rows
  kOffline,         // the whole probe was silent for offline_after x its usual interval
};
inline constexpr int kFaultKindCount = 7;
std::string_view FaultKindName(FaultKind kind);  // "out_of_range", "sentinel", ...
inline constexpr std::uint8_t FaultBit(FaultKind kind) {
  return static_cast<std::uint8_t>(1u << static_cast<int>(kind));
}

struct RowVerdict {
  bool event = false;            // the fused decision for this row
  bool after_gap = false;        // the row ends an offline silence of the station
  std::uint8_t fault_kinds = 0;  // FaultBit of every fault found on this row (spikes included)
  double probability = 0;        // event probability in [0, 1]
  std::uint32_t outliers = 0;    // bit i: parameter i was an outlier on this row
  std::uint32_t faults = 0;      // bit i: parameter i's value on this row failed QA/QC (bad)
  std::uint32_t spikes = 0;      // bit i: parameter i's value on the PREVIOUS row was a spike
  std::uint32_t missing = 0;     // bit i: parameter i has been missing for missing_samples rows
  double max_z = 0;              // largest baseline z-score on this row
};

// Per parameter of one station: a robust streaming baseline. Location and scale are exponentially
// weighted (mean and mean absolute deviation); outliers update the location only after being
// clipped to the outlier boundary and never the scale, so an event cannot drag the baseline
// along with it, while a permanent shift is still absorbed at a bounded speed. Kept small: the
// server holds one per (sensor, parameter).
struct ParamState {
  double location = 0;
  float scale = 0;
  float daily_cos = 0;  // the daily cycle's first harmonic: value ~ level + a cos + b sin
  float daily_sin = 0;
  float drift_ref = 0;     // the drift test's slow reference
  float drift_dev = 0;     // ... and the value's usual distance from it
  float flat_ref = 0;      // first value of the current flat run
  float flat_longest = 0;  // longest normal flat run lately, in rows (slowly forgotten)
  float last = 0;          // the previous value (rate of change)
  std::uint32_t seen = 0;
  std::uint16_t flat_run = 0;     // rows since flat_ref within flat_tolerance
  std::uint16_t outlier_run = 0;  // consecutive outlier rows (re-baselining, spikes)
  std::uint16_t drift_run = 0;    // consecutive rows with the drift CUSUM above drift_z, alone
  std::uint16_t missing_run = 0;  // consecutive rows without a value
  std::uint16_t flat_runs = 0;    // flat runs that ended normally (saturating)
  std::int16_t ramp_run = 0;      // rows of the current monotone run: > 0 rising, < 0 falling
};

// Per station: the event window and what the offline test needs.
struct StationState {
  std::uint64_t window = 0;             // bit k: the row k rows ago had an outlier
  std::int64_t last_time_ns = 0;        // time of the previous row; 0 = none yet
  float interval_seconds = 0;           // the usual interval between rows (EWMA); 0 = unknown
  std::uint32_t previous_outliers = 0;  // the previous row's outliers (spike confirmation)
  std::uint32_t rows = 0;               // rows seen (saturating)
};

// The immutable part of a detector: parameter specs, tuning and the binomial table. One model
// serves every station of a profile; each station keeps only its ParamState array and window.
// Thread-safety: immutable after Create; Process may run on many threads with their own state.
class StationModel {
 public:
  static Result<std::shared_ptr<const StationModel>> Create(std::vector<ParameterSpec> params,
                                                            const DetectorTuning& tuning);
  // REQUIRES: state.size() == params().size(); `values` has one entry per parameter; `joint`
  // empty or JointStateSize() floats initialised by InitJointState (the multivariate test runs
  // only with it).
  RowVerdict Process(std::span<ParamState> state, StationState& station, std::int64_t time_ns,
                     const double* values, std::span<float> joint = {}) const;
  // Floats of multivariate state per station: 0 when the test is off.
  std::size_t JointStateSize() const;
  void InitJointState(std::span<float> joint) const;
  // Whether a station whose last row arrived at `last_ns` is offline at `now_ns` (same clock).
  bool IsSilent(const StationState& station, std::int64_t last_ns, std::int64_t now_ns) const;
  // How long a station may stay silent before it is offline; 0 = never (test off, or its
  // interval not learnt yet).
  std::int64_t SilenceLimitNs(const StationState& station) const;
  const std::vector<ParameterSpec>& params() const { return params_; }
  const DetectorTuning& tuning() const { return tuning_; }

 private:
  StationModel(std::vector<ParameterSpec> params, const DetectorTuning& tuning);
  std::vector<ParameterSpec> params_;
  DetectorTuning tuning_;
  std::vector<double> cdf_below_;  // P(X < k), X ~ Binomial(window, outlier_rate)
  double joint_upper_z_;           // the normal quantile of tuning.joint_p
};

// A model plus the state of one station: what `aquawatch replay` drives.
class StationDetector {
 public:
  static Result<std::unique_ptr<StationDetector>> Create(std::vector<ParameterSpec> params,
                                                         const DetectorTuning& tuning);
  virtual ~StationDetector() = default;
  // REQUIRES: `values` has one entry per parameter, in the order given to Create.
  virtual RowVerdict Process(std::int64_t time_ns, const double* values) = 0;
  virtual const std::vector<ParameterSpec>& params() const = 0;
  // Bytes of detector state for this station (heap included), to keep it within budget.
  virtual std::size_t StateBytes() const = 0;
};

}  // namespace aquawatch

namespace aquawatch {

// The spec of a canonical parameter (resolution from CanonicalParameter, physically possible
// range), used by the server's detectors and by `aquawatch replay` for columns with these names.
ParameterSpec CanonicalSpec(ParameterId id);
// CanonicalSpec of every canonical parameter, in id order.
std::vector<ParameterSpec> CanonicalSpecs();
// The model the server runs on every sensor: all canonical parameters, in id order.
std::shared_ptr<const StationModel> CanonicalStationModel(const DetectorTuning& tuning = {});

}  // namespace aquawatch

namespace aquawatch {

// Turns a station's row verdicts into event openings and closings, the same way everywhere (the
// server's alerts, the simulator evaluation): an event opens at the first event row while none is
// open and closes after `window` consecutive rows without one.
struct EventState {
  std::uint8_t quiet_rows = 0;
  bool in_event = false;
};
enum class EventChange : std::uint8_t { kNone, kOpened, kClosed };
EventChange TrackEvent(EventState& state, const RowVerdict& verdict, int window);

// Turns a station's QA/QC verdicts into one sensor-fault alert, the same way everywhere (the
// server, the simulator evaluation): it opens after kFaultRows rows in a row with a bad or
// long-missing value, or when kSpikesForFault confirmed spikes fall within 64 rows; it closes
// after kFaultRows clean rows with no spike left in that history. Offline is separate (its own
// alert kind, raised by the server's sweep).
struct FaultState {
  std::uint64_t spike_rows = 0;  // bit k: the row k rows ago confirmed a spike
  std::uint8_t fault_rows = 0;   // consecutive rows with a QA/QC fault
  std::uint8_t clean_rows = 0;   // consecutive clean rows while the alert is open
  std::uint8_t kinds = 0;        // FaultBit of every kind seen since the alert opened
  bool in_fault = false;
};
inline constexpr std::uint8_t kFaultRows = 3;
inline constexpr int kSpikesForFault = 3;
EventChange TrackFault(FaultState& state, const RowVerdict& verdict);

// For the canonical model: whether an event row looks like contamination, i.e. free chlorine
// fell below its baseline while turbidity or conductivity rose above theirs (all flagged). Any
// other joint movement is a water-quality deviation.
bool LooksLikeContamination(std::span<const ParamState> state, const double* values,
                            std::uint32_t outliers);

}  // namespace aquawatch
