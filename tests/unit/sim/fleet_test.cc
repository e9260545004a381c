#include "sim/fleet.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace aquawatch::sim {
namespace {

constexpr std::int64_t kSec = kNanosPerSecond;
constexpr std::int64_t kHour = 3600 * kSec;
constexpr std::int64_t kStart = 1'700'000'000'000'000'000;  // a fixed, ms-aligned instant

struct Sample {
  std::int64_t t;
  std::vector<double> v;  // by ParameterId
};

// sensor id -> its readings in time order.
using Series = std::map<std::string, std::vector<Sample>>;

void Collect(const ReadingBatch& b, Series& out) {
  for (std::size_t i = 0; i < b.size(); ++i) {
    Sample s{b.time_ns(i), std::vector<double>(kCanonicalParameterCount, NAN)};
    for (std::size_t f = b.field_begin(i); f < b.field_end(i); ++f) {
      s.v[static_cast<std::size_t>(b.field_param(f))] = b.field_value(f);
    }
    out[std::string(b.sensor(i))].push_back(std::move(s));
  }
}

Series RunFleet(Fleet& fleet, std::int64_t until) {
  Series series;
  ReadingBatch b;
  while (fleet.Step(until, b, 10000) > 0) {
    Collect(b, series);
    b.Clear();
  }
  return series;
}

double V(const Sample& s, ParameterId p) { return s.v[static_cast<std::size_t>(p)]; }

TEST(Fleet, SameSeedSameReadingsHoweverSliced) {
  FleetOptions o;
  o.sensors = 30;
  o.start_time_ns = kStart;
  o.seed = 42;
  o.fault_rate_per_sensor_day = 20;
  o.contamination_every_ns = 600 * kSec;
  VectorLabelSink la, lb;
  o.labels = &la;
  Fleet a(o);
  o.labels = &lb;
  Fleet b(o);
  ReadingBatch ba, bb;
  while (a.Step(kStart + 2 * kHour, ba) > 0) {
  }
  // The same time span in small, uneven slices.
  for (std::int64_t t = kStart; t <= kStart + 2 * kHour; t += 7 * kSec) {
    while (b.Step(t, bb, 3) > 0) {
    }
  }
  while (b.Step(kStart + 2 * kHour, bb, 5) > 0) {
  }
  ASSERT_EQ(ba.size(), bb.size());
  ASSERT_GT(ba.size(), 0u);
  for (std::size_t i = 0; i < ba.size(); ++i) {
    ASSERT_EQ(ba.sensor(i), bb.sensor(i));
    ASSERT_EQ(ba.time_ns(i), bb.time_ns(i));
    for (std::size_t f = ba.field_begin(i); f < ba.field_end(i); ++f) {
      ASSERT_EQ(ba.field_value(f), bb.field_value(f));
    }
  }
  ASSERT_EQ(la.labels.size(), lb.labels.size());

  o.seed = 43;
  o.labels = nullptr;
  Fleet c(o);
  ReadingBatch bc;
  c.Step(kStart + 2 * kHour, bc);
  bool differs = false;
  for (std::size_t f = 0; f < std::min(bc.field_count(), ba.field_count()); ++f) {
    differs |= bc.field_value(f) != ba.field_value(f);
  }
  EXPECT_TRUE(differs);
}

TEST(Fleet, IdsSitesZonesAndEvenPhases) {
  FleetOptions o;
  o.sensors = 250;
  o.start_time_ns = kStart;
  Fleet fleet(o);
  EXPECT_EQ(fleet.SensorId(0), "sim-000001");
  EXPECT_EQ(fleet.SiteId(0), "site-001");
  EXPECT_EQ(fleet.SiteId(20), "site-002");
  EXPECT_EQ(fleet.ZoneId(99), "zone-01");
  EXPECT_EQ(fleet.ZoneId(100), "zone-02");
  ReadingBatch b;
  // One round: every sensor exactly once, spread over the interval, in time order.
  EXPECT_EQ(fleet.Step(kStart + o.interval_ns, b), 250u);
  std::map<std::string, int> seen;
  std::int64_t first_half = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    ++seen[std::string(b.sensor(i))];
    if (i > 0) {
      EXPECT_LE(b.time_ns(i - 1), b.time_ns(i));
    }
    EXPECT_EQ(b.time_ns(i) % 1'000'000, 0);
    if (b.time_ns(i) < kStart + o.interval_ns / 2) ++first_half;
    EXPECT_EQ(b.field_end(i) - b.field_begin(i), 7u);
  }
  EXPECT_EQ(seen.size(), 250u);
  EXPECT_GT(first_half, 80);
  EXPECT_LT(first_half, 170);
}

TEST(Fleet, HealthyValuesStayInsideDrinkingWaterThresholdsForAWeek) {
  FleetOptions o;
  o.sensors = 50;
  o.interval_ns =
      60 * kSec;  // a week at 10 s would be slow under sanitizers; the model is the same
  o.start_time_ns = kStart;
  o.seed = 7;
  Fleet fleet(o);
  ReadingBatch b;
  std::size_t n = 0;
  double max_turb = 0, min_cl = 10;
  const std::int64_t week = 7 * 24 * kHour;
  while (fleet.Step(kStart + week, b, 20000) > 0) {
    for (std::size_t i = 0; i < b.size(); ++i) {
      for (std::size_t f = b.field_begin(i); f < b.field_end(i); ++f) {
        double v = b.field_value(f);
        switch (b.field_param(f)) {
          case ParameterId::kPh:
            ASSERT_GE(v, 6.5);
            ASSERT_LE(v, 8.5);
            ASSERT_GE(v, 7.0);
            ASSERT_LE(v, 8.0);
            break;
          case ParameterId::kTurbidityNtu:
            ASSERT_GE(v, 0.0);
            ASSERT_LE(v, 0.3);
            max_turb = std::max(max_turb, v);
            break;
          case ParameterId::kFreeChlorineMgL:
            ASSERT_GE(v, 0.2);
            ASSERT_LE(v, 4.0);
            min_cl = std::min(min_cl, v);
            break;
          case ParameterId::kDissolvedOxygenMgL:
            ASSERT_GT(v, 7.0);
            ASSERT_LT(v, 12.0);
            break;
          case ParameterId::kTemperatureC:
            ASSERT_GT(v, 7.0);
            ASSERT_LT(v, 17.0);
            break;
          case ParameterId::kConductivityUsCm:
            ASSERT_GT(v, 250);
            ASSERT_LT(v, 650);
            break;
          case ParameterId::kOrpMv:
            ASSERT_GT(v, 550);
            ASSERT_LT(v, 800);
            break;
          default:
            FAIL() << "unexpected parameter";
        }
      }
    }
    n += b.size();
    b.Clear();
  }
  EXPECT_EQ(n, 50u * 7 * 24 * 60);
  EXPECT_GT(max_turb, 0.13) << "rain events should show up within a week";
  EXPECT_LT(min_cl, 0.7);
}

TEST(Fleet, ValuesAreMultiplesOfTheResolution) {
  FleetOptions o;
  o.sensors = 20;
  o.start_time_ns = kStart;
  o.fault_rate_per_sensor_day = 50;
  o.contamination_every_ns = 120 * kSec;
  Fleet fleet(o);
  ReadingBatch b;
  fleet.Step(kStart + kHour, b);
  ASSERT_GT(b.field_count(), 0u);
  for (std::size_t f = 0; f < b.field_count(); ++f) {
    double res = CanonicalParameter(b.field_param(f)).resolution;
    double q = b.field_value(f) / res;
    EXPECT_NEAR(q, std::round(q), 1e-6) << b.field_name(f) << "=" << b.field_value(f);
  }
}

TEST(Fleet, ContaminationMovesChemistryTogetherAndIsLabelled) {
  FleetOptions o;
  o.sensors = 10;
  o.start_time_ns = kStart;
  o.contamination_at.push_back({kStart + 3600 * kSec, 4});
  o.contamination_duration_ns = 300 * kSec;
  VectorLabelSink labels;
  o.labels = &labels;
  Fleet fleet(o);
  Series s = RunFleet(fleet, kStart + 2 * kHour);
  ASSERT_EQ(labels.labels.size(), 1u);
  const Label& l = labels.labels[0];
  EXPECT_EQ(l.sensor, "sim-000005");
  EXPECT_EQ(l.kind, LabelKind::kContamination);
  EXPECT_GE(l.start_time_ns, kStart + 3600 * kSec);
  EXPECT_LT(l.start_time_ns, kStart + 3610 * kSec);
  EXPECT_EQ(l.end_time_ns - l.start_time_ns, 300 * kSec);

  const auto& series = s.at("sim-000005");
  double cl_before = 0, cond_before = 0;
  int before = 0, during_full = 0, after = 0;
  bool first_inside_seen = false;
  for (const Sample& x : series) {
    if (x.t < l.start_time_ns) {
      if (x.t >= l.start_time_ns - 600 * kSec) {
        cl_before += V(x, ParameterId::kFreeChlorineMgL);
        cond_before += V(x, ParameterId::kConductivityUsCm);
        ++before;
      }
      EXPECT_GE(V(x, ParameterId::kFreeChlorineMgL), 0.2);
    } else if (x.t < l.end_time_ns) {
      if (!first_inside_seen) {
        EXPECT_EQ(x.t, l.start_time_ns) << "label starts at the first affected reading";
        first_inside_seen = true;
      }
      // Fully developed from the third sample until three samples before the end.
      if (x.t >= l.start_time_ns + 20 * kSec && x.t < l.end_time_ns - 30 * kSec) {
        ++during_full;
        EXPECT_LT(V(x, ParameterId::kFreeChlorineMgL), 0.1);
        EXPECT_GT(V(x, ParameterId::kTurbidityNtu), 1.5);
        EXPECT_GT(V(x, ParameterId::kConductivityUsCm), 1.2 * cond_before / before);
      }
    } else {
      ++after;
      EXPECT_GE(V(x, ParameterId::kFreeChlorineMgL), 0.2) << "recovered after the label's end";
      EXPECT_LE(V(x, ParameterId::kTurbidityNtu), 0.3);
    }
  }
  EXPECT_GT(before, 50);
  EXPECT_GT(cl_before / before, 0.4);
  EXPECT_GE(during_full, 20);
  EXPECT_GT(after, 100);
  // Other sensors are untouched.
  for (const Sample& x : s.at("sim-000001")) EXPECT_GE(V(x, ParameterId::kFreeChlorineMgL), 0.2);
}

TEST(Fleet, PeriodicContaminationPicksSensorsAndLabelsEach) {
  FleetOptions o;
  o.sensors = 100;
  o.start_time_ns = kStart;
  o.contamination_every_ns = 600 * kSec;
  VectorLabelSink labels;
  o.labels = &labels;
  Fleet fleet(o);
  ReadingBatch b;
  // Events are placed lazily, when the first reading at or after their time is due.
  while (fleet.Step(kStart + 3 * kHour + o.interval_ns, b, 50000) > 0) b.Clear();
  EXPECT_EQ(labels.labels.size(), 18u);
  for (const Label& l : labels.labels) EXPECT_EQ(l.kind, LabelKind::kContamination);
}

// Runs a fleet with a high fault rate and returns its readings and labels.
struct FaultRun {
  Series series;
  std::vector<Label> labels;
};
FaultRun RunWithFaults() {
  FleetOptions o;
  o.sensors = 40;
  o.start_time_ns = kStart;
  o.seed = 3;
  o.fault_rate_per_sensor_day = 12;
  VectorLabelSink labels;
  o.labels = &labels;
  Fleet fleet(o);
  FaultRun r;
  r.series = RunFleet(fleet, kStart + 24 * kHour);
  r.labels = labels.labels;
  return r;
}

const FaultRun& Faults() {
  static const FaultRun run = RunWithFaults();
  return run;
}

std::vector<const Sample*> Within(const std::vector<Sample>& s, std::int64_t a, std::int64_t b) {
  std::vector<const Sample*> out;
  for (const Sample& x : s) {
    if (x.t >= a && x.t < b) out.push_back(&x);
  }
  return out;
}

TEST(Fleet, EveryFaultKindIsInjectedAndLabelled) {
  std::map<LabelKind, int> kinds;
  for (const Label& l : Faults().labels) {
    ++kinds[l.kind];
    EXPECT_TRUE(Faults().series.count(l.sensor)) << l.sensor;
    EXPECT_GE(l.end_time_ns, l.start_time_ns);
  }
  EXPECT_GT(kinds[LabelKind::kStuck], 0);
  EXPECT_GT(kinds[LabelKind::kDrift], 0);
  EXPECT_GT(kinds[LabelKind::kSpike], 0);
  EXPECT_GT(kinds[LabelKind::kDropout], 0);
  EXPECT_EQ(kinds[LabelKind::kContamination], 0);
}

TEST(Fleet, StuckSensorRepeatsOneValueExactly) {
  int checked = 0;
  for (const Label& l : Faults().labels) {
    if (l.kind != LabelKind::kStuck) continue;
    auto in = Within(Faults().series.at(l.sensor), l.start_time_ns, l.end_time_ns);
    if (in.size() < 10) continue;
    // Some parameter holds one value for the whole window.
    bool some_constant = false;
    for (int p = 0; p < kCanonicalParameterCount; ++p) {
      bool constant = true;
      for (const Sample* x : in) constant &= x->v[p] == in[0]->v[p];
      some_constant |= constant;
    }
    EXPECT_TRUE(some_constant) << l.sensor << " at " << l.start_time_ns;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(Fleet, SpikeIsOneSampleOutOfLine) {
  int checked = 0;
  for (const Label& l : Faults().labels) {
    if (l.kind != LabelKind::kSpike) continue;
    const auto& s = Faults().series.at(l.sensor);
    std::size_t i = 0;
    while (i < s.size() && s[i].t != l.start_time_ns) ++i;
    ASSERT_LT(i, s.size()) << "spike label points at a reading";
    if (i == 0 || i + 1 >= s.size()) continue;
    // Find the parameter that jumped; it must come back on the next sample.
    int jumped = 0;
    for (int p = 0; p < kCanonicalParameterCount; ++p) {
      double res = CanonicalParameter(static_cast<ParameterId>(p)).resolution;
      double d_in = std::abs(s[i].v[p] - s[i - 1].v[p]);
      double d_out = std::abs(s[i + 1].v[p] - s[i - 1].v[p]);
      if (d_in > 50 * res && d_out < d_in / 4) ++jumped;
    }
    EXPECT_EQ(jumped, 1) << l.sensor << " at " << l.start_time_ns;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(Fleet, DropoutLeavesAGap) {
  int checked = 0;
  for (const Label& l : Faults().labels) {
    if (l.kind != LabelKind::kDropout) continue;
    EXPECT_TRUE(Within(Faults().series.at(l.sensor), l.start_time_ns, l.end_time_ns).empty());
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(Fleet, DriftGrowsOverTheLabelledWindow) {
  int checked = 0;
  for (const Label& l : Faults().labels) {
    if (l.kind != LabelKind::kDrift || l.end_time_ns > kStart + 24 * kHour) continue;
    auto in = Within(Faults().series.at(l.sensor), l.start_time_ns, l.end_time_ns);
    auto after = Within(Faults().series.at(l.sensor), l.end_time_ns, l.end_time_ns + kHour);
    if (in.size() < 100 || after.empty()) continue;
    // The last drifted sample differs from the first healthy sample after it by a lot.
    double biggest = 0;
    for (int p = 0; p < kCanonicalParameterCount; ++p) {
      double res = CanonicalParameter(static_cast<ParameterId>(p)).resolution;
      biggest = std::max(biggest, std::abs(in.back()->v[p] - after.front()->v[p]) / res);
    }
    EXPECT_GT(biggest, 5) << l.sensor;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(Fleet, LabelCsv) {
  EXPECT_EQ(LabelCsvHeader(), "sensor,kind,start_time_ns,end_time_ns\n");
  EXPECT_EQ(FormatLabelCsv({"sim-000003", LabelKind::kDropout, 10, 20}),
            "sim-000003,dropout,10,20\n");
}

}  // namespace
}  // namespace aquawatch::sim
