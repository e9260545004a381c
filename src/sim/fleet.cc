#include "sim/fleet.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cmath>
#include <numbers>

namespace aquawatch::sim {
namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kMinute = 60 * kNanosPerSecond;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kDay = 24 * kHour;

// splitmix64: one 64-bit word of state, good enough statistics for a simulator, and cheap enough
// to give every sensor its own stream (which is what makes the fleet deterministic per sensor).
constexpr std::uint64_t Mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
constexpr std::uint64_t Mix(std::uint64_t a, std::uint64_t b) {
  return Mix(a ^ Mix(b + 0x9e3779b97f4a7c15ULL));
}

struct Rng {
  std::uint64_t state;
  std::uint64_t Next() { return Mix(state += 0x9e3779b97f4a7c15ULL); }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Standard normal, truncated to +-3.5 so the documented ranges are hard bounds, not odds.
  double Gauss() {
    double u1 = std::max(Uniform(), 1e-300);
    double u2 = Uniform();
    double g = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    return std::clamp(g, -3.5, 3.5);
  }
};

double UnitFromHash(std::uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

constexpr int kParams = kCanonicalParameterCount;
using Values = std::array<double, kParams>;
constexpr int kPh = 0, kTurb = 1, kDo = 2, kTemp = 3, kCond = 4, kCl = 5, kOrp = 6;

// Fault signatures, per parameter (ParameterId order). Drift: units per hour; spike: offset.
constexpr Values kDriftPerHour = {0.05, 0.03, 0.2, 0.3, 15, 0.08, 15};
constexpr Values kSpikeOffset = {1.5, 2.0, 4.0, 8.0, 300, 1.5, 250};

// Rain response: turbidity rises over ~30 min and washes out over ~3 h.
constexpr double kRainRise = 30.0 * kMinute;
constexpr double kRainFall = 3.0 * kHour;
constexpr std::int64_t kRainLength = 18 * kHour;
double RainShapeMax() {
  double t = kRainRise * std::log(1 + kRainFall / kRainRise);
  return (1 - std::exp(-t / kRainRise)) * std::exp(-t / kRainFall);
}

double Round(double v, ParameterId id) {
  // Divide by the inverse (an integer) rather than multiply by the resolution: 723 / 100.0 is the
  // double closest to 7.23, 723 * 0.01 is not always.
  double res = CanonicalParameter(id).resolution;
  if (res >= 1) return std::round(v / res) * res;
  double inv = std::round(1 / res);
  return std::round(v * inv) / inv;
}

int Digits(std::uint64_t n) {
  int d = 1;
  while (n >= 10) n /= 10, ++d;
  return d;
}

// Writes `prefix` + `n` zero-padded to `width` into buf; returns the length.
std::size_t FormatId(char* buf, std::string_view prefix, std::uint64_t n, int width) {
  std::copy(prefix.begin(), prefix.end(), buf);
  char* p = buf + prefix.size();
  char digits[24];
  auto r = std::to_chars(digits, digits + sizeof digits, n);
  int len = static_cast<int>(r.ptr - digits);
  for (int i = len; i < width; ++i) *p++ = '0';
  p = std::copy(digits, r.ptr, p);
  return static_cast<std::size_t>(p - buf);
}

enum class Fault : std::uint8_t { kNone, kStuck, kDrift, kSpike, kDropout };

struct Sensor {
  Rng rng;
  std::int64_t phase_ns;
  // Traits, fixed at creation.
  float temp_offset;  // °C
  float water_age_h;  // hours since the treatment plant: drives chlorine decay
  float cl0;          // chlorine leaving the plant, mg/L
  float ph_base;
  float cond_base;    // µS/cm
  float turb_base;    // NTU
  float rain_factor;  // how strongly rain reaches this sensor
  // Slow wander (Ornstein-Uhlenbeck walks).
  float ph_walk = 0;
  float cl_walk = 0;
  // Active fault, if any.
  Fault fault = Fault::kNone;
  std::uint8_t fault_param = 0;
  float fault_value = 0;  // stuck: the frozen value; drift: units per hour
  std::int64_t fault_start = 0, fault_end = 0;
  // Active contamination, if contam_end > contam_start.
  std::int64_t contam_start = 0, contam_end = 0;
};

}  // namespace

std::string_view LabelKindName(LabelKind kind) {
  switch (kind) {
    case LabelKind::kContamination:
      return "contamination";
    case LabelKind::kStuck:
      return "stuck";
    case LabelKind::kDrift:
      return "drift";
    case LabelKind::kSpike:
      return "spike";
    case LabelKind::kDropout:
      return "dropout";
  }
  return "unknown";
}

std::string_view LabelCsvHeader() { return "sensor,kind,start_time_ns,end_time_ns\n"; }

std::string FormatLabelCsv(const Label& label) {
  std::string out = label.sensor;
  out += ',';
  out += LabelKindName(label.kind);
  out += ',';
  out += std::to_string(label.start_time_ns);
  out += ',';
  out += std::to_string(label.end_time_ns);
  out += '\n';
  return out;
}

struct Fleet::Impl {
  FleetOptions opt;
  std::vector<Sensor> sensors;
  std::vector<std::uint32_t> order;  // sensor indices by phase: the emission order of a round
  std::int64_t round = 0;
  std::size_t pos = 0;
  int id_width, site_width, zone_width;
  double fault_prob;  // per sample
  double rain_shape_max = RainShapeMax();
  Rng events;  // picks sensors for periodic contamination
  std::int64_t next_periodic;
  std::vector<ContaminationAt> explicit_events;
  std::size_t next_explicit = 0;

  explicit Impl(const FleetOptions& o) : opt(o) {
    assert(opt.sensors >= 1 && opt.sensors <= 0xffffffffULL);
    assert(opt.interval_ns >= kMs);
    assert(opt.parameters >= 1 && opt.parameters <= kParams);
    opt.sensors_per_site = std::max<std::size_t>(opt.sensors_per_site, 1);
    opt.sites_per_zone = std::max<std::size_t>(opt.sites_per_zone, 1);
    if (opt.id_prefix.size() > 100) opt.id_prefix.resize(100);  // ids are formatted on the stack
    std::size_t sites = (opt.sensors + opt.sensors_per_site - 1) / opt.sensors_per_site;
    std::size_t zones = (sites + opt.sites_per_zone - 1) / opt.sites_per_zone;
    id_width = std::max(6, Digits(opt.sensors));
    site_width = std::max(3, Digits(sites));
    zone_width = std::max(2, Digits(zones));
    fault_prob = opt.fault_rate_per_sensor_day * static_cast<double>(opt.interval_ns) / kDay;

    std::int64_t interval_ms = opt.interval_ns / kMs;
    sensors.reserve(opt.sensors);
    for (std::size_t i = 0; i < opt.sensors; ++i) {
      Rng init{Mix(opt.seed, i)};
      Sensor s{};
      s.rng = Rng{init.Next()};
      s.phase_ns =
          static_cast<std::int64_t>(init.Next() % static_cast<std::uint64_t>(interval_ms)) * kMs;
      s.temp_offset = static_cast<float>(init.Uniform(-1.5, 1.5));
      s.water_age_h = static_cast<float>(init.Uniform(2, 48));
      s.cl0 = static_cast<float>(init.Uniform(1.0, 1.25));
      s.ph_base = static_cast<float>(init.Uniform(7.35, 7.6));
      s.cond_base = static_cast<float>(init.Uniform(320, 560));
      s.turb_base = static_cast<float>(init.Uniform(0.05, 0.11));
      s.rain_factor = static_cast<float>(init.Uniform(0.5, 1.0));
      sensors.push_back(s);
    }
    order.resize(opt.sensors);
    for (std::size_t i = 0; i < opt.sensors; ++i) order[i] = static_cast<std::uint32_t>(i);
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      return sensors[a].phase_ns != sensors[b].phase_ns ? sensors[a].phase_ns < sensors[b].phase_ns
                                                        : a < b;
    });
    events = Rng{Mix(opt.seed, 0xc0ffee)};
    next_periodic = opt.contamination_every_ns > 0 ? opt.start_time_ns + opt.contamination_every_ns
                                                   : std::numeric_limits<std::int64_t>::max();
    explicit_events = opt.contamination_at;
    std::stable_sort(
        explicit_events.begin(), explicit_events.end(),
        [](const ContaminationAt& a, const ContaminationAt& b) { return a.time_ns < b.time_ns; });
  }

  std::int64_t TimeOf(std::size_t p, std::int64_t r) const {
    return opt.start_time_ns + r * opt.interval_ns + sensors[order[p]].phase_ns;
  }

  std::size_t ZoneOf(std::size_t i) const { return i / opt.sensors_per_site / opt.sites_per_zone; }

  std::size_t Id(char* buf, std::size_t i) const {
    return FormatId(buf, opt.id_prefix, i + 1, id_width);
  }
  std::size_t Site(char* buf, std::size_t i) const {
    return FormatId(buf, "site-", i / opt.sensors_per_site + 1, site_width);
  }
  std::size_t Zone(char* buf, std::size_t i) const {
    return FormatId(buf, "zone-", ZoneOf(i) + 1, zone_width);
  }

  void Emit(const Label& label) {
    if (opt.labels != nullptr) opt.labels->Add(label);
  }
  std::string IdString(std::size_t i) const {
    char buf[256];
    return std::string(buf, Id(buf, i));
  }

  // Rain in the sensor's zone at time t, as a fraction 0-1 of the event's peak.
  double Rain(std::size_t i, std::int64_t t) const {
    if (opt.rain_events_per_zone_day <= 0) return 0;
    std::int64_t day = t >= 0 ? t / kDay : (t - kDay + 1) / kDay;
    double level = 0;
    for (std::int64_t d = day - 1; d <= day; ++d) {
      std::uint64_t h = Mix(Mix(opt.seed, 0x7a1ULL), Mix(ZoneOf(i), static_cast<std::uint64_t>(d)));
      if (UnitFromHash(h) >= opt.rain_events_per_zone_day) continue;
      std::int64_t start = d * kDay + static_cast<std::int64_t>(UnitFromHash(Mix(h)) * kDay);
      std::int64_t dt = t - start;
      if (dt < 0 || dt > kRainLength) continue;
      double x = static_cast<double>(dt);
      level += (1 - std::exp(-x / kRainRise)) * std::exp(-x / kRainFall) / rain_shape_max;
    }
    return std::min(level, 1.0);
  }

  void ScheduleContaminations(std::int64_t t) {
    while (next_periodic <= t) {
      std::size_t idx = events.Next() % opt.sensors;
      // Prefer a sensor not already contaminated, so events do not silently merge.
      for (std::size_t tries = 0; tries < opt.sensors; ++tries) {
        if (!Contaminated(idx, next_periodic)) break;
        idx = (idx + 1) % opt.sensors;
      }
      StartContamination(idx, next_periodic);
      next_periodic += opt.contamination_every_ns;
    }
    while (next_explicit < explicit_events.size() && explicit_events[next_explicit].time_ns <= t) {
      const ContaminationAt& e = explicit_events[next_explicit++];
      std::size_t idx = e.sensor_index < opt.sensors ? e.sensor_index : events.Next() % opt.sensors;
      StartContamination(idx, e.time_ns);
    }
  }

  bool Contaminated(std::size_t idx, std::int64_t t) const {
    const Sensor& s = sensors[idx];
    return s.contam_end > s.contam_start && t < s.contam_end;
  }

  void StartContamination(std::size_t idx, std::int64_t t_event) {
    Sensor& s = sensors[idx];
    // Align to the sensor's own sampling grid so the label starts at an actual reading.
    std::int64_t base = opt.start_time_ns + s.phase_ns;
    std::int64_t r = t_event <= base ? 0 : (t_event - base + opt.interval_ns - 1) / opt.interval_ns;
    std::int64_t start = base + r * opt.interval_ns;
    if (Contaminated(idx, start)) return;  // already under way: the running event covers it
    s.contam_start = start;
    s.contam_end = start + std::max<std::int64_t>(opt.contamination_duration_ns, 1);
    Emit({IdString(idx), LabelKind::kContamination, s.contam_start, s.contam_end});
  }

  // Normal (healthy) values of sensor s at time t.
  void Normal(std::size_t idx, Sensor& s, std::int64_t t, Values& v) {
    std::int64_t tod = ((t % kDay) + kDay) % kDay;
    double day_angle = 2 * std::numbers::pi * (static_cast<double>(tod) / kDay - 0.375);
    double daily = std::sin(day_angle);  // peaks mid-afternoon
    Rng& g = s.rng;
    double temp = 12.0 + s.temp_offset + 2.0 * daily + 0.05 * g.Gauss();
    double sat = 14.6 - 0.39 * temp + 0.007 * temp * temp;
    double dox = 0.9 * sat + 0.05 * g.Gauss();
    s.ph_walk =
        std::clamp(static_cast<float>(s.ph_walk * 0.995 + 0.004 * g.Gauss()), -0.15f, 0.15f);
    s.cl_walk =
        std::clamp(static_cast<float>(s.cl_walk * 0.995 + 0.003 * g.Gauss()), -0.05f, 0.05f);
    double ph = s.ph_base + s.ph_walk + 0.01 * g.Gauss();
    double k = 0.012 * (1 + 0.04 * (temp - 12));  // decay per hour, faster when warm
    double cl = s.cl0 * std::exp(-k * s.water_age_h) + s.cl_walk + 0.01 * g.Gauss();
    double rain = Rain(idx, t) * s.rain_factor;
    double turb = std::max(0.0, s.turb_base + 0.004 * g.Gauss() + opt.rain_peak_ntu * rain);
    double cond = (s.cond_base + 8 * daily + 2 * g.Gauss()) * (1 - 0.08 * rain);
    v[kPh] = ph;
    v[kTurb] = turb;
    v[kDo] = dox;
    v[kTemp] = temp;
    v[kCond] = cond;
    v[kCl] = cl;
    v[kOrp] = Orp(cl, ph, g);
  }

  static double Orp(double cl, double ph, Rng& g) {
    return 650 + 100 * std::clamp((cl - 0.5) / 0.7, -2.0, 1.0) - 30 * (ph - 7.5) + 2 * g.Gauss();
  }

  // Applies an active contamination event; chemistry moves together over about three samples.
  void Contaminate(std::size_t idx, Sensor& s, std::int64_t t, Values& v) {
    if (!(s.contam_end > s.contam_start && t >= s.contam_start && t < s.contam_end)) return;
    double iv = static_cast<double>(opt.interval_ns);
    double up = (std::floor((t - s.contam_start) / iv) + 1) / 3;
    double down = std::ceil((s.contam_end - t) / iv) / 3;
    double f = std::min({up, down, 1.0});
    std::uint64_t h = Mix(Mix(opt.seed, idx), static_cast<std::uint64_t>(s.contam_start));
    double turb_rise = 1.6 + 0.8 * UnitFromHash(h);
    double cond_rise = 0.28 + 0.07 * UnitFromHash(Mix(h));
    Rng& g = s.rng;
    v[kCl] = v[kCl] * (1 - f) + f * (0.05 + 0.01 * g.Gauss());
    v[kTurb] += f * turb_rise;
    v[kCond] *= 1 + f * cond_rise;
    v[kPh] -= 0.15 * f;
    v[kOrp] = Orp(v[kCl], v[kPh], g);
  }

  // Starts a fault now and then; applies the active one. Returns false for a dropped reading.
  bool Faults(std::size_t idx, Sensor& s, std::int64_t t, Values& v) {
    if (s.fault != Fault::kNone && t >= s.fault_end) s.fault = Fault::kNone;
    if (s.fault == Fault::kNone && fault_prob > 0 && s.rng.Uniform() < fault_prob) {
      Rng& g = s.rng;
      auto kind = static_cast<Fault>(1 + g.Next() % 4);
      s.fault = kind;
      s.fault_param =
          static_cast<std::uint8_t>(g.Next() % static_cast<std::uint64_t>(opt.parameters));
      s.fault_start = t;
      LabelKind label_kind = LabelKind::kStuck;
      switch (kind) {
        case Fault::kStuck:
          s.fault_end = t + static_cast<std::int64_t>(g.Uniform(0.5, 3) * kHour);
          s.fault_value =
              static_cast<float>(Round(v[s.fault_param], static_cast<ParameterId>(s.fault_param)));
          label_kind = LabelKind::kStuck;
          break;
        case Fault::kDrift:
          s.fault_end = t + static_cast<std::int64_t>(g.Uniform(2, 8) * kHour);
          // Fouled turbidity optics read high; other probes drift either way.
          s.fault_value = static_cast<float>(kDriftPerHour[s.fault_param] * g.Uniform(1, 2) *
                                             ((g.Next() & 1) || s.fault_param == kTurb ? 1 : -1));
          label_kind = LabelKind::kDrift;
          break;
        case Fault::kSpike:
          s.fault_end = t + 1;
          s.fault_value = static_cast<float>(kSpikeOffset[s.fault_param] * g.Uniform(1, 1.5) *
                                             (g.Next() & 1 ? 1 : -1));
          label_kind = LabelKind::kSpike;
          break;
        default:
          s.fault = Fault::kDropout;
          s.fault_end = t + static_cast<std::int64_t>(g.Uniform(5, 60) * kMinute);
          label_kind = LabelKind::kDropout;
          break;
      }
      Emit({IdString(idx), label_kind, t, kind == Fault::kSpike ? t : s.fault_end});
    }
    double& x = v[s.fault_param];
    switch (s.fault) {
      case Fault::kNone:
        return true;
      case Fault::kDropout:
        return false;
      case Fault::kStuck:
        x = s.fault_value;
        break;
      case Fault::kDrift:
        x += s.fault_value * static_cast<double>(t - s.fault_start) / kHour;
        break;
      case Fault::kSpike:
        // A spike on a value that cannot go negative goes up instead.
        x = x + s.fault_value < 0 ? x - s.fault_value : x + s.fault_value;
        break;
    }
    x = std::max(0.0, x);
    return true;
  }

  bool Sample(std::size_t idx, std::int64_t t, ReadingBatch& out) {
    Sensor& s = sensors[idx];
    Values v;
    Normal(idx, s, t, v);
    Contaminate(idx, s, t, v);
    if (!Faults(idx, s, t, v)) return false;
    char id[256], site[32], zone[32];
    out.BeginReading({id, Id(id, idx)}, t, {site, Site(site, idx)}, {zone, Zone(zone, idx)});
    for (int p = 0; p < opt.parameters; ++p) {
      auto pid = static_cast<ParameterId>(p);
      out.AddField(pid, Round(v[p], pid));
    }
    return true;
  }
};

Fleet::Fleet(const FleetOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Fleet::~Fleet() = default;

std::size_t Fleet::Step(std::int64_t until_ns, ReadingBatch& out, std::size_t max_readings) {
  Impl& m = *impl_;
  std::size_t n = 0;
  while (n < max_readings) {
    std::int64_t t = m.TimeOf(m.pos, m.round);
    if (t >= until_ns) break;
    m.ScheduleContaminations(t);
    if (m.Sample(m.order[m.pos], t, out)) ++n;
    if (++m.pos == m.order.size()) m.pos = 0, ++m.round;
  }
  return n;
}

std::int64_t Fleet::next_time_ns() const { return impl_->TimeOf(impl_->pos, impl_->round); }
std::int64_t Fleet::round_start_ns() const {
  return impl_->opt.start_time_ns + impl_->round * impl_->opt.interval_ns;
}
std::size_t Fleet::size() const { return impl_->sensors.size(); }

std::string Fleet::SensorId(std::size_t index) const { return impl_->IdString(index); }
std::string Fleet::SiteId(std::size_t index) const {
  char buf[32];
  return std::string(buf, impl_->Site(buf, index));
}
std::string Fleet::ZoneId(std::size_t index) const {
  char buf[32];
  return std::string(buf, impl_->Zone(buf, index));
}

}  // namespace aquawatch::sim
