// Replay regression on a committed slice of real data (GECCO 2018, tests/data/gecco_slice.csv:
// 3,000 event-free rows, then 801 rows holding three labelled events). The expected figures are
// what the default detector scored when they were recorded; a change to the detector that moves
// them must update this test and docs/detection.md together.
#include <gtest/gtest.h>

#include "core/env.h"
#include "detect/replay.h"

#ifndef AQUAWATCH_SOURCE_DIR
#define AQUAWATCH_SOURCE_DIR "."
#endif

namespace aquawatch {
namespace {

TEST(ReplayRegression, GeccoSliceScoresAsRecorded) {
  CsvReadOptions read;
  read.labels = {"EVENT"};
  auto input = ReadReplayCsvFile(
      DefaultEnv(), std::string(AQUAWATCH_SOURCE_DIR) + "/tests/data/gecco_slice.csv", read);
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  ASSERT_EQ(input->rows(), 3801u);
  auto detector = StationDetector::Create(input->params, DetectorTuning{});
  ASSERT_TRUE(detector.ok());
  ReplayResult result = Replay(*input, **detector, {});
  const ReplayScore& s = result.score;
  EXPECT_EQ(s.positives, 54u);
  EXPECT_EQ(s.events, 3u);
  EXPECT_EQ(s.events_detected, 3u);
  EXPECT_EQ(s.true_positives, 51u);
  EXPECT_EQ(s.predicted, 56u);
  EXPECT_EQ(s.false_alarms, 3u);
  EXPECT_DOUBLE_EQ(s.median_delay_rows, 1.0);
}

}  // namespace
}  // namespace aquawatch
