#include "detect/station_detector.h"

#include <fmt/format.h>
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace aquawatch {
namespace {

constexpr int kMaxParams = 32;  // outlier and fault masks are 32-bit
constexpr int kMaxWindow = 64;  // the window is one 64-bit mask

std::uint16_t SaturatingIncrement(std::uint16_t n) {
  return n == UINT16_MAX ? n : static_cast<std::uint16_t>(n + 1);
}

double LogChoose(int n, int k) {
  return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0);
}

}  // namespace

StationModel::StationModel(std::vector<ParameterSpec> params, const DetectorTuning& tuning)
    : params_(std::move(params)), tuning_(tuning) {
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

RowVerdict StationModel::Process(std::span<ParamState> state, std::uint64_t& window,
                                 const double* values) const {
  RowVerdict v;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const double x = values[i];
    if (std::isnan(x)) continue;  // missing: nothing to learn or judge
    const ParameterSpec& spec = params_[i];
    const std::uint32_t bit = 1u << i;
    if (x < spec.min_valid || x > spec.max_valid) {
      v.faults |= bit;  // physically impossible: a sensor fault, never water quality
      continue;
    }
    ParamState& s = state[i];
    s.same_run = x == s.last ? SaturatingIncrement(s.same_run) : 0;
    s.last = x;
    if (tuning_.stuck_samples > 0 &&
        s.same_run >= static_cast<std::uint32_t>(tuning_.stuck_samples)) {
      v.faults |= bit;
      continue;
    }
    if (s.seen == 0) {
      s.location = x;
      s.scale = 0;
      s.seen = 1;
      continue;
    }
    const double floor = tuning_.resolution_floor * spec.resolution;
    const double scale = std::max<double>(s.scale, floor);
    const double deviation = x - s.location;
    const double z = std::fabs(deviation) / scale;
    const bool warm = s.seen >= static_cast<std::uint32_t>(tuning_.warmup_samples);
    const bool outlier = warm && z > tuning_.outlier_z;
    bool drifting = false;
    if (tuning_.cusum_h > 0 && warm) {
      const double signed_z = deviation / scale;
      const double cap = tuning_.cusum_h + tuning_.cusum_k;
      s.cusum_hi =
          static_cast<float>(std::clamp(s.cusum_hi + signed_z - tuning_.cusum_k, 0.0, cap));
      s.cusum_lo =
          static_cast<float>(std::clamp(s.cusum_lo - signed_z - tuning_.cusum_k, 0.0, cap));
      drifting = s.cusum_hi > tuning_.cusum_h || s.cusum_lo > tuning_.cusum_h;
    }
    if (spec.water_quality && warm) {
      v.max_z = std::max(v.max_z, z);
      if (outlier || drifting) v.outliers |= bit;
    }
    s.outlier_run = outlier ? SaturatingIncrement(s.outlier_run) : 0;
    if (tuning_.rebaseline_after > 0 &&
        s.outlier_run >= static_cast<std::uint32_t>(tuning_.rebaseline_after)) {
      s.location = x;
      s.outlier_run = 0;
      ++s.seen;
      continue;
    }
    // Robust update: an outlier moves the location as if it sat on the outlier boundary and
    // leaves the scale alone, so an event neither drags the baseline along nor widens it.
    const double limit = tuning_.outlier_z * scale;
    const double clipped = std::clamp(deviation, -limit, limit);
    // While young, the baseline is a plain running mean (weight 1/n), so it does not start out
    // biased towards its first value with a scale still near zero.
    const double young = 1.0 / static_cast<double>(s.seen);
    s.location += std::max(tuning_.baseline_alpha, young) * clipped;
    if (!outlier) {
      s.scale += static_cast<float>(std::max(tuning_.scale_alpha, young) *
                                    (std::fabs(deviation) - s.scale));
    }
    ++s.seen;
  }
  // Binomial event discriminator over the last `window` rows.
  window = (window << 1) | (v.outliers != 0 ? 1u : 0u);
  const std::uint64_t mask = tuning_.window >= kMaxWindow ? ~0ull : ((1ull << tuning_.window) - 1);
  const int k = std::popcount(window & mask);
  v.probability = cdf_below_[static_cast<std::size_t>(k)];
  // The row itself must be an outlier: the window says "this is no chance", the row says "and
  // it is still going on", so an event ends as soon as the water is back to normal.
  v.event = v.outliers != 0 && (v.probability >= tuning_.event_probability ||
                                (tuning_.strong_z > 0 && v.max_z >= tuning_.strong_z));
  return v;
}

namespace {

class StationDetectorImpl final : public StationDetector {
 public:
  explicit StationDetectorImpl(std::shared_ptr<const StationModel> model)
      : model_(std::move(model)), state_(model_->params().size()) {}

  const std::vector<ParameterSpec>& params() const override { return model_->params(); }

  // The per-station state only: specs and the binomial table live in the shared model.
  std::size_t StateBytes() const override {
    return sizeof(window_) + state_.size() * sizeof(ParamState);
  }

  RowVerdict Process(std::int64_t /*time_ns*/, const double* values) override {
    return model_->Process(state_, window_, values);
  }

 private:
  std::shared_ptr<const StationModel> model_;
  std::vector<ParamState> state_;
  std::uint64_t window_ = 0;
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
  if (!(tuning.outlier_z > 0) || tuning.warmup_samples < 0 || tuning.stuck_samples < 0 ||
      !(tuning.resolution_floor >= 0)) {
    return Status::InvalidArgument(
        "outlier_z must be > 0; warmup_samples, stuck_samples, resolution_floor >= 0");
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
