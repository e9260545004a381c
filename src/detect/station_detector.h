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
// 2016); docs/detection.md has the held-out scores.
struct DetectorTuning {
  double baseline_alpha = 0.005;   // EWMA weight of the location per sample
  double scale_alpha = 0.01;       // EWMA weight of the absolute deviation per sample
  double resolution_floor = 2.0;   // noise scale >= this many resolutions
  double outlier_z = 6.0;          // |value - baseline| / scale above this flags an outlier
  int warmup_samples = 60;         // no outliers before the baseline has seen this many
  int window = 10;                 // binomial event discriminator window, in rows
  double outlier_rate = 0.05;      // probability of an outlier row in normal operation
  double event_probability = 0.9;  // event when P(fewer outliers | normal) reaches this
  int stuck_samples = 0;           // identical consecutive values that make a stuck sensor; 0 = off
  // Two-sided CUSUM on the standardised deviation catches slow ramps before the level z does:
  // S = max(0, S + z - cusum_k); the row is an outlier when S > cusum_h (0 = off). S is capped
  // at cusum_h + cusum_k so it forgets an event within a row or two of its end.
  double cusum_k = 1.0;
  double cusum_h = 0;
  // A row whose z reaches strong_z is an event at once, without waiting for the window: a
  // sharp contamination must not wait for five samples (0 = off).
  double strong_z = 0;
  // A parameter that has been an outlier for this many consecutive rows has a new normal (a
  // recalibration, a change of source water): its baseline jumps to the current value. 0 = off.
  int rebaseline_after = 0;
};

struct RowVerdict {
  bool event = false;          // the fused decision for this row
  double probability = 0;      // event probability in [0, 1]
  std::uint32_t outliers = 0;  // bit i: parameter i was an outlier on this row
  std::uint32_t faults = 0;    // bit i: parameter i failed QA/QC (impossible, stuck, ...)
  double max_z = 0;            // largest baseline z-score on this row
};

// Per parameter of one station: a robust streaming baseline. Location and scale are exponentially
// weighted (mean and mean absolute deviation); outliers update the location only after being
// clipped to the outlier boundary and never the scale, so an event cannot drag the baseline
// along with it, while a permanent shift is still absorbed at a bounded speed. Kept small: the
// server holds one per (sensor, parameter).
struct ParamState {
  double location = 0;
  double last = std::numeric_limits<double>::quiet_NaN();
  float scale = 0;
  float cusum_hi = 0;  // standardised deviations above the baseline, accumulated
  float cusum_lo = 0;
  std::uint32_t seen = 0;
  std::uint16_t same_run = 0;     // consecutive identical values (stuck detection)
  std::uint16_t outlier_run = 0;  // consecutive outlier rows (re-baselining)
};

// The immutable part of a detector: parameter specs, tuning and the binomial table. One model
// serves every station of a profile; each station keeps only its ParamState array and window.
// Thread-safety: immutable after Create; Process may run on many threads with their own state.
class StationModel {
 public:
  static Result<std::shared_ptr<const StationModel>> Create(std::vector<ParameterSpec> params,
                                                            const DetectorTuning& tuning);
  // REQUIRES: state.size() == params().size(); `values` has one entry per parameter.
  RowVerdict Process(std::span<ParamState> state, std::uint64_t& window,
                     const double* values) const;
  const std::vector<ParameterSpec>& params() const { return params_; }
  const DetectorTuning& tuning() const { return tuning_; }

 private:
  StationModel(std::vector<ParameterSpec> params, const DetectorTuning& tuning);
  std::vector<ParameterSpec> params_;
  DetectorTuning tuning_;
  std::vector<double> cdf_below_;  // P(X < k), X ~ Binomial(window, outlier_rate)
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

// For the canonical model: whether an event row looks like contamination, i.e. free chlorine
// fell below its baseline while turbidity or conductivity rose above theirs (all flagged). Any
// other joint movement is a water-quality deviation.
bool LooksLikeContamination(std::span<const ParamState> state, const double* values,
                            std::uint32_t outliers);

}  // namespace aquawatch
