// Line protocol decoder: every syntax rule of our dialect, accepted and rejected forms.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

constexpr std::int64_t kDefaultTime = 42;

struct Decoded {
  DecodeOutcome outcome;
  ReadingBatch batch;
  std::vector<DecodeError> errors;
};

Decoded Decode(std::string_view text, Precision precision = Precision::kNanoseconds,
               std::uint32_t first_line = 1) {
  Decoded d;
  LineProtocolOptions options;
  options.precision = precision;
  options.default_time_ns = kDefaultTime;
  options.first_line = first_line;
  d.outcome = DecodeLineProtocol(text, options, d.batch, d.errors);
  return d;
}

// Decodes one line that must be accepted and returns the value of its only field.
double OneValue(std::string_view line) {
  Decoded d = Decode(line);
  EXPECT_EQ(d.outcome.accepted, 1u) << line << ": " << (d.errors.empty() ? "" : d.errors[0].reason);
  if (d.batch.size() != 1 || d.batch.field_end(0) != 1) {
    ADD_FAILURE() << "expected one field in " << line;
    return -1;
  }
  return d.batch.field_value(0);
}

// Decodes one line that must be rejected and returns its error.
DecodeError OneError(std::string_view line, Precision precision = Precision::kNanoseconds) {
  Decoded d = Decode(line, precision);
  EXPECT_EQ(d.outcome.accepted, 0u) << line;
  EXPECT_EQ(d.outcome.rejected, 1u) << line;
  EXPECT_EQ(d.batch.size(), 0u) << line;
  if (d.errors.size() != 1) {
    ADD_FAILURE() << "expected one error for " << line;
    return {};
  }
  return d.errors[0];
}

TEST(LineProtocol, DecodesTypicalLine) {
  Decoded d = Decode(
      "water,sensor=s000123,site=plant1 ph=7.21,turbidity_ntu=0.12,dissolved_oxygen_mg_l=8.4,"
      "temperature_c=14.2,conductivity_us_cm=512,free_chlorine_mg_l=0.8 1764237600000000000\n");
  ASSERT_EQ(d.outcome.accepted, 1u);
  EXPECT_EQ(d.outcome.rejected, 0u);
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.batch.size(), 1u);
  EXPECT_EQ(d.batch.sensor(0), "s000123");
  EXPECT_EQ(d.batch.site(0), "plant1");
  EXPECT_EQ(d.batch.zone(0), "");
  EXPECT_EQ(d.batch.time_ns(0), 1764237600000000000);
  ASSERT_EQ(d.batch.field_end(0), 6u);
  EXPECT_EQ(d.batch.field_param(0), ParameterId::kPh);
  EXPECT_DOUBLE_EQ(d.batch.field_value(0), 7.21);
  EXPECT_EQ(d.batch.field_param(1), ParameterId::kTurbidityNtu);
  EXPECT_EQ(d.batch.field_param(2), ParameterId::kDissolvedOxygenMgL);
  EXPECT_EQ(d.batch.field_param(3), ParameterId::kTemperatureC);
  EXPECT_EQ(d.batch.field_param(4), ParameterId::kConductivityUsCm);
  EXPECT_DOUBLE_EQ(d.batch.field_value(4), 512);
  EXPECT_EQ(d.batch.field_param(5), ParameterId::kFreeChlorineMgL);
}

TEST(LineProtocol, KeepsSiteAndZoneAndIgnoresOtherTags) {
  Decoded d = Decode("water,zone=z9,vendor=acme,sensor=a1,site=p2,firmware=1.2 orp_mv=650");
  ASSERT_EQ(d.outcome.accepted, 1u);
  EXPECT_EQ(d.batch.sensor(0), "a1");
  EXPECT_EQ(d.batch.site(0), "p2");
  EXPECT_EQ(d.batch.zone(0), "z9");
  EXPECT_EQ(d.batch.field_param(0), ParameterId::kOrpMv);
}

TEST(LineProtocol, MeasurementIsFreeButNotEmpty) {
  EXPECT_EQ(Decode("anything-at_all.\xC3\xA9,sensor=a ph=7").outcome.accepted, 1u);
  EXPECT_EQ(Decode("my\\ meas\\,urement,sensor=a ph=7").outcome.accepted, 1u);
  EXPECT_EQ(Decode("m=x,sensor=a ph=7").outcome.accepted, 1u);  // '=' is plain in measurements
  EXPECT_EQ(OneError(",sensor=a ph=7").reason, "missing measurement");
  EXPECT_EQ(OneError(" ,sensor=a ph=7").reason, "missing measurement");
}

TEST(LineProtocol, UnescapesTagValues) {
  Decoded d = Decode("w,sensor=a,site=plant\\ 1\\,north\\=x,zone=c:\\temp ph=7");
  ASSERT_EQ(d.outcome.accepted, 1u) << d.errors[0].reason;
  EXPECT_EQ(d.batch.site(0), "plant 1,north=x");
  // A backslash before anything else is literal.
  EXPECT_EQ(d.batch.zone(0), "c:\\temp");
}

TEST(LineProtocol, BackslashBeforeBackslashIsLiteral) {
  // `\\` is not an escape in tags: the first is literal, the second escapes the comma.
  Decoded d = Decode("w,sensor=a,site=x\\\\,y ph=7");
  ASSERT_EQ(d.outcome.accepted, 1u);
  EXPECT_EQ(d.batch.site(0), "x\\,y");
}

TEST(LineProtocol, UnescapesTagKeys) {
  // An escaped tag key is not "sensor", so this line has no sensor.
  EXPECT_EQ(OneError("w,sens\\ or=a ph=7").reason, "missing tag \"sensor\"");
  Decoded d = Decode("w,my\\,tag\\=x=1,sensor=a ph=7");
  EXPECT_EQ(d.outcome.accepted, 1u);
}

TEST(LineProtocol, UnescapesFieldKeys) {
  DecodeError e = OneError("w,sensor=a my\\ field\\,x\\=y=1");
  EXPECT_EQ(e.field, "my field,x=y");
  EXPECT_NE(e.reason.find("outside letters"), std::string::npos) << e.reason;
}

TEST(LineProtocol, UnescapedValuesStayCorrectAcrossManyEscapesInOneLine) {
  // Several unescaped tokens share the scratch buffer; all must survive to the batch.
  Decoded d =
      Decode("w,site=a\\ b,zone=c\\ d,sensor=s1 x_1=1,y\\ 2=2\nw,sensor=s2,site=e\\,f ph=1");
  ASSERT_EQ(d.outcome.rejected, 1u);
  EXPECT_EQ(d.errors[0].field, "y 2");
  ASSERT_EQ(d.batch.size(), 1u);
  EXPECT_EQ(d.batch.site(0), "e,f");
}

TEST(LineProtocol, RequiresValidSensorTag) {
  DecodeError e = OneError("w,site=a ph=7");
  EXPECT_EQ(e.field, "sensor");
  EXPECT_EQ(e.reason, "missing tag \"sensor\"");
  e = OneError("w,sensor=bad/id ph=7");
  EXPECT_EQ(e.field, "sensor");
  EXPECT_EQ(e.reason, "sensor id \"bad/id\" has a character outside letters, digits and _ - . :");
  e = OneError("w,sensor=" + std::string(129, 'a') + " ph=7");
  EXPECT_EQ(e.field, "sensor");
  EXPECT_NE(e.reason.find("longer than 128"), std::string::npos);
  EXPECT_EQ(Decode("w,sensor=" + std::string(128, 'a') + " ph=7").outcome.accepted, 1u);
  EXPECT_EQ(Decode("w,sensor=A-z_0.9:x ph=7").outcome.accepted, 1u);
}

TEST(LineProtocol, RejectsDuplicateKeptTags) {
  DecodeError e = OneError("w,sensor=a,sensor=b ph=7");
  EXPECT_EQ(e.field, "sensor");
  EXPECT_EQ(e.reason, "duplicate tag \"sensor\"");
  EXPECT_EQ(OneError("w,sensor=a,site=x,site=y ph=7").reason, "duplicate tag \"site\"");
  EXPECT_EQ(OneError("w,sensor=a,zone=x,zone=y ph=7").reason, "duplicate tag \"zone\"");
  // Tags we ignore may repeat.
  EXPECT_EQ(Decode("w,sensor=a,k=1,k=2 ph=7").outcome.accepted, 1u);
}

TEST(LineProtocol, RejectsMalformedTags) {
  EXPECT_EQ(OneError("w,=a,sensor=a ph=7").reason, "empty tag key");
  DecodeError e = OneError("w,sensor ph=7");
  EXPECT_EQ(e.field, "sensor");
  EXPECT_EQ(e.reason, "missing '=' after tag key \"sensor\"");
  e = OneError("w,sensor=,site=x ph=7");
  EXPECT_EQ(e.field, "sensor");
  EXPECT_EQ(e.reason, "empty value for tag \"sensor\"");
  EXPECT_EQ(OneError("w,sensor=a=b ph=7").reason, "unescaped '=' in value of tag \"sensor\"");
  EXPECT_EQ(OneError("w,sensor=a, ph=7").reason, "empty tag key");
}

TEST(LineProtocol, RejectsMissingFieldSet) {
  EXPECT_EQ(OneError("w,sensor=a").reason, "missing field set");
  EXPECT_EQ(OneError("w,sensor=a   ").reason, "missing field set");
  DecodeError e = OneError("w,sensor=a ph");
  EXPECT_EQ(e.field, "ph");
  EXPECT_EQ(e.reason, "missing '=' after field key \"ph\"");
  EXPECT_EQ(OneError("w,sensor=a =7").reason, "empty field key");
  EXPECT_EQ(OneError("w,sensor=a ph=7,").reason, "missing field after ','");
  EXPECT_EQ(OneError("w,sensor=a ph=7, 123").reason, "missing field after ','");
  e = OneError("w,sensor=a ph=");
  EXPECT_EQ(e.field, "ph");
  EXPECT_EQ(e.reason, "missing value for field \"ph\"");
  EXPECT_EQ(OneError("w,sensor=a ph=,orp_mv=1").reason, "missing value for field \"ph\"");
}

TEST(LineProtocol, ParsesFloats) {
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=1"), 1.0);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=1.5"), 1.5);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=-1e-3"), -0.001);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=.5"), 0.5);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=-.5"), -0.5);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=5."), 5.0);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=2E3"), 2000.0);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=007.25"), 7.25);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=1.7976931348623157e308"), 1.7976931348623157e308);
}

TEST(LineProtocol, RejectsBadFloats) {
  for (std::string v : {".", "-.", "1e", "5e+", "1.2.3", "0x10", "7.2abc", "1_000"}) {
    DecodeError e = OneError("w,sensor=a ph=" + v);
    EXPECT_EQ(e.field, "ph") << v;
    EXPECT_EQ(e.reason, "invalid float value \"" + v + "\"") << v;
  }
  EXPECT_EQ(OneError("w,sensor=a ph=1e400").reason, "float out of range: \"1e400\"");
}

TEST(LineProtocol, RejectsNanInfinityAndOtherWords) {
  // InfluxDB rejects NaN and infinities, and so does a leading '+'.
  for (std::string v : {"+1", "-", "--1", "e5", "nan", "NaN", "-nan", "inf", "-inf", "Infinity",
                        "yes", "tru", "i", "u", "+1i", "-i", "abc\\"}) {
    DecodeError e = OneError("w,sensor=a ph=" + v);
    EXPECT_EQ(e.field, "ph") << v;
    EXPECT_EQ(e.reason.rfind("invalid value ", 0), 0u) << v << ": " << e.reason;
    EXPECT_NE(e.reason.find("not a number, boolean or quoted string"), std::string::npos) << v;
  }
  EXPECT_EQ(OneError("w,sensor=a ph=nan").reason,
            "invalid value \"nan\": not a number, boolean or quoted string");
}

TEST(LineProtocol, ReportsDecimalCommaOnTheFloat) {
  DecodeError e = OneError("w,sensor=a ph=7,2 1764237600000000000");
  EXPECT_EQ(e.field, "ph");
  EXPECT_EQ(e.reason, "invalid float value \"7,2\"");
  e = OneError("w,sensor=a orp_mv=1,ph=7,25");
  EXPECT_EQ(e.field, "ph");
  EXPECT_EQ(e.reason, "invalid float value \"7,25\"");
}

TEST(LineProtocol, ParsesIntegers) {
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=12i"), 12.0);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=-3i"), -3.0);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=0i"), 0.0);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=9223372036854775807i"), 9223372036854775807.0);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=-9223372036854775808i"), -9223372036854775808.0);
}

TEST(LineProtocol, RejectsBadIntegers) {
  DecodeError e = OneError("w,sensor=a x=9223372036854775808i");
  EXPECT_EQ(e.field, "x");
  EXPECT_EQ(e.reason, "integer out of range: \"9223372036854775808i\"");
  EXPECT_EQ(OneError("w,sensor=a x=-9223372036854775809i").reason,
            "integer out of range: \"-9223372036854775809i\"");
  for (std::string v : {"1.5i", "1ii", "1e3i", "-1.0i", ".5i"}) {
    EXPECT_EQ(OneError("w,sensor=a x=" + v).reason, "invalid integer value \"" + v + "\"") << v;
  }
}

TEST(LineProtocol, ParsesUnsigned) {
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=12u"), 12.0);
  EXPECT_DOUBLE_EQ(OneValue("w,sensor=a x=18446744073709551615u"), 18446744073709551615.0);
  EXPECT_EQ(OneError("w,sensor=a x=18446744073709551616u").reason,
            "unsigned integer out of range: \"18446744073709551616u\"");
  EXPECT_EQ(OneError("w,sensor=a x=-1u").reason, "invalid unsigned value \"-1u\"");
  EXPECT_EQ(OneError("w,sensor=a x=1.5u").reason, "invalid unsigned value \"1.5u\"");
}

TEST(LineProtocol, ParsesBooleans) {
  for (std::string v : {"t", "T", "true", "True", "TRUE"}) {
    EXPECT_EQ(OneValue("w,sensor=a x=" + v), 1.0) << v;
  }
  for (std::string v : {"f", "F", "false", "False", "FALSE"}) {
    EXPECT_EQ(OneValue("w,sensor=a x=" + v), 0.0) << v;
  }
  for (std::string v : {"tRUE", "truE", "fALSE", "yes", "on", "TrUe"}) {
    EXPECT_EQ(OneError("w,sensor=a x=" + v).reason,
              "invalid value \"" + v + "\": not a number, boolean or quoted string")
        << v;
  }
}

TEST(LineProtocol, SkipsStringFields) {
  Decoded d =
      Decode("w,sensor=a note=\"he said \\\"hi, there\\\" a=b \\\\\",ph=7.5,other=\"\" 100\n");
  ASSERT_EQ(d.outcome.accepted, 1u) << d.errors[0].reason;
  ASSERT_EQ(d.batch.field_end(0), 1u);
  EXPECT_EQ(d.batch.field_param(0), ParameterId::kPh);
  EXPECT_EQ(d.batch.time_ns(0), 100);
  // A backslash before another character is literal inside strings too.
  EXPECT_EQ(Decode("w,sensor=a s=\"c:\\temp\",ph=1").outcome.accepted, 1u);
}

TEST(LineProtocol, RejectsLineWithOnlyStringFields) {
  DecodeError e = OneError("w,sensor=a note=\"x\",ph=\"7.2\"");
  EXPECT_EQ(e.field, "");
  EXPECT_EQ(e.reason, "no numeric field");
}

TEST(LineProtocol, RejectsMalformedStrings) {
  DecodeError e = OneError("w,sensor=a note=\"abc");
  EXPECT_EQ(e.field, "note");
  EXPECT_EQ(e.reason, "unterminated string");
  EXPECT_EQ(OneError("w,sensor=a note=\"abc\\\"").reason, "unterminated string");
  EXPECT_EQ(OneError("w,sensor=a note=\"abc\\").reason, "unterminated string");
  EXPECT_EQ(OneError("w,sensor=a note=\"abc\"x,ph=1").reason,
            "unexpected text after string value: \"x,ph=1\"");
}

TEST(LineProtocol, NewlineInsideStringIsNotSupported) {
  // Documented limitation: lines are split first, so both halves are rejected.
  Decoded d = Decode("w,sensor=a note=\"two\nlines\",ph=1");
  EXPECT_EQ(d.outcome.accepted, 0u);
  EXPECT_EQ(d.outcome.rejected, 2u);
  ASSERT_EQ(d.errors.size(), 2u);
  EXPECT_EQ(d.errors[0].reason, "unterminated string");
  EXPECT_EQ(d.errors[1].line, 2u);
}

TEST(LineProtocol, KeepsCustomFieldsAndValidatesTheirNames) {
  Decoded d = Decode("w,sensor=a ph=7,chlorophyll_ug_l=3.5,Level-2.x:y=1i");
  ASSERT_EQ(d.outcome.accepted, 1u);
  ASSERT_EQ(d.batch.field_end(0), 3u);
  EXPECT_EQ(d.batch.field_param(1), ParameterId::kCustom);
  EXPECT_EQ(d.batch.field_name(1), "chlorophyll_ug_l");
  EXPECT_DOUBLE_EQ(d.batch.field_value(1), 3.5);
  EXPECT_EQ(d.batch.field_name(2), "Level-2.x:y");

  DecodeError e = OneError("w,sensor=a ph=7,bad/name=1");
  EXPECT_EQ(e.field, "bad/name");
  EXPECT_EQ(e.reason,
            "field name \"bad/name\" has a character outside letters, digits and _ - . :");
  std::string long_name(65, 'x');
  e = OneError("w,sensor=a " + long_name + "=1");
  EXPECT_EQ(e.field, long_name);
  EXPECT_NE(e.reason.find("longer than 64"), std::string::npos);
  // Names of skipped string fields are not validated.
  EXPECT_EQ(Decode("w,sensor=a bad/name=\"x\",ph=1").outcome.accepted, 1u);
}

TEST(LineProtocol, RejectsDuplicateFields) {
  DecodeError e = OneError("w,sensor=a ph=7,orp_mv=1,ph=7.1");
  EXPECT_EQ(e.field, "ph");
  EXPECT_EQ(e.reason, "duplicate field \"ph\"");
  EXPECT_EQ(OneError("w,sensor=a x=1,y=2,x=3").reason, "duplicate field \"x\"");
  EXPECT_EQ(OneError("w,sensor=a x=\"s\",x=3").reason, "duplicate field \"x\"");
  EXPECT_EQ(OneError("w,sensor=a ph=\"s\",ph=3").reason, "duplicate field \"ph\"");
  // Escaped and plain spellings of one key are the same key.
  EXPECT_EQ(OneError("w,sensor=a s\\=1=\"a\",s\\=1=\"b\",ph=1").reason, "duplicate field \"s=1\"");
}

TEST(LineProtocol, FindsDuplicateAmongManyCustomFields) {
  std::string line = "w,sensor=a ";
  for (int i = 0; i < 40; ++i) line += "f" + std::to_string(i) + "=1,";
  Decoded ok = Decode(line + "last=1");
  ASSERT_EQ(ok.outcome.accepted, 1u);
  EXPECT_EQ(ok.batch.field_end(0), 41u);
  EXPECT_EQ(OneError(line + "f17=2").reason, "duplicate field \"f17\"");
}

TEST(LineProtocol, UsesDefaultTimeWhenTimestampMissing) {
  Decoded d = Decode("w,sensor=a ph=7\nw,sensor=a ph=7   \n");
  ASSERT_EQ(d.outcome.accepted, 2u);
  EXPECT_EQ(d.batch.time_ns(0), kDefaultTime);
  EXPECT_EQ(d.batch.time_ns(1), kDefaultTime);
}

TEST(LineProtocol, ScalesTimestampByPrecision) {
  struct Case {
    Precision precision;
    std::int64_t ns;
  };
  for (Case c :
       {Case{Precision::kNanoseconds, 5}, Case{Precision::kMicroseconds, 5'000},
        Case{Precision::kMilliseconds, 5'000'000}, Case{Precision::kSeconds, 5'000'000'000},
        Case{Precision::kMinutes, 300'000'000'000}, Case{Precision::kHours, 18'000'000'000'000}}) {
    Decoded d = Decode("w,sensor=a ph=7 5", c.precision);
    ASSERT_EQ(d.outcome.accepted, 1u);
    EXPECT_EQ(d.batch.time_ns(0), c.ns);
  }
}

TEST(LineProtocol, AcceptsNegativeTimestamps) {
  Decoded d = Decode("w,sensor=a ph=7 -1500", Precision::kMilliseconds);
  ASSERT_EQ(d.outcome.accepted, 1u);
  EXPECT_EQ(d.batch.time_ns(0), -1'500'000'000);
  Decoded min = Decode("w,sensor=a ph=7 -9223372036854775808");
  ASSERT_EQ(min.outcome.accepted, 1u);
  EXPECT_EQ(min.batch.time_ns(0), std::numeric_limits<std::int64_t>::min());
}

TEST(LineProtocol, RejectsTimestampOutOfRangeForPrecision) {
  DecodeError e = OneError("w,sensor=a ph=7 9223372036855", Precision::kMilliseconds);
  EXPECT_EQ(e.field, "timestamp");
  EXPECT_EQ(e.reason, "timestamp \"9223372036855\" out of range for precision ms");
  EXPECT_EQ(OneError("w,sensor=a ph=7 -9223372037", Precision::kSeconds).reason,
            "timestamp \"-9223372037\" out of range for precision s");
  Decoded ok = Decode("w,sensor=a ph=7 9223372036", Precision::kSeconds);
  EXPECT_EQ(ok.outcome.accepted, 1u);
  EXPECT_EQ(OneError("w,sensor=a ph=7 9223372036854775808").reason,
            "timestamp out of range: \"9223372036854775808\"");
}

TEST(LineProtocol, RejectsBadTimestamps) {
  for (std::string t : {"abc", "1.5", "12i", "+5", "0x10", "1e9", "-"}) {
    DecodeError e = OneError("w,sensor=a ph=7 " + t);
    EXPECT_EQ(e.field, "timestamp") << t;
    EXPECT_EQ(e.reason, "invalid timestamp \"" + t + "\"") << t;
  }
  DecodeError e = OneError("w,sensor=a ph=7 100 200");
  EXPECT_EQ(e.field, "");
  EXPECT_EQ(e.reason, "unexpected text after timestamp: \"200\"");
}

TEST(LineProtocol, ToleratesExtraSpacesAndLeadingWhitespace) {
  Decoded d = Decode("  \tw,sensor=a   ph=7    100   \r\n");
  ASSERT_EQ(d.outcome.accepted, 1u);
  EXPECT_EQ(d.batch.time_ns(0), 100);
}

TEST(LineProtocol, CountsEveryLineIncludingBlankAndComments) {
  Decoded d = Decode(
      "# header comment\n"
      "\n"
      "w,sensor=a ph=7\n"
      "   \n"
      "  # indented comment\n"
      "w ph=7\n"
      "w,sensor=b ph=x\n",
      Precision::kNanoseconds, 10);
  EXPECT_EQ(d.outcome.accepted, 1u);
  EXPECT_EQ(d.outcome.rejected, 2u);
  ASSERT_EQ(d.errors.size(), 2u);
  EXPECT_EQ(d.errors[0].line, 15u);
  EXPECT_EQ(d.errors[1].line, 16u);
}

TEST(LineProtocol, HandlesCrLfAndMissingFinalNewline) {
  Decoded d =
      Decode("w,sensor=a ph=7 1\r\nw,sensor=b ph=8 2\r\nw,sensor=c ph=bad\r\nw,sensor=d ph=9");
  EXPECT_EQ(d.outcome.accepted, 3u);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].line, 3u);
  EXPECT_EQ(d.errors[0].reason, "invalid value \"bad\": not a number, boolean or quoted string");
  EXPECT_EQ(d.batch.time_ns(1), 2);
  EXPECT_EQ(d.batch.sensor(2), "d");
}

TEST(LineProtocol, EmptyInputDecodesNothing) {
  Decoded d = Decode("");
  EXPECT_EQ(d.outcome.accepted, 0u);
  EXPECT_EQ(d.outcome.rejected, 0u);
  d = Decode("\n\n\r\n");
  EXPECT_EQ(d.outcome.accepted + d.outcome.rejected, 0u);
}

TEST(LineProtocol, RejectedLineLeavesBatchUntouched) {
  ReadingBatch batch;
  batch.BeginReading("before", 1);
  batch.AddCustomField("kept", 1);
  std::vector<DecodeError> errors;
  DecodeOutcome o = DecodeLineProtocol(
      "w,sensor=s1,site=x\\ y tag_ok=1,ph=7\nw,sensor=s2,site=zz\\ top c1=1,c2=oops\n"
      "w,sensor=s3 c3=3",
      {}, batch, errors);
  EXPECT_EQ(o.accepted, 2u);
  EXPECT_EQ(o.rejected, 1u);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch.sensor(0), "before");
  EXPECT_EQ(batch.field_name(0), "kept");
  EXPECT_EQ(batch.sensor(1), "s1");
  EXPECT_EQ(batch.site(1), "x y");
  EXPECT_EQ(batch.sensor(2), "s3");
  EXPECT_EQ(batch.field_count(), 4u);
  EXPECT_EQ(batch.field_name(3), "c3");
}

TEST(LineProtocol, CapsReportedErrorsButCountsAll) {
  std::string text;
  for (int i = 0; i < 150; ++i) text += "w,sensor=a ph=bad\n";
  text += "w,sensor=a ph=1\n";
  Decoded d = Decode(text);
  EXPECT_EQ(d.outcome.rejected, 150u);
  EXPECT_EQ(d.outcome.accepted, 1u);
  EXPECT_EQ(d.errors.size(), kMaxReportedErrors);
  EXPECT_EQ(d.errors.back().line, kMaxReportedErrors);
}

TEST(LineProtocol, QuotesLongOrControlTextBoundedInErrors) {
  DecodeError e = OneError("w,sensor=a ph=" + std::string(500, '9') + "x");
  EXPECT_LT(e.reason.size(), 120u);
  EXPECT_NE(e.reason.find("..."), std::string::npos);
  e = OneError("w,sensor=a ph=1\x01");
  EXPECT_EQ(e.reason, "invalid float value \"1\\x01\"");
}

TEST(ParsePrecision, AcceptsInfluxSpellings) {
  struct Case {
    std::string_view text;
    Precision want;
  };
  for (Case c : {Case{"", Precision::kNanoseconds}, Case{"n", Precision::kNanoseconds},
                 Case{"ns", Precision::kNanoseconds}, Case{"u", Precision::kMicroseconds},
                 Case{"us", Precision::kMicroseconds}, Case{"\xC2\xB5", Precision::kMicroseconds},
                 Case{"ms", Precision::kMilliseconds}, Case{"s", Precision::kSeconds},
                 Case{"m", Precision::kMinutes}, Case{"h", Precision::kHours}}) {
    Result<Precision> p = ParsePrecision(c.text);
    ASSERT_TRUE(p.ok()) << c.text;
    EXPECT_EQ(*p, c.want) << c.text;
  }
}

TEST(ParsePrecision, RejectsUnknown) {
  for (std::string_view t : {"x", "NS", "sec", "d", "mss", " s"}) {
    Result<Precision> p = ParsePrecision(t);
    ASSERT_FALSE(p.ok()) << t;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find("unknown precision"), std::string::npos);
  }
}

}  // namespace
}  // namespace aquawatch

namespace aquawatch {
namespace {

TEST(LineProtocol, RejectsOverlongSiteOrZone) {
  std::string long_site(129, 's');
  Decoded d = Decode("water,sensor=s1,site=" + long_site + " ph=7\nwater,sensor=s2 ph=7\n");
  EXPECT_EQ(d.outcome.accepted, 1u);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].line, 1u);
  EXPECT_EQ(d.errors[0].field, "site");
}

}  // namespace
}  // namespace aquawatch
