// RFC 3339 parser: exact arithmetic against known instants, and strict rejection.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "core/duration.h"
#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

std::int64_t Ok(std::string_view text) {
  Result<std::int64_t> r = ParseRfc3339(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
  return r.ok() ? *r : -1;
}

std::string Error(std::string_view text) {
  Result<std::int64_t> r = ParseRfc3339(text);
  EXPECT_FALSE(r.ok()) << text << " was accepted as " << (r.ok() ? *r : 0);
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

constexpr std::int64_t kSec = 1'000'000'000;

TEST(Rfc3339, ParsesEpochAndKnownInstants) {
  EXPECT_EQ(Ok("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(Ok("2025-11-27T10:00:00Z"), 1764237600 * kSec);  // `date -u -d @1764237600`
  EXPECT_EQ(Ok("2000-03-01T00:00:00Z"), 951868800 * kSec);
  EXPECT_EQ(Ok("2038-01-19T03:14:08Z"), 2147483648 * kSec);
  EXPECT_EQ(Ok("1969-12-31T23:59:59Z"), -1 * kSec);
  EXPECT_EQ(Ok("1900-01-01T00:00:00Z"), -2208988800 * kSec);
}

TEST(Rfc3339, ParsesFractionalSecondsUpToNineDigits) {
  EXPECT_EQ(Ok("1970-01-01T00:00:00.1Z"), 100'000'000);
  EXPECT_EQ(Ok("1970-01-01T00:00:00.123Z"), 123'000'000);
  EXPECT_EQ(Ok("1970-01-01T00:00:00.000001Z"), 1'000);
  EXPECT_EQ(Ok("1970-01-01T00:00:00.123456789Z"), 123'456'789);
  EXPECT_EQ(Ok("1969-12-31T23:59:59.5Z"), -500'000'000);
  EXPECT_NE(Error("1970-01-01T00:00:00.1234567891Z").find("more than 9 fractional digits"),
            std::string::npos);
  EXPECT_NE(Error("1970-01-01T00:00:00.Z").find("expected digits after '.'"), std::string::npos);
}

TEST(Rfc3339, AppliesOffsets) {
  std::int64_t utc = Ok("2026-11-27T10:00:00Z");
  EXPECT_EQ(Ok("2026-11-27T11:00:00+01:00"), utc);
  EXPECT_EQ(Ok("2026-11-27T04:30:00-05:30"), utc);
  EXPECT_EQ(Ok("2026-11-27T10:00:00-00:00"), utc);
  EXPECT_EQ(Ok("2026-11-27T10:00:00+00:00"), utc);
  EXPECT_EQ(Ok("2026-11-28T09:59:00+23:59"), utc);
  // Offsets can cross a day, month and year boundary.
  EXPECT_EQ(Ok("2026-12-31T23:30:00-01:00"), Ok("2027-01-01T00:30:00Z"));
}

TEST(Rfc3339, AcceptsLowercaseAndSpaceSeparator) {
  std::int64_t want = Ok("2026-11-27T10:00:00Z");
  EXPECT_EQ(Ok("2026-11-27t10:00:00z"), want);
  EXPECT_EQ(Ok("2026-11-27 10:00:00Z"), want);
}

TEST(Rfc3339, KnowsLeapYears) {
  EXPECT_EQ(Ok("2024-02-29T00:00:00Z") + 86400 * kSec, Ok("2024-03-01T00:00:00Z"));
  EXPECT_EQ(Ok("2000-02-29T12:00:00Z") + 12 * 3600 * kSec, Ok("2000-03-01T00:00:00Z"));
  EXPECT_NE(Error("2023-02-29T00:00:00Z").find("day 29"), std::string::npos);
  EXPECT_NE(Error("2100-02-29T00:00:00Z").find("day 29"), std::string::npos);
  EXPECT_EQ(Ok("2023-03-01T00:00:00Z") - Ok("2023-02-28T00:00:00Z"), 86400 * kSec);
}

TEST(Rfc3339, RejectsImpossibleDatesAndTimes) {
  EXPECT_NE(Error("2026-00-10T00:00:00Z").find("month 0 out of range"), std::string::npos);
  EXPECT_NE(Error("2026-13-10T00:00:00Z").find("month 13 out of range"), std::string::npos);
  EXPECT_NE(Error("2026-01-00T00:00:00Z").find("day 0"), std::string::npos);
  EXPECT_NE(Error("2026-01-32T00:00:00Z").find("day 32"), std::string::npos);
  EXPECT_NE(Error("2026-04-31T00:00:00Z").find("day 31"), std::string::npos);
  EXPECT_NE(Error("2026-01-01T24:00:00Z").find("hour 24 out of range"), std::string::npos);
  EXPECT_NE(Error("2026-01-01T00:60:00Z").find("minute 60 out of range"), std::string::npos);
  EXPECT_NE(Error("2026-12-31T23:59:60Z").find("second 60 out of range"), std::string::npos);
  EXPECT_NE(Error("2026-01-01T00:00:00+24:00").find("offset out of range"), std::string::npos);
  EXPECT_NE(Error("2026-01-01T00:00:00+01:60").find("offset out of range"), std::string::npos);
}

TEST(Rfc3339, RejectsMalformedText) {
  for (std::string_view t : {"",
                             "2026",
                             "2026-1-01T00:00:00Z",
                             "2026-01-01",
                             "2026-01-01T",
                             "2026-01-01T00:00Z",
                             "26-01-01T00:00:00Z",
                             "2026/01/01T00:00:00Z",
                             "2026-01-01X00:00:00Z",
                             "2026-01-01T0a:00:00Z",
                             "+2026-01-01T00:00:00Z",
                             " 2026-01-01T00:00:00Z",
                             "2026-01-01T00:00:00",
                             "2026-01-01T00:00:00+0100",
                             "2026-01-01T00:00:00+01",
                             "2026-01-01T00:00:00ZZ",
                             "2026-01-01T00:00:00Z ",
                             "2026-01-01T00:00:00UTC",
                             "2026-01-01T00:00:00,5Z",
                             "1764237600000"}) {
    std::string message = Error(t);
    EXPECT_NE(message.find("invalid RFC 3339 time"), std::string::npos) << t;
  }
}

TEST(Rfc3339, RejectsInstantsOutsideInt64Nanoseconds) {
  EXPECT_EQ(Ok("2262-04-11T23:47:16.854775807Z"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(Ok("1677-09-21T00:12:43.145224192Z"), std::numeric_limits<std::int64_t>::min());
  EXPECT_NE(Error("2262-04-11T23:47:16.854775808Z").find("out of range"), std::string::npos);
  EXPECT_NE(Error("1677-09-21T00:12:43.145224191Z").find("out of range"), std::string::npos);
  EXPECT_NE(Error("9999-12-31T23:59:59Z").find("out of range"), std::string::npos);
  EXPECT_NE(Error("0000-01-01T00:00:00Z").find("out of range"), std::string::npos);
}

// Found by the rfc3339 fuzz target: the earliest instants formatted as a millisecond before
// int64's earliest nanosecond ("1677-09-21T00:12:43.145Z"), text that ParseRfc3339 refuses.
TEST(Rfc3339, FormatOfEveryInstantParsesBack) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(FormatRfc3339(kMin), "1677-09-21T00:12:43.145224192Z");
  EXPECT_EQ(Ok(FormatRfc3339(kMin)), kMin);
  EXPECT_EQ(Ok(FormatRfc3339(kMin + 775'807)), kMin + 775'807);          // the last such instant
  EXPECT_EQ(FormatRfc3339(kMin + 775'808), "1677-09-21T00:12:43.146Z");  // a whole ms again
  EXPECT_EQ(Ok(FormatRfc3339(kMin + 775'808)), kMin + 775'808);
  EXPECT_EQ(Ok(FormatRfc3339(kMax)), kMax / 1'000'000 * 1'000'000);
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999Z");  // rounds towards the past
  EXPECT_EQ(Ok(FormatRfc3339(-1)), -1'000'000);
  EXPECT_EQ(FormatRfc3339(1'764'237'600'123'456'789), "2025-11-27T10:00:00.123Z");
}

TEST(Rfc3339, BoundsTheEchoedInput) {
  std::string message = Error("2026-01-01T00:00:00Z" + std::string(1000, 'x'));
  EXPECT_LT(message.size(), 200u);
}

}  // namespace
}  // namespace aquawatch
