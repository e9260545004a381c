#include "detect/station_detector.h"

#include <fmt/format.h>
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numbers>

namespace aquawatch {
namespace {

constexpr int kMaxParams = 32;  // outlier and fault masks are 32-bit
constexpr int kMaxWindow = 64;  // the window is one 64-bit mask
// The flat-line test's longest normal run decays by this factor per sample: it forgets a long
// run over about 20,000 samples (two days at 10 s).
constexpr float kFlatLongestDecay = 1.0f - 1.0f / 20000;
// ... and trusts that maximum once this many runs have ended.
constexpr std::uint16_t kFlatRunsToTrust = 16;

std::uint16_t SaturatingIncrement(std::uint16_t n) {
  return n == UINT16_MAX ? n : static_cast<std::uint16_t>(n + 1);
}

double LogChoose(int n, int k) {
  return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0);
}

// D^2 = z^T (C + ridge I)^-1 z over the dimensions in `dims` (C is k x k, row-major), by
// Cholesky. Returns -1 when the matrix is not positive definite.
double JointDistance(std::span<const float> c, std::size_t k, const int* dims, int n,
                     const double* z) {
  constexpr double kRidge = 0.05;
  double l[kMaxParams][kMaxParams];
  double y[kMaxParams];
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) {
      double sum = c[static_cast<std::size_t>(dims[i]) * k + static_cast<std::size_t>(dims[j])];
      if (i == j) sum += kRidge;
      for (int m = 0; m < j; ++m) sum -= l[i][m] * l[j][m];
      if (i == j) {
        if (sum <= 0) return -1;
        l[i][i] = std::sqrt(sum);
      } else {
        l[i][j] = sum / l[j][j];
      }
    }
  }
  double d2 = 0;
  for (int i = 0; i < n; ++i) {  // solve L y = z; D^2 = |y|^2
    double sum = z[dims[i]];
    for (int m = 0; m < i; ++m) sum -= l[i][m] * y[m];
    y[i] = sum / l[i][i];
    d2 += y[i] * y[i];
  }
  return d2;
}

// The chi-square quantile with `dof` degrees of freedom at upper tail p (Wilson-Hilferty).
double ChiSquareQuantile(int dof, double upper_z) {
  const double k = dof;
  const double a = 2.0 / (9.0 * k);
  const double c = 1.0 - a + upper_z * std::sqrt(a);
  return k * c * c * c;
}

// The standard normal quantile for upper tail p < 0.5 (Abramowitz & Stegun 26.2.23, error
// below 4.5e-4).
double UpperNormalQuantile(double p) {
  const double t = std::sqrt(-2.0 * std::log(p));
  return t - (2.515517 + 0.802853 * t + 0.010328 * t * t) /
                 (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
}

}  // namespace

StationModel::StationModel(std::vector<ParameterSpec> params, const DetectorTuning& tuning)
    : params_(std::move(params)),
      tuning_(tuning),
      joint_upper_z_(tuning.joint_p > 0 ? UpperNormalQuantile(tuning.joint_p) : 0) {
  // P(X < k) for X ~ Binomial(window, outlier_rate): how unlikely k outlier rows in a window
  // would be if the water were normal.
  const int w = tuning_.window;
  const double p = tuning_.outlier_rate;
  cdf_below_.assign(static_cast<std::size_t>(w) + 2, 0.0);
  double cumulative = 0;
  for (int k = 0; k <= w; ++k) {
    cdf_below_[static_cast<std::size_t>(k)] = cumulative;
    cumulative += std::exp(LogChoose(w, k) + k * std::log(p) + (w - k) * std::log1p(-p));
  }
  cdf_below_[static_cast<std::size_t>(w) + 1] = 1.0;
}

namespace {

// Codes data loggers write when a probe gives no value. Exact matches only: a real reading that
// lands on one of these exactly is improbable enough.
constexpr double kLoggerSentinels[] = {-99999, -9999, -999, 9999, 99999, 32767, -32768, 65535};

bool IsLoggerSentinel(double x) {
  for (double s : kLoggerSentinels) {
    if (x == s) return true;
  }
  return false;
}

}  // namespace

std::string_view FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kOutOfRange:
      return "out_of_range";
    case FaultKind::kSentinel:
      return "sentinel";
    case FaultKind::kFlatLine:
      return "flat_line";
    case FaultKind::kDrift:
      return "drift";
    case FaultKind::kSpike:
      return "spike";
    case FaultKind::kMissing:
      return "missing";
    case FaultKind::kOffline:
      return "offline";
  }
  return "unknown";
}

std::int64_t StationModel::SilenceLimitNs(const StationState& station) const {
  if (tuning_.offline_after <= 0 || station.interval_seconds <= 0 ||
      station.rows < static_cast<std::uint32_t>(tuning_.warmup_samples)) {
    return 0;
  }
  const double limit =
      std::max(tuning_.offline_after * station.interval_seconds, tuning_.offline_min_seconds);
  return static_cast<std::int64_t>(limit * 1e9);
}

bool StationModel::IsSilent(const StationState& station, std::int64_t last_ns,
                            std::int64_t now_ns) const {
  const std::int64_t limit = SilenceLimitNs(station);
  return limit > 0 && now_ns - last_ns > limit;
}

std::size_t StationModel::JointStateSize() const {
  return tuning_.joint_p > 0 ? params_.size() * params_.size() : 0;
}

void StationModel::InitJointState(std::span<float> joint) const {
  const std::size_t k = params_.size();
  for (std::size_t i = 0; i < joint.size(); ++i) joint[i] = i / k == i % k ? 1.0f : 0.0f;
}

RowVerdict StationModel::Process(std::span<ParamState> state, StationState& station,
                                 std::int64_t time_ns, const double* values,
                                 std::span<float> joint) const {
  RowVerdict v;
  const DetectorTuning& t = tuning_;
  // Offline: judged on the gap before this row, against the interval learned before it.
  if (station.last_time_ns != 0) {
    v.after_gap = IsSilent(station, station.last_time_ns, time_ns);
    const double dt = static_cast<double>(time_ns - station.last_time_ns) / 1e9;
    // A gap is not the usual interval; neither is a repeated timestamp.
    if (dt > 0 && (station.interval_seconds <= 0 || dt <= 3 * station.interval_seconds)) {
      station.interval_seconds =
          station.interval_seconds <= 0
              ? static_cast<float>(dt)
              : station.interval_seconds +
                    static_cast<float>(0.05 * (dt - station.interval_seconds));
    }
  }
  station.last_time_ns = time_ns;
  if (station.rows < UINT32_MAX) ++station.rows;
  if (v.after_gap) v.fault_kinds |= FaultBit(FaultKind::kOffline);

  // The time of day as an angle, for the daily cycle (learnt only once the interval is known).
  constexpr double kDaySeconds = 86400;
  const bool daily_on = t.daily_days > 0 && station.interval_seconds > 0;
  double day_cos = 0, day_sin = 0, daily_weight = 0, samples_per_day = 0;
  if (daily_on) {
    constexpr std::int64_t kDayNs = 86'400'000'000'000;
    const double phase = 2 * std::numbers::pi * static_cast<double>(time_ns % kDayNs) / kDayNs;
    day_cos = std::cos(phase);
    day_sin = std::sin(phase);
    samples_per_day = kDaySeconds / station.interval_seconds;
    daily_weight = 1 / (t.daily_days * samples_per_day);
  }
  std::uint32_t drift_candidates = 0;  // parameters beyond drift_z from their slow reference
  double joint_z[kMaxParams];          // standardised deviations for the multivariate test
  int joint_dims[kMaxParams];
  int joint_n = 0;
  // A row without any value is the station saying nothing (offline), not parameters missing.
  const bool empty_row =
      std::all_of(values, values + params_.size(), [](double x) { return std::isnan(x); });
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const double x = values[i];
    const ParameterSpec& spec = params_[i];
    const std::uint32_t bit = 1u << i;
    ParamState& s = state[i];
    if (std::isnan(x)) {
      // Missing: nothing to learn or judge, but a parameter the probe has reported before and
      // now leaves out for long is a fault of its own.
      if (s.seen > 0 && !empty_row) {
        s.missing_run = SaturatingIncrement(s.missing_run);
        if (t.missing_samples > 0 && s.missing_run >= t.missing_samples) {
          v.missing |= bit;
          v.fault_kinds |= FaultBit(FaultKind::kMissing);
        }
      }
      continue;
    }
    s.missing_run = 0;
    if (x < spec.min_valid || x > spec.max_valid) {
      v.faults |= bit;  // physically impossible: a sensor fault, never water quality
      v.fault_kinds |= FaultBit(FaultKind::kOutOfRange);
      continue;
    }
    if (IsLoggerSentinel(x)) {
      v.faults |= bit;
      v.fault_kinds |= FaultBit(FaultKind::kSentinel);
      continue;
    }
    // Flat line, judged before the value teaches anything.
    const bool flat_on = t.flat_samples > 0;
    const double flat_band = t.flat_tolerance * spec.resolution * 1.001;
    // Until enough runs have ended, nothing says how long this parameter's runs normally are
    // (one whose noise is below its resolution may hardly ever leave a run): no limit.
    const double flat_limit =
        s.flat_runs < kFlatRunsToTrust
            ? std::numeric_limits<double>::infinity()
            : std::max<double>(t.flat_samples, t.flat_factor * s.flat_longest);
    if (s.seen > 0 && std::fabs(x - s.flat_ref) <= flat_band) {
      s.flat_run = SaturatingIncrement(s.flat_run);
    } else {
      // A run that ended without being a fault was normal: remember how long it got.
      if (s.seen > 0 && s.flat_run < flat_limit) {
        s.flat_longest = std::max(s.flat_longest, static_cast<float>(s.flat_run));
        s.flat_runs = SaturatingIncrement(s.flat_runs);
      }
      s.flat_ref = static_cast<float>(x);
      s.flat_run = 0;
    }
    if (s.flat_longest > 0) s.flat_longest *= kFlatLongestDecay;
    if (s.seen == 0) {
      s.location = x;
      s.drift_ref = static_cast<float>(x);
      s.last = static_cast<float>(x);
      s.scale = 0;
      s.seen = 1;
      continue;
    }
    const bool warm = s.seen >= static_cast<std::uint32_t>(t.warmup_samples);
    if (flat_on && warm && s.flat_run >= flat_limit) {
      v.faults |= bit;
      v.fault_kinds |= FaultBit(FaultKind::kFlatLine);
      continue;
    }
    // The value with its daily cycle taken out. The cycle is learnt over the first day and
    // phased in over the second, slowly enough for the baseline to follow.
    const double cycle_weight =
        daily_on ? std::clamp(s.seen / samples_per_day - 1.0, 0.0, 1.0) : 0.0;
    const double cycle = cycle_weight * (s.daily_cos * day_cos + s.daily_sin * day_sin);
    const double level = x - cycle;
    const double floor = t.resolution_floor * spec.resolution;
    const double scale = std::max<double>(s.scale, floor);
    const double deviation = level - s.location;
    const double signed_z = deviation / scale;
    const double z = std::fabs(signed_z);
    // The slow reference, an EWMA far slower than the baseline's: the drift test judges the raw
    // value against it (which would follow a drift), and the daily cycle is learnt as the
    // value's distance from it. (Judging drift with the cycle taken out made rain on
    // conductivity look like drift: docs/detection.md.)
    const double ref = s.drift_ref;
    bool beyond = false;
    if (t.drift_samples > 0 || daily_on) {
      const double dz = (x - ref) / std::max<double>(s.drift_dev, floor);
      beyond = t.drift_samples > 0 && warm && std::fabs(dz) > t.drift_z;
      if (beyond) {
        drift_candidates |= bit;
        if (s.drift_run >= t.drift_samples) {
          v.faults |= bit;  // drifting: a fault until the value is back near the reference
          v.fault_kinds |= FaultBit(FaultKind::kDrift);
          continue;
        }
      }
      const double w = std::max(t.drift_alpha, 1.0 / static_cast<double>(s.seen));
      s.drift_ref = static_cast<float>(ref + w * (x - ref));
      if (!beyond) s.drift_dev += static_cast<float>(w * (std::fabs(x - ref) - s.drift_dev));
    }
    const bool outlier = warm && z > t.outlier_z;
    // A parameter that was an outlier on the previous row only and is back now was a spike.
    if (t.spike_filter && !outlier && s.outlier_run == 1) {
      v.spikes |= bit;
      v.fault_kinds |= FaultBit(FaultKind::kSpike);
    }
    bool ramping = false;
    if (t.ramp_rows > 0) {
      // Written without branches on the direction: on noisy data it flips at random.
      const double last = static_cast<double>(s.last);
      const int dir = static_cast<int>(x > last) - static_cast<int>(x < last);
      const int run = s.ramp_run;
      const bool continues = run != 0 && (run > 0) == (dir > 0) && dir != 0;
      s.ramp_run =
          static_cast<std::int16_t>(std::clamp(continues ? run + dir : dir, -30000, 30000));
      ramping = warm && std::abs(s.ramp_run) >= t.ramp_rows && z >= t.ramp_z &&
                (s.ramp_run > 0) == (deviation > 0);
    }
    if (spec.water_quality && warm) {
      v.max_z = std::max(v.max_z, z);
      if (outlier || ramping) v.outliers |= bit;
      joint_z[i] = std::clamp(signed_z, -2 * t.outlier_z, 2 * t.outlier_z);
      joint_dims[joint_n++] = static_cast<int>(i);
    }
    s.last = static_cast<float>(x);
    s.outlier_run = outlier ? SaturatingIncrement(s.outlier_run) : 0;
    if (t.rebaseline_after > 0 && s.outlier_run >= static_cast<std::uint32_t>(t.rebaseline_after)) {
      s.location = level;
      s.outlier_run = 0;
      ++s.seen;
      continue;
    }
    // Robust update: an outlier moves the location as if it sat on the outlier boundary and
    // leaves the scale alone, so an event neither drags the baseline along nor widens it. (A
    // value found stuck, drifting or impossible never gets here.)
    const double limit = t.outlier_z * scale;
    const double clipped = std::clamp(deviation, -limit, limit);
    // While young, the baseline is a plain running mean (weight 1/n), so it does not start out
    // biased towards its first value with a scale still near zero.
    const double young = 1.0 / static_cast<double>(s.seen);
    s.location += std::max(t.baseline_alpha, young) * clipped;
    if (!outlier) {
      s.scale +=
          static_cast<float>(std::max(t.scale_alpha, young) * (std::fabs(deviation) - s.scale));
      if (daily_on && !beyond) {
        // The first harmonic of the value's distance from the slow reference over the day:
        // E[2 r cos], E[2 r sin]. (The location would be no use: it follows the cycle.)
        const double r = x - ref;
        const double w = std::max(daily_weight, young);
        s.daily_cos += static_cast<float>(w * (2 * r * day_cos - s.daily_cos));
        s.daily_sin += static_cast<float>(w * (2 * r * day_sin - s.daily_sin));
      }
    }
    ++s.seen;
  }
  // Multivariate: several parameters moving together where they usually do not.
  if (!joint.empty() && joint_n >= 2) {
    const std::size_t k = params_.size();
    if (station.rows > 2 * static_cast<std::uint32_t>(t.warmup_samples)) {
      const double d2 = JointDistance(joint, k, joint_dims, joint_n, joint_z);
      if (d2 > ChiSquareQuantile(joint_n, joint_upper_z_)) {
        std::uint32_t members = 0;
        for (int a = 0; a < joint_n; ++a) {
          if (std::fabs(joint_z[joint_dims[a]]) >= 2) members |= 1u << joint_dims[a];
        }
        v.outliers |= members;
      }
    }
    if (v.outliers == 0) {  // learn from normal rows only
      const double w = t.joint_alpha;
      for (int a = 0; a < joint_n; ++a) {
        for (int b = 0; b < joint_n; ++b) {
          float& cell = joint[static_cast<std::size_t>(joint_dims[a]) * k +
                              static_cast<std::size_t>(joint_dims[b])];
          cell += static_cast<float>(w * (joint_z[joint_dims[a]] * joint_z[joint_dims[b]] - cell));
        }
      }
    }
  }
  // Drift runs count only while the parameter is the station's only outlier-or-drifting one:
  // real water changes move several parameters at once.
  if (t.drift_samples > 0) {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const std::uint32_t bit = 1u << i;
      ParamState& s = state[i];
      if ((drift_candidates & bit) == 0) {
        if (!std::isnan(values[i])) s.drift_run = 0;
        continue;
      }
      const bool alone = ((v.outliers | drift_candidates) & ~bit) == 0;
      s.drift_run = alone ? SaturatingIncrement(s.drift_run) : 0;
    }
  }
  // A confirmed spike was the only reason for the previous row's outlier flag: take that row out
  // of the event window, so spikes never add up to an event.
  if (v.spikes != 0 && (station.previous_outliers & ~v.spikes) == 0) station.window &= ~1ull;
  station.previous_outliers = v.outliers;

  // Binomial event discriminator over the last `window` rows.
  station.window = (station.window << 1) | (v.outliers != 0 ? 1u : 0u);
  const std::uint64_t mask = t.window >= kMaxWindow ? ~0ull : ((1ull << t.window) - 1);
  const int k = std::popcount(station.window & mask);
  v.probability = cdf_below_[static_cast<std::size_t>(k)];
  // The row itself must be an outlier: the window says "this is no chance", the row says "and
  // it is still going on", so an event ends as soon as the water is back to normal.
  v.event = v.outliers != 0 &&
            (v.probability >= t.event_probability || (t.strong_z > 0 && v.max_z >= t.strong_z));
  return v;
}

namespace {

class StationDetectorImpl final : public StationDetector {
 public:
  explicit StationDetectorImpl(std::shared_ptr<const StationModel> model)
      : model_(std::move(model)),
        state_(model_->params().size()),
        joint_(model_->JointStateSize()) {
    model_->InitJointState(joint_);
  }

  const std::vector<ParameterSpec>& params() const override { return model_->params(); }

  // The per-station state only: specs and the binomial table live in the shared model.
  std::size_t StateBytes() const override {
    return sizeof(station_) + state_.size() * sizeof(ParamState);
  }

  RowVerdict Process(std::int64_t time_ns, const double* values) override {
    return model_->Process(state_, station_, time_ns, values, joint_);
  }

 private:
  std::shared_ptr<const StationModel> model_;
  std::vector<ParamState> state_;
  StationState station_;
  std::vector<float> joint_;  // the multivariate test's covariance, k x k
};

}  // namespace

Result<std::shared_ptr<const StationModel>> StationModel::Create(std::vector<ParameterSpec> params,
                                                                 const DetectorTuning& tuning) {
  if (params.empty() || params.size() > kMaxParams) {
    return Status::InvalidArgument(
        fmt::format("a station needs 1 to {} parameters, got {}", kMaxParams, params.size()));
  }
  for (const ParameterSpec& p : params) {
    if (!(p.resolution > 0)) {
      return Status::InvalidArgument(fmt::format("parameter {}: resolution must be > 0", p.name));
    }
  }
  auto in = [](double v, double lo, double hi) { return v >= lo && v <= hi; };
  if (!in(tuning.baseline_alpha, 1e-6, 1) || !in(tuning.scale_alpha, 1e-6, 1)) {
    return Status::InvalidArgument("baseline_alpha and scale_alpha must be in (0, 1]");
  }
  if (tuning.window < 1 || tuning.window > kMaxWindow) {
    return Status::InvalidArgument(fmt::format("window must be 1 to {}", kMaxWindow));
  }
  if (!in(tuning.outlier_rate, 1e-9, 0.5) || !in(tuning.event_probability, 0, 1)) {
    return Status::InvalidArgument("outlier_rate must be in (0, 0.5], event_probability in [0, 1]");
  }
  if (!(tuning.outlier_z > 0) || tuning.warmup_samples < 0 || !(tuning.resolution_floor >= 0)) {
    return Status::InvalidArgument("outlier_z must be > 0; warmup_samples, resolution_floor >= 0");
  }
  if (!(tuning.joint_p >= 0 && tuning.joint_p < 0.5) ||
      !(tuning.joint_alpha > 0 && tuning.joint_alpha <= 1)) {
    return Status::InvalidArgument("joint_p must be in [0, 0.5) (0 = off), joint_alpha in (0, 1]");
  }
  if (tuning.ramp_rows < 0 || tuning.ramp_rows > 30000 || !(tuning.ramp_z >= 0)) {
    return Status::InvalidArgument("ramp_rows must be 0 (off) to 30000, ramp_z >= 0");
  }
  if (tuning.flat_samples < 0 || tuning.flat_samples > UINT16_MAX || tuning.drift_samples < 0 ||
      tuning.drift_samples > UINT16_MAX || tuning.missing_samples < 0 ||
      tuning.missing_samples > UINT16_MAX) {
    return Status::InvalidArgument(
        "flat_samples, drift_samples and missing_samples must be 0 (off) to 65535");
  }
  if (!(tuning.flat_tolerance >= 0) || !(tuning.flat_factor >= 0) ||
      !(tuning.drift_alpha > 0 && tuning.drift_alpha <= 1) || !(tuning.drift_z > 0) ||
      !(tuning.offline_after >= 0) || !(tuning.offline_min_seconds >= 0)) {
    return Status::InvalidArgument(
        "flat_tolerance, flat_factor, offline_after and offline_min_seconds must be >= 0, "
        "drift_alpha in (0, 1], drift_z > 0");
  }
  return std::shared_ptr<const StationModel>(new StationModel(std::move(params), tuning));
}

Result<std::unique_ptr<StationDetector>> StationDetector::Create(std::vector<ParameterSpec> params,
                                                                 const DetectorTuning& tuning) {
  auto model = StationModel::Create(std::move(params), tuning);
  if (!model.ok()) return model.status();
  return std::unique_ptr<StationDetector>(new StationDetectorImpl(std::move(model).value()));
}

ParameterSpec CanonicalSpec(ParameterId id) {
  struct Range {
    double min, max;
  };
  // Physically possible readings, wide enough for any real water: outside them the probe is
  // broken, whatever the water does.
  static constexpr Range kRanges[kCanonicalParameterCount] = {
      {0, 14},        // ph
      {0, 4000},      // turbidity_ntu
      {0, 25},        // dissolved_oxygen_mg_l (supersaturated water stays below)
      {-5, 50},       // temperature_c
      {0, 200000},    // conductivity_us_cm (sea water ~50,000)
      {0, 20},        // free_chlorine_mg_l
      {-2000, 2000},  // orp_mv
  };
  const ParameterInfo& info = CanonicalParameter(id);
  const Range& r = kRanges[static_cast<int>(id)];
  return {std::string(info.name), info.resolution, r.min, r.max, true};
}

std::vector<ParameterSpec> CanonicalSpecs() {
  std::vector<ParameterSpec> specs;
  for (int p = 0; p < kCanonicalParameterCount; ++p) {
    specs.push_back(CanonicalSpec(static_cast<ParameterId>(p)));
  }
  return specs;
}

std::shared_ptr<const StationModel> CanonicalStationModel(const DetectorTuning& tuning) {
  auto model = StationModel::Create(CanonicalSpecs(), tuning);
  return model.ok() ? std::move(model).value() : nullptr;
}

EventChange TrackEvent(EventState& state, const RowVerdict& verdict, int window) {
  if (verdict.event) {
    state.quiet_rows = 0;
    if (state.in_event) return EventChange::kNone;
    state.in_event = true;
    return EventChange::kOpened;
  }
  if (!state.in_event) return EventChange::kNone;
  if (state.quiet_rows < UINT8_MAX) ++state.quiet_rows;
  if (state.quiet_rows < window) return EventChange::kNone;
  // The water has been normal for as long as the event discriminator's window.
  state.in_event = false;
  return EventChange::kClosed;
}

EventChange TrackFault(FaultState& state, const RowVerdict& verdict) {
  const std::uint32_t bad = verdict.faults | verdict.missing;
  const std::uint8_t kinds =
      verdict.fault_kinds & static_cast<std::uint8_t>(~FaultBit(FaultKind::kOffline));
  state.spike_rows = (state.spike_rows << 1) | (verdict.spikes != 0 ? 1u : 0u);
  const bool spiky = std::popcount(state.spike_rows) >= kSpikesForFault;
  if (bad != 0) {
    state.clean_rows = 0;
    if (state.fault_rows < kFaultRows) ++state.fault_rows;
  } else {
    state.fault_rows = 0;
  }
  if (state.in_fault) {
    state.kinds |= kinds;
    if (bad != 0 || state.spike_rows != 0 || ++state.clean_rows < kFaultRows) {
      return EventChange::kNone;
    }
    state.in_fault = false;
    state.kinds = 0;
    state.clean_rows = 0;
    return EventChange::kClosed;
  }
  if (state.fault_rows < kFaultRows && !spiky) return EventChange::kNone;
  state.in_fault = true;
  state.kinds = kinds;
  if (spiky) state.kinds |= FaultBit(FaultKind::kSpike);
  return EventChange::kOpened;
}

bool LooksLikeContamination(std::span<const ParamState> state, const double* values,
                            std::uint32_t outliers) {
  auto moved = [&](ParameterId id, int sign) {
    const auto p = static_cast<std::size_t>(id);
    return (outliers & (1u << p)) != 0 && (values[p] - state[p].location) * sign > 0;
  };
  return moved(ParameterId::kFreeChlorineMgL, -1) &&
         (moved(ParameterId::kTurbidityNtu, +1) || moved(ParameterId::kConductivityUsCm, +1));
}

}  // namespace aquawatch
