#include <gtest/gtest.h>

#include "core/duration.h"

namespace aquawatch {
namespace {

TEST(Duration, ParsesACountAndAUnit) {
  EXPECT_EQ(ParseDuration("500ms"), 500'000'000);
  EXPECT_EQ(ParseDuration("10s"), 10'000'000'000);
  EXPECT_EQ(ParseDuration("20m"), 1'200'000'000'000);
  EXPECT_EQ(ParseDuration("1h"), 3'600'000'000'000);
  EXPECT_EQ(ParseDuration("30d"), 30 * 86'400'000'000'000);
  EXPECT_EQ(ParseDuration("0s"), 0);
  for (const char* bad :
       {"", "00", "5", "5x", "m", "-1s", "1.5h", "1 h", "1hh", "1H", "9999999999999999d"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(Duration, FormatsWithTheLargestExactUnitAndRoundTrips) {
  EXPECT_EQ(FormatDuration(0), "0");
  EXPECT_EQ(FormatDuration(3'600'000'000'000), "1h");
  EXPECT_EQ(FormatDuration(90'000'000'000), "90s");
  EXPECT_EQ(FormatDuration(1'500'000'000), "1500ms");
  EXPECT_EQ(FormatDuration(7), "7ns");
  for (const char* text : {"1d", "20m", "45s", "250ms"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(text)), text);
  }
}

// Found by the rfc3339 fuzz target (input "0s"): FormatDuration(0) printed "0", which
// ParseDuration refused, so a zero duration did not survive format and parse.
TEST(Duration, ZeroRoundTrips) {
  EXPECT_EQ(ParseDuration("0"), 0);
  EXPECT_EQ(ParseDuration(FormatDuration(0)), 0);
  for (const char* text : {"0s", "0ms", "0d"}) {
    EXPECT_EQ(ParseDuration(FormatDuration(*ParseDuration(text))), 0) << text;
  }
}

}  // namespace
}  // namespace aquawatch
