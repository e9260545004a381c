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

TEST(StationDetector, CusumCatchesASlowRampBeforeTheLevelTestDoes) {
  DetectorTuning plain, cusum;
  cusum.cusum_h = 8;
  cusum.cusum_k = 1;
  auto a = Make(1, plain), b = Make(1, cusum);
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    double x = Noisy(rng, 7.2);
    a->Process(i, &x);
    b->Process(i, &x);
  }
  int first_a = -1, first_b = -1;
  for (int i = 0; i < 60; ++i) {
    double x = std::round((7.2 + 0.005 * i) / 0.01) * 0.01;  // +0.5 noise sd per sample
    if (a->Process(1000 + i, &x).outliers && first_a < 0) first_a = i;
    if (b->Process(1000 + i, &x).outliers && first_b < 0) first_b = i;
  }
  ASSERT_GE(first_a, 0);
  ASSERT_GE(first_b, 0);
  EXPECT_LT(first_b, first_a);
}

TEST(StationDetector, StateOfASixParameterSensorFitsTheBudget) {
  auto d = Make(6);
  EXPECT_LE(d->StateBytes(), 400u);
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

TEST(StationDetector, StuckSensorIsAFault) {
  DetectorTuning t;
  t.stuck_samples = 30;
  auto d = Make(1, t);
  RowVerdict last;
  for (int i = 0; i < 40; ++i) {
    double x = 7.25;
    last = d->Process(i, &x);
  }
  EXPECT_EQ(last.faults, 1u);
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
