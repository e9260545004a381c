#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "detect/station_detector.h"

namespace aquawatch {
namespace {

std::unique_ptr<StationDetector> Make(int params = 1, DetectorTuning t = {}) {
  std::vector<ParameterSpec> specs;
  for (int i = 0; i < params; ++i) {
    specs.push_back({"p" + std::to_string(i), 0.01, 0, 14, true});
  }
  auto d = StationDetector::Create(std::move(specs), t);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return std::move(d).value();
}

// Quantised noise around `level`, as a real probe reports it.
double Noisy(std::mt19937& rng, double level, double sd = 0.01, double res = 0.01) {
  std::normal_distribution<double> n(0, sd);
  return std::round((level + n(rng)) / res) * res;
}

// Feeds `n` quantised readings around `level` so the baseline is warm.
void WarmUp(StationDetector& d, std::mt19937& rng, double level, int n = 1000) {
  for (int i = 0; i < n; ++i) {
    double x = Noisy(rng, level);
    d.Process(i, &x);
  }
}

TEST(StationDetector, QuantisedNoiseRaisesNoEvent) {
  auto d = Make();
  std::mt19937 rng(1);
  int events = 0;
  for (int i = 0; i < 20000; ++i) {
    double x = Noisy(rng, 7.2);
    if (d->Process(i, &x).event) ++events;
  }
  EXPECT_EQ(events, 0);
}

TEST(StationDetector, FlatLineDoesNotMakeZeroScale) {
  // A perfectly flat signal has MAD 0; the resolution floor keeps one step from being an outlier.
  auto d = Make();
  for (int i = 0; i < 500; ++i) {
    double x = 7.2;
    d->Process(i, &x);
  }
  double step = 7.21;
  RowVerdict v = d->Process(500, &step);
  EXPECT_EQ(v.outliers, 0u);
  EXPECT_LE(v.max_z, 1.0);
}

TEST(StationDetector, SustainedStepRaisesEventOnceTheWindowIsConvinced) {
  auto d = Make();
  std::mt19937 rng(2);
  WarmUp(*d, rng, 7.2);
  int first_event = -1;
  for (int i = 0; i < 30; ++i) {
    double x = Noisy(rng, 7.6);  // a sustained shift of 40 noise sd
    RowVerdict v = d->Process(1000 + i, &x);
    if (v.event && first_event < 0) first_event = i;
  }
  ASSERT_GE(first_event, 0);
  // With a window of 10 rows at a 5 % outlier rate, P(fewer than k outliers) first reaches 0.9
  // at k = 2: the discriminator needs a second outlier row.
  EXPECT_EQ(first_event, 1);
}

TEST(StationDetector, StrongDeviationIsAnEventAtOnceWhenEnabled) {
  DetectorTuning t;
  t.strong_z = 30;
  auto d = Make(1, t);
  std::mt19937 rng(6);
  WarmUp(*d, rng, 7.2);
  double x = 9.5;  // z ~ 100
  EXPECT_TRUE(d->Process(1000, &x).event);
}

// A temperature-like series at 10 s: 12 + 2 sin(time of day) + noise, quantised to 0.01.
double DailyCycle(std::mt19937& rng, std::int64_t t_ns) {
  const double day = 86400e9;
  return Noisy(rng, 12 + 2 * std::sin(2 * 3.141592653589793 * static_cast<double>(t_ns) / day),
               0.03);
}

TEST(StationDetector, DailyCycleIsLearntAndTakenOutOfTheBaseline) {
  DetectorTuning with, without;
  without.daily_days = 0;
  auto a = Make(1, with), b = Make(1, without);
  std::mt19937 rng(7);
  constexpr std::int64_t kStep = 10'000'000'000;  // 10 s
  std::int64_t t = 0;
  int outliers_a = 0, outliers_b = 0;
  for (; t < 5 * 86400 * 1'000'000'000ll; t += kStep) {  // five healthy days
    double x = DailyCycle(rng, t);
    // Phasing the learnt cycle in over the second day must not raise anything either.
    if (a->Process(t, &x).outliers) ++outliers_a;
    if (b->Process(t, &x).outliers) ++outliers_b;
  }
  EXPECT_EQ(outliers_a, 0);
  EXPECT_EQ(outliers_b, 0);
  // A sustained +0.6 step is ~20 noise sd, but only ~3 of the lag error a baseline that follows
  // the cycle makes: with the cycle taken out it is an outlier, without it is lost in the lag.
  int flagged_a = 0, flagged_b = 0;
  for (int i = 0; i < 30; ++i, t += kStep) {
    double x = DailyCycle(rng, t) + 0.6;
    if (a->Process(t, &x).outliers) ++flagged_a;
    if (b->Process(t, &x).outliers) ++flagged_b;
  }
  EXPECT_GE(flagged_a, 25);
  EXPECT_EQ(flagged_b, 0);
}

TEST(StationDetector, RampIsAnOutlierBeforeTheLevelTestSeesIt) {
  DetectorTuning off;
  off.ramp_rows = 0;
  auto plain = Make(1, off), ramp = Make(1);
  std::mt19937 rng(18);
  for (int i = 0; i < 1000; ++i) {
    double x = Noisy(rng, 7.2);
    plain->Process(i, &x);
    ramp->Process(i, &x);
  }
  int first_plain = -1, first_ramp = -1;
  for (int i = 0; i < 30; ++i) {
    double x = std::round((7.2 + 0.02 * (i + 1)) / 0.01) * 0.01;  // +0.02 per row, as GECCO's
    if (plain->Process(1000 + i, &x).outliers && first_plain < 0) first_plain = i;
    if (ramp->Process(1000 + i, &x).outliers && first_ramp < 0) first_ramp = i;
  }
  ASSERT_GE(first_ramp, 0);
  EXPECT_LT(first_ramp, first_plain);
}

TEST(StationDetector, NoiseIsNoRamp) {
  auto d = Make();
  std::mt19937 rng(19);
  int outliers = 0;
  for (int i = 0; i < 50000; ++i) {
    double x = Noisy(rng, 7.2, 0.03);
    outliers += d->Process(i, &x).outliers != 0;
  }
  EXPECT_LT(outliers, 5);
}

TEST(StationDetector, JointTestCatchesParametersBreakingTheirUsualCorrelation) {
  DetectorTuning t;
  t.joint_p = 1e-9;
  DetectorTuning off;
  // Two parameters that move together (one common factor) around 7.2.
  auto warm = [](StationDetector& d) {
    std::mt19937 rng(21);
    std::normal_distribution<double> n(0, 0.05);
    for (int i = 0; i < 5000; ++i) {
      const double common = n(rng);
      double row[2] = {std::round((7.2 + common + 0.1 * n(rng)) / 0.01) * 0.01,
                       std::round((7.2 + common + 0.1 * n(rng)) / 0.01) * 0.01};
      d.Process(i, row);
    }
  };
  auto joint = Make(2, t), plain = Make(2, off), joint2 = Make(2, t);
  warm(*joint);
  warm(*plain);
  warm(*joint2);
  // Now they part: each within its own usual range, but never like this together.
  double row[2] = {7.2 + 0.12, 7.2 - 0.12};
  RowVerdict j = joint->Process(5000, row);
  RowVerdict p = plain->Process(5000, row);
  EXPECT_EQ(p.outliers, 0u) << "each alone is unremarkable (max z " << p.max_z << ")";
  EXPECT_EQ(j.outliers, 0b11u) << "together they are not";
  // The same move together is normal.
  double together[2] = {7.2 + 0.12, 7.2 + 0.12};
  EXPECT_EQ(joint2->Process(5000, together).outliers, 0u);
}

TEST(StationDetector, StateOfASixParameterSensorFitsTheBudget) {
  auto d = Make(6);
  EXPECT_LE(d->StateBytes(), 400u);
  EXPECT_EQ(d->StateBytes(), 6 * sizeof(ParamState) + sizeof(StationState));
}

TEST(StationDetector, SingleSpikeIsAnOutlierButNotAnEvent) {
  auto d = Make();
  std::mt19937 rng(3);
  WarmUp(*d, rng, 7.2);
  double spike = 9.0;
  RowVerdict v = d->Process(1000, &spike);
  EXPECT_EQ(v.outliers, 1u);
  EXPECT_FALSE(v.event);
  int events = 0;
  for (int i = 1; i < 50; ++i) {
    double x = Noisy(rng, 7.2);
    events += d->Process(1000 + i, &x).event;
  }
  EXPECT_EQ(events, 0);  // the spike did not drag the baseline away
}

TEST(StationDetector, ImpossibleValuesAreFaultsNotEvents) {
  auto d = Make();
  std::mt19937 rng(4);
  for (int i = 0; i < 200; ++i) {
    double x = Noisy(rng, 7.2);
    d->Process(i, &x);
  }
  for (int i = 0; i < 40; ++i) {
    double x = 15.0;  // pH above 14
    RowVerdict v = d->Process(200 + i, &x);
    EXPECT_EQ(v.faults, 1u);
    EXPECT_EQ(v.outliers, 0u);
    EXPECT_FALSE(v.event);
  }
}

TEST(StationDetector, StuckSensorIsAFlatLineFault) {
  DetectorTuning t;
  t.flat_samples = 30;
  auto d = Make(1, t);
  std::mt19937 rng(8);
  // Noise of 5 resolutions: this probe normally moves, so a flat run is suspicious.
  for (int i = 0; i < 500; ++i) {
    double x = Noisy(rng, 7.2, 0.05);
    EXPECT_EQ(d->Process(i, &x).faults, 0u) << i;
  }
  int first_fault = -1;
  for (int i = 0; i < 400; ++i) {
    double x = 7.25;
    RowVerdict v = d->Process(500 + i, &x);
    if (v.faults != 0 && first_fault < 0) first_fault = i;
    if (first_fault >= 0) {
      EXPECT_EQ(v.faults, 1u) << "a long stuck run stays a fault, row " << i;
      EXPECT_EQ(v.fault_kinds, FaultBit(FaultKind::kFlatLine));
    }
  }
  EXPECT_EQ(first_fault, 30);
  double moved = 7.4;  // the probe comes back to life
  EXPECT_EQ(d->Process(900, &moved).faults, 0u);
}

TEST(StationDetector, FlatLineWithinOneResolutionIsAFaultWithThatTolerance) {
  DetectorTuning t;
  t.flat_samples = 30;
  t.flat_tolerance = 1;
  auto d = Make(1, t);
  std::mt19937 rng(9);
  for (int i = 0; i < 500; ++i) {
    double x = Noisy(rng, 7.2, 0.05);
    d->Process(i, &x);
  }
  RowVerdict last;
  for (int i = 0; i < 40; ++i) {
    double x = i % 2 == 0 ? 7.25 : 7.26;  // toggling by one step: still flat
    last = d->Process(500 + i, &x);
  }
  EXPECT_EQ(last.faults, 1u);
}

TEST(StationDetector, QuietQuantisedParameterIsNotAFlatLine) {
  // A parameter whose noise is below its resolution is flat by nature (GECCO's pH): not a fault.
  DetectorTuning t;
  t.flat_samples = 30;
  t.flat_tolerance = 1;
  auto d = Make(1, t);
  std::mt19937 rng(10);
  int faults = 0;
  for (int i = 0; i < 5000; ++i) {
    double x = Noisy(rng, 7.2, 0.002);
    faults += d->Process(i, &x).faults != 0;
  }
  EXPECT_EQ(faults, 0);
}

TEST(StationDetector, LoggerSentinelIsAFault) {
  auto d = Make(2);
  std::mt19937 rng(11);
  for (int i = 0; i < 200; ++i) {
    double row[2] = {Noisy(rng, 7.2), Noisy(rng, 7.2)};
    d->Process(i, row);
  }
  // -9999 lies outside pH's valid range; give the second parameter a wide range to check that a
  // sentinel inside the range is caught as such.
  std::vector<ParameterSpec> specs = {{"ph", 0.01, 0, 14, true},
                                      {"conductivity", 1, 0, 200000, true}};
  auto wide = StationDetector::Create(specs, {});
  ASSERT_TRUE(wide.ok());
  for (int i = 0; i < 200; ++i) {
    double row[2] = {Noisy(rng, 7.2), std::round(Noisy(rng, 500, 5, 1))};
    (*wide)->Process(i, row);
  }
  double row[2] = {7.2, 9999};
  RowVerdict v = (*wide)->Process(200, row);
  EXPECT_EQ(v.faults, 0b10u);
  EXPECT_EQ(v.fault_kinds, FaultBit(FaultKind::kSentinel));
  EXPECT_EQ(v.outliers, 0u);
  double impossible[2] = {-9999, 500};
  v = d->Process(200, impossible);
  EXPECT_EQ(v.fault_kinds, FaultBit(FaultKind::kOutOfRange));
}

TEST(StationDetector, IsolatedSpikeIsConfirmedOnTheNextRowAndLeavesTheWindow) {
  DetectorTuning t;
  t.spike_filter = true;
  auto d = Make(1, t);
  std::mt19937 rng(12);
  WarmUp(*d, rng, 7.2);
  double spike = 9.0;
  EXPECT_EQ(d->Process(1000, &spike).outliers, 1u);
  double back = 7.2;
  RowVerdict v = d->Process(1001, &back);
  EXPECT_EQ(v.spikes, 1u);
  EXPECT_EQ(v.fault_kinds, FaultBit(FaultKind::kSpike));
  // Without the filter, a spike and one outlier four rows later would make an event (two
  // outliers in the window); with it the spike no longer counts.
  for (int i = 0; i < 3; ++i) {
    double x = Noisy(rng, 7.2);
    d->Process(1002 + i, &x);
  }
  double again = 9.0;
  EXPECT_FALSE(d->Process(1005, &again).event);

  DetectorTuning off;
  off.spike_filter = false;
  auto unfiltered = Make(1, off);
  std::mt19937 rng2(12);
  WarmUp(*unfiltered, rng2, 7.2);
  unfiltered->Process(1000, &spike);
  EXPECT_EQ(unfiltered->Process(1001, &back).spikes, 0u);
  for (int i = 0; i < 3; ++i) {
    double x = Noisy(rng2, 7.2);
    unfiltered->Process(1002 + i, &x);
  }
  EXPECT_TRUE(unfiltered->Process(1005, &again).event);
}

TEST(StationDetector, StepIsNotASpike) {
  DetectorTuning t;
  t.spike_filter = true;
  auto d = Make(1, t);
  std::mt19937 rng(13);
  WarmUp(*d, rng, 7.2);
  std::uint32_t spikes = 0;
  bool event = false;
  for (int i = 0; i < 20; ++i) {
    double x = Noisy(rng, 8.0);
    RowVerdict v = d->Process(1000 + i, &x);
    spikes |= v.spikes;
    event = event || v.event;
  }
  EXPECT_EQ(spikes, 0u);
  EXPECT_TRUE(event);
}

TEST(StationDetector, OneParameterDriftingAloneBecomesADriftFault) {
  DetectorTuning t;
  t.drift_samples = 100;
  auto d = Make(3, t);
  std::mt19937 rng(14);
  for (int i = 0; i < 1000; ++i) {
    double row[3] = {Noisy(rng, 7.2, 0.03), Noisy(rng, 1.0, 0.03), Noisy(rng, 5.0, 0.03)};
    d->Process(i, row);
  }
  // Parameter 1 ramps by half a noise sd per row; the others stay put.
  int first_drift = -1;
  RowVerdict last;
  for (int i = 0; i < 600; ++i) {
    double row[3] = {Noisy(rng, 7.2, 0.03), Noisy(rng, 1.0 + 0.0015 * i, 0.03),
                     Noisy(rng, 5.0, 0.03)};
    last = d->Process(1000 + i, row);
    if ((last.fault_kinds & FaultBit(FaultKind::kDrift)) != 0 && first_drift < 0) first_drift = i;
  }
  ASSERT_GE(first_drift, 100);
  EXPECT_EQ(last.faults, 0b010u);
  EXPECT_EQ(last.outliers, 0u) << "a drifting parameter is a fault, not an outlier";
  EXPECT_FALSE(last.event);
}

TEST(StationDetector, JointShiftIsNotDrift) {
  DetectorTuning t;
  t.drift_samples = 100;
  auto d = Make(2, t);
  std::mt19937 rng(15);
  for (int i = 0; i < 1000; ++i) {
    double row[2] = {Noisy(rng, 7.2, 0.03), Noisy(rng, 1.0, 0.03)};
    d->Process(i, row);
  }
  std::uint32_t faults = 0;
  for (int i = 0; i < 600; ++i) {
    double row[2] = {Noisy(rng, 7.2 + 0.0015 * i, 0.03), Noisy(rng, 1.0 + 0.0015 * i, 0.03)};
    faults |= d->Process(1000 + i, row).faults;
  }
  EXPECT_EQ(faults, 0u);
}

TEST(StationDetector, LongMissingParameterIsAFault) {
  DetectorTuning t;
  t.missing_samples = 5;
  auto d = Make(2, t);
  for (int i = 0; i < 100; ++i) {
    double row[2] = {7.0, i < 50 ? 7.1 : std::nan("")};
    RowVerdict v = d->Process(i, row);
    EXPECT_EQ(v.missing, i >= 54 ? 0b10u : 0u) << i;
  }
  // A parameter never reported is not missing: the probe does not have it.
  auto fresh = Make(2, t);
  for (int i = 0; i < 20; ++i) {
    double row[2] = {7.0, std::nan("")};
    EXPECT_EQ(fresh->Process(i, row).missing, 0u);
  }
}

TEST(StationDetector, SilenceLongerThanTheUsualIntervalIsOffline) {
  DetectorTuning t;
  t.offline_after = 5;
  t.offline_min_seconds = 60;
  t.warmup_samples = 20;
  auto model = StationModel::Create({{"ph", 0.01, 0, 14, true}}, t);
  ASSERT_TRUE(model.ok());
  std::vector<ParamState> params(1);
  StationState station;
  constexpr std::int64_t kSecond = 1'000'000'000;
  double x = 7.0;
  std::int64_t time = 0;
  for (int i = 0; i < 50; ++i) {
    time = (1000 + i * 30) * kSecond;  // every 30 s
    EXPECT_FALSE((*model)->Process(params, station, time, &x).after_gap);
  }
  EXPECT_NEAR(station.interval_seconds, 30, 0.01);
  EXPECT_FALSE((*model)->IsSilent(station, time, time + 149 * kSecond));
  EXPECT_TRUE((*model)->IsSilent(station, time, time + 151 * kSecond));
  RowVerdict back = (*model)->Process(params, station, time + 600 * kSecond, &x);
  EXPECT_TRUE(back.after_gap);
  EXPECT_EQ(back.fault_kinds, FaultBit(FaultKind::kOffline));
  EXPECT_NEAR(station.interval_seconds, 30, 0.01) << "a gap does not teach the interval";
  // A fast sensor is not offline before offline_min_seconds.
  StationState fast;
  StationState young;
  for (int i = 0; i < 50; ++i) (*model)->Process(params, fast, i * kSecond, &x);
  for (int i = 0; i < 10; ++i) (*model)->Process(params, young, i * kSecond, &x);
  EXPECT_FALSE((*model)->IsSilent(young, 9 * kSecond, 1000 * kSecond))
      << "a station that sent fewer than warmup_samples rows is not judged";
  EXPECT_FALSE((*model)->IsSilent(fast, 49 * kSecond, 100 * kSecond));
  EXPECT_TRUE((*model)->IsSilent(fast, 49 * kSecond, 110 * kSecond));
}

TEST(StationDetector, CorrelatedShiftFlagsEveryMovingParameter) {
  auto d = Make(3);
  std::mt19937 rng(5);
  for (int i = 0; i < 1000; ++i) {
    double row[3] = {Noisy(rng, 0.8), Noisy(rng, 0.1), Noisy(rng, 5.0)};
    d->Process(i, row);
  }
  // Chlorine down, turbidity up, third parameter unchanged.
  double row[3] = {0.3, 1.5, Noisy(rng, 5.0)};
  RowVerdict v = d->Process(1000, row);
  EXPECT_EQ(v.outliers, 0b011u);
}

TEST(StationDetector, MissingValuesAreSkipped) {
  auto d = Make(2);
  for (int i = 0; i < 100; ++i) {
    double row[2] = {7.0, std::nan("")};
    RowVerdict v = d->Process(i, row);
    EXPECT_EQ(v.faults, 0u);
  }
}

TEST(StationDetector, RejectsBadTuning) {
  DetectorTuning t;
  t.window = 65;
  EXPECT_FALSE(StationDetector::Create({{"a", 0.01}}, t).ok());
  EXPECT_FALSE(StationDetector::Create({}, DetectorTuning{}).ok());
  EXPECT_FALSE(StationDetector::Create({{"a", 0}}, DetectorTuning{}).ok());
}

}  // namespace
}  // namespace aquawatch
