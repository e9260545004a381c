// JSON decoder: the three document shapes, every value rule, and whole-document rejection.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

constexpr std::int64_t kDefaultTime = 77;

struct Decoded {
  DecodeOutcome outcome;
  ReadingBatch batch;
  std::vector<DecodeError> errors;
};

Decoded Decode(std::string_view text) {
  Decoded d;
  JsonOptions options;
  options.default_time_ns = kDefaultTime;
  d.outcome = DecodeJson(text, options, d.batch, d.errors);
  return d;
}

// Wraps one reading's members in a single-reading document and expects it to be rejected.
DecodeError OneError(std::string_view reading_members) {
  std::string doc = "{" + std::string(reading_members) + "}";
  Decoded d = Decode(doc);
  EXPECT_EQ(d.outcome.accepted, 0u) << doc;
  EXPECT_EQ(d.outcome.rejected, 1u) << doc;
  EXPECT_EQ(d.batch.size(), 0u) << doc;
  if (d.errors.size() != 1) {
    ADD_FAILURE() << "expected one error for " << doc;
    return {};
  }
  return d.errors[0];
}

TEST(Json, DecodesBatchDocument) {
  Decoded d = Decode(R"({"readings": [
    {"sensor": "s000123", "site": "plant1", "zone": "z1", "time": "2025-11-27T10:00:00Z",
     "values": {"ph": 7.21, "turbidity_ntu": 0.12, "conductivity_us_cm": 512}},
    {"sensor": "s000124", "time": 1764237600000, "values": {"orp_mv": -12}}
  ]})");
  ASSERT_EQ(d.outcome.accepted, 2u);
  EXPECT_EQ(d.outcome.rejected, 0u);
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.batch.size(), 2u);
  EXPECT_EQ(d.batch.sensor(0), "s000123");
  EXPECT_EQ(d.batch.site(0), "plant1");
  EXPECT_EQ(d.batch.zone(0), "z1");
  EXPECT_EQ(d.batch.time_ns(0), 1764237600000000000);
  ASSERT_EQ(d.batch.field_end(0), 3u);
  EXPECT_EQ(d.batch.field_param(0), ParameterId::kPh);
  EXPECT_DOUBLE_EQ(d.batch.field_value(0), 7.21);
  EXPECT_EQ(d.batch.field_param(2), ParameterId::kConductivityUsCm);
  EXPECT_DOUBLE_EQ(d.batch.field_value(2), 512);
  EXPECT_EQ(d.batch.time_ns(1), 1764237600000000000);
  EXPECT_EQ(d.batch.site(1), "");
  EXPECT_EQ(d.batch.field_param(3), ParameterId::kOrpMv);
  EXPECT_DOUBLE_EQ(d.batch.field_value(3), -12);
}

TEST(Json, DecodesTopLevelArrayAndSingleObject) {
  Decoded a = Decode(R"([{"sensor":"a","values":{"ph":7}},{"sensor":"b","values":{"ph":8}}])");
  EXPECT_EQ(a.outcome.accepted, 2u);
  EXPECT_EQ(a.batch.sensor(1), "b");
  Decoded o = Decode(R"({"sensor":"a","values":{"ph":7}})");
  EXPECT_EQ(o.outcome.accepted, 1u);
  EXPECT_EQ(o.batch.time_ns(0), kDefaultTime);
  Decoded empty = Decode(R"({"readings": []})");
  EXPECT_EQ(empty.outcome.accepted + empty.outcome.rejected, 0u);
  EXPECT_EQ(Decode("[]").outcome.rejected, 0u);
}

TEST(Json, IgnoresUnknownKeys) {
  Decoded d = Decode(
      R"({"version": 2, "readings": [{"sensor":"a","battery":{"v":3.3},"values":{"ph":7}}],
          "extra": [1, {"x": "]"}]})");
  EXPECT_EQ(d.outcome.accepted, 1u);
}

TEST(Json, ParsesTimeForms) {
  Decoded d = Decode(R"([
    {"sensor":"a","time":"2026-11-27T11:00:00.5+01:00","values":{"ph":1}},
    {"sensor":"a","time":1500,"values":{"ph":1}},
    {"sensor":"a","time":-1500,"values":{"ph":1}},
    {"sensor":"a","time":1.25,"values":{"ph":1}},
    {"sensor":"a","time":-0.5,"values":{"ph":1}},
    {"sensor":"a","time":1764237600123.5,"values":{"ph":1}},
    {"sensor":"a","time":null,"values":{"ph":1}},
    {"sensor":"a","values":{"ph":1}}
  ])");
  ASSERT_EQ(d.outcome.accepted, 8u) << d.errors[0].reason;
  EXPECT_EQ(d.batch.time_ns(0), ParseRfc3339("2026-11-27T10:00:00.5Z").value());
  EXPECT_EQ(d.batch.time_ns(1), 1'500'000'000);
  EXPECT_EQ(d.batch.time_ns(2), -1'500'000'000);
  EXPECT_EQ(d.batch.time_ns(3), 1'250'000);
  EXPECT_EQ(d.batch.time_ns(4), -500'000);
  EXPECT_EQ(d.batch.time_ns(5), 1764237600123500000);
  EXPECT_EQ(d.batch.time_ns(6), kDefaultTime);
  EXPECT_EQ(d.batch.time_ns(7), kDefaultTime);
}

TEST(Json, RejectsBadTime) {
  DecodeError e = OneError(R"("sensor":"a","time":"2026-02-30T00:00:00Z","values":{"ph":1})");
  EXPECT_EQ(e.field, "time");
  EXPECT_NE(e.reason.find("invalid RFC 3339 time"), std::string::npos) << e.reason;
  EXPECT_NE(e.reason.find("day 30"), std::string::npos) << e.reason;
  e = OneError(R"("sensor":"a","time":true,"values":{"ph":1})");
  EXPECT_EQ(e.field, "time");
  EXPECT_EQ(e.reason, "\"time\" is a boolean; expected an RFC 3339 string or epoch milliseconds");
  e = OneError(R"("sensor":"a","time":9223372036855,"values":{"ph":1})");
  EXPECT_EQ(e.field, "time");
  EXPECT_EQ(e.reason, "epoch milliseconds 9223372036855 out of range");
  EXPECT_EQ(OneError(R"("sensor":"a","time":18446744073709551615,"values":{"ph":1})").field,
            "time");
  EXPECT_EQ(OneError(R"("sensor":"a","time":1e300,"values":{"ph":1})").field, "time");
  EXPECT_EQ(OneError(R"("sensor":"a","time":-9.3e12,"values":{"ph":1})").field, "time");
  EXPECT_EQ(OneError(R"("sensor":"a","time":[1],"values":{"ph":1})").field, "time");
}

TEST(Json, RequiresValidSensor) {
  DecodeError e = OneError(R"("values":{"ph":1})");
  EXPECT_EQ(e.field, "sensor");
  EXPECT_EQ(e.reason, "missing \"sensor\"");
  e = OneError(R"("sensor":12,"values":{"ph":1})");
  EXPECT_EQ(e.field, "sensor");
  EXPECT_EQ(e.reason, "\"sensor\" is a number, not a string");
  e = OneError(R"("sensor":"a b","values":{"ph":1})");
  EXPECT_EQ(e.field, "sensor");
  EXPECT_EQ(e.reason, "sensor id \"a b\" has a character outside letters, digits and _ - . :");
  EXPECT_EQ(OneError(R"("sensor":"","values":{"ph":1})").reason, "sensor id \"\" is empty");
}

TEST(Json, KeepsSiteAndZoneStrings) {
  Decoded d = Decode(R"({"sensor":"a","site":"Plant 1","zone":null,"values":{"ph":1}})");
  ASSERT_EQ(d.outcome.accepted, 1u);
  EXPECT_EQ(d.batch.site(0), "Plant 1");
  EXPECT_EQ(d.batch.zone(0), "");
  DecodeError e = OneError(R"("sensor":"a","site":5,"values":{"ph":1})");
  EXPECT_EQ(e.field, "site");
  EXPECT_EQ(e.reason, "\"site\" is a number, not a string");
  EXPECT_EQ(OneError(R"("sensor":"a","zone":{},"values":{"ph":1})").field, "zone");
}

TEST(Json, RejectsDuplicateReadingKeys) {
  DecodeError e = OneError(R"("sensor":"a","sensor":"b","values":{"ph":1})");
  EXPECT_EQ(e.field, "sensor");
  EXPECT_EQ(e.reason, "duplicate key \"sensor\"");
}

TEST(Json, ConvertsValueTypes) {
  Decoded d = Decode(
      R"({"sensor":"a","values":{"ph":7,"orp_mv":-3.5,"big":18446744073709551615,
          "pump_on":true,"valve_open":false,"temperature_c":null}})");
  ASSERT_EQ(d.outcome.accepted, 1u) << d.errors[0].reason;
  ASSERT_EQ(d.batch.field_end(0), 5u);  // null is skipped
  EXPECT_DOUBLE_EQ(d.batch.field_value(0), 7);
  EXPECT_DOUBLE_EQ(d.batch.field_value(1), -3.5);
  EXPECT_EQ(d.batch.field_name(2), "big");
  EXPECT_DOUBLE_EQ(d.batch.field_value(2), 18446744073709551615.0);
  EXPECT_EQ(d.batch.field_name(3), "pump_on");
  EXPECT_EQ(d.batch.field_value(3), 1.0);
  EXPECT_EQ(d.batch.field_value(4), 0.0);
}

TEST(Json, RejectsNonNumericValues) {
  DecodeError e = OneError(R"("sensor":"a","values":{"ph":"7.2"})");
  EXPECT_EQ(e.field, "ph");
  EXPECT_EQ(e.reason, "value of \"ph\" is a string, not a number");
  EXPECT_EQ(OneError(R"("sensor":"a","values":{"ph":7,"x":[1]})").reason,
            "value of \"x\" is an array, not a number");
  EXPECT_EQ(OneError(R"("sensor":"a","values":{"x":{"y":1}})").reason,
            "value of \"x\" is an object, not a number");
}

TEST(Json, RequiresAtLeastOneNumericValue) {
  DecodeError e = OneError(R"("sensor":"a","values":{"ph":null,"orp_mv":null})");
  EXPECT_EQ(e.field, "values");
  EXPECT_EQ(e.reason, "no numeric value");
  EXPECT_EQ(OneError(R"("sensor":"a","values":{})").reason, "no numeric value");
  e = OneError(R"("sensor":"a")");
  EXPECT_EQ(e.field, "values");
  EXPECT_EQ(e.reason, "missing \"values\"");
  EXPECT_EQ(OneError(R"("sensor":"a","values":[7])").reason,
            "\"values\" is an array, not an object");
}

TEST(Json, ValidatesCustomFieldNamesAndDuplicates) {
  Decoded d = Decode(R"({"sensor":"a","values":{"chlorophyll_ug_l":3.5}})");
  ASSERT_EQ(d.outcome.accepted, 1u);
  EXPECT_EQ(d.batch.field_param(0), ParameterId::kCustom);
  EXPECT_EQ(d.batch.field_name(0), "chlorophyll_ug_l");
  DecodeError e = OneError(R"("sensor":"a","values":{"ph":7,"bad name":1})");
  EXPECT_EQ(e.field, "bad name");
  EXPECT_EQ(e.reason,
            "field name \"bad name\" has a character outside letters, digits and _ - . :");
  EXPECT_EQ(OneError(R"("sensor":"a","values":{"ph":7,"ph":8})").reason, "duplicate field \"ph\"");
  EXPECT_EQ(OneError(R"("sensor":"a","values":{"x":7,"y":1,"x":8})").reason,
            "duplicate field \"x\"");
  // Escapes are decoded before the name is judged.
  Decoded esc = Decode(R"({"sensor":"a","values":{"p\u0068":7}})");
  ASSERT_EQ(esc.outcome.accepted, 1u);
  EXPECT_EQ(esc.batch.field_param(0), ParameterId::kPh);
}

TEST(Json, ReportsLineWhereTheReadingStarts) {
  Decoded d = Decode(
      "{\"note\": \"a [tricky] {string}\\\" with ] brackets\",\n"                      // 1
      " \"readings\": [\n"                                                             // 2
      "  {\"sensor\": \"ok1\", \"values\": {\"ph\": 7}},\n"                            // 3
      "  {\"sensor\": \"bad one\",\n"                                                  // 4
      "   \"values\": {\"ph\": 7}},\n"                                                 // 5
      "  {\"sensor\": \"ok2\", \"values\": {\"ph\": [\"]\"]}}, {\"sensor\": \"x\",\n"  // 6
      "   \"values\": {}},\n"                                                          // 7
      "\n"                                                                             // 8
      "  {\"sensor\": \"ok3\", \"values\": {\"ph\": 7}}, 5\n"                          // 9
      "]}\n");
  EXPECT_EQ(d.outcome.accepted, 2u);
  EXPECT_EQ(d.outcome.rejected, 4u);
  ASSERT_EQ(d.errors.size(), 4u);
  EXPECT_EQ(d.errors[0].line, 4u);
  EXPECT_EQ(d.errors[0].field, "sensor");
  EXPECT_EQ(d.errors[1].line, 6u);
  EXPECT_EQ(d.errors[1].field, "ph");
  EXPECT_EQ(d.errors[2].line, 6u);
  EXPECT_EQ(d.errors[2].reason, "no numeric value");
  EXPECT_EQ(d.errors[3].line, 9u);
  EXPECT_EQ(d.errors[3].reason, "reading is a number, not an object");
  EXPECT_EQ(d.batch.sensor(1), "ok3");
}

TEST(Json, ReportsLineOfSingleReadingAndTopLevelArray) {
  Decoded d = Decode("\n\n  {\"sensor\": \"a\"}");
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].line, 3u);
  d = Decode("[\n{\"sensor\":\"a\",\"values\":{\"ph\":1}},\n\n{\"values\":{\"ph\":1}}]");
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].line, 4u);
}

TEST(Json, RejectsWholeMalformedDocumentAndKeepsBatch) {
  ReadingBatch batch;
  batch.BeginReading("before", 1);
  batch.AddField(ParameterId::kPh, 7);
  std::vector<DecodeError> errors;
  // The syntax error is after two good readings, inside a key we would ignore.
  DecodeOutcome o = DecodeJson(
      R"({"readings":[{"sensor":"a","values":{"ph":1}},{"sensor":"b","values":{"ph":2}}],
          "ignored": [1,,2]})",
      {}, batch, errors);
  EXPECT_EQ(o.accepted, 0u);
  EXPECT_EQ(o.rejected, 1u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 0u);
  EXPECT_EQ(errors[0].field, "");
  EXPECT_EQ(errors[0].reason.rfind("invalid JSON: ", 0), 0u) << errors[0].reason;
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.sensor(0), "before");
  EXPECT_EQ(batch.field_count(), 1u);
}

TEST(Json, RejectsVariousNonJson) {
  for (std::string_view t : {"", "   ", "sensor=a ph=7", "{\"sensor\":\"a\",}", "[1,2",
                             "{\"a\":1} {\"b\":2}", "{\"a\":NaN}", "{\"a\":1e999}", "\"\xff\""}) {
    Decoded d = Decode(t);
    EXPECT_EQ(d.outcome.accepted, 0u) << t;
    EXPECT_EQ(d.outcome.rejected, 1u) << t;
    ASSERT_EQ(d.errors.size(), 1u) << t;
    EXPECT_EQ(d.errors[0].line, 0u) << t;
    EXPECT_EQ(d.errors[0].reason.rfind("invalid JSON: ", 0), 0u) << t << d.errors[0].reason;
  }
}

TEST(Json, RejectsDocumentsOfTheWrongShape) {
  Decoded d = Decode("\n{\"readings\": {\"sensor\":\"a\"}}");
  EXPECT_EQ(d.outcome.rejected, 1u);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].line, 2u);
  EXPECT_EQ(d.errors[0].field, "readings");
  EXPECT_EQ(d.errors[0].reason, "\"readings\" is an object, not an array");
  d = Decode("42");
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].reason, "document is a number; expected an object or an array of readings");
  d = Decode(R"({"readings":[],"readings":[]})");
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].reason, "duplicate key \"readings\"");
}

TEST(Json, RejectedReadingLeavesBatchUntouched) {
  ReadingBatch batch;
  std::vector<DecodeError> errors;
  DecodeOutcome o = DecodeJson(
      R"([{"sensor":"a","site":"s1","values":{"ph":1,"custom_a":2}},
          {"sensor":"b","site":"s2","values":{"custom_b":1,"ph":2,"bad":"x"}},
          {"sensor":"c","values":{"custom_c":3}}])",
      {}, batch, errors);
  EXPECT_EQ(o.accepted, 2u);
  EXPECT_EQ(o.rejected, 1u);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.sensor(1), "c");
  EXPECT_EQ(batch.site(1), "");
  EXPECT_EQ(batch.field_count(), 3u);
  EXPECT_EQ(batch.field_name(1), "custom_a");
  EXPECT_EQ(batch.field_name(2), "custom_c");
}

TEST(Json, CapsReportedErrorsButCountsAll) {
  std::string doc = "[";
  for (int i = 0; i < 150; ++i) doc += "{\"sensor\":\"a\",\"values\":{}},\n";
  doc += "{\"sensor\":\"a\",\"values\":{\"ph\":1}}]";
  std::vector<DecodeError> errors;
  ReadingBatch batch;
  DecodeOutcome o = DecodeJson(doc, {}, batch, errors);
  EXPECT_EQ(o.rejected, 150u);
  EXPECT_EQ(o.accepted, 1u);
  ASSERT_EQ(errors.size(), kMaxReportedErrors);
  EXPECT_EQ(errors[0].line, 1u);
  EXPECT_EQ(errors[99].line, 100u);
}

TEST(Json, DecodesLargeDocumentTwiceOnOneThread) {
  // Exercises the per-thread buffers growing past and releasing their keep limit.
  std::string doc = "[";
  for (int i = 0; i < 80000; ++i) doc += "{\"sensor\":\"s1\",\"values\":{\"ph\":7.25}},";
  doc += "{\"sensor\":\"s1\",\"values\":{\"ph\":7.25}}]";
  for (int round = 0; round < 2; ++round) {
    Decoded d = Decode(doc);
    EXPECT_EQ(d.outcome.accepted, 80001u);
  }
  EXPECT_EQ(Decode(R"({"sensor":"a","values":{"ph":7}})").outcome.accepted, 1u);
}

}  // namespace
}  // namespace aquawatch

namespace aquawatch {
namespace {

TEST(JsonDecoder, RejectsOverlongZone) {
  std::string zone(129, 'z');
  Decoded d = Decode(R"([{"sensor":"a","zone":")" + zone +
                     R"(","values":{"ph":7}},)"
                     "\n" +
                     R"({"sensor":"b","values":{"ph":7}}])");
  EXPECT_EQ(d.outcome.accepted, 1u);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].field, "zone");
}

}  // namespace
}  // namespace aquawatch
