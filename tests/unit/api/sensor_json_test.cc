#include "api/sensor_json.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace aquawatch {
namespace {

namespace json = boost::json;

// Expects the body to be rejected with InvalidArgument and a message containing `needle`.
void ExpectRejected(std::string_view body, std::string_view needle) {
  auto r = ParseSensorUpdate(body);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << body;
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << body << " -> " << r.status().message();
}

TEST(SensorJson, ParsesEveryWritableField) {
  auto r = ParseSensorUpdate(R"({"name": "Inlet \"A\"", "site": "plant", "zone": "inlet",
      "latitude": 51.5, "longitude": -1, "profile": "groundwater", "status": "maintenance",
      "parameters": ["turbidity_ntu", "ph"]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "Inlet \"A\"");
  EXPECT_EQ(r->site, "plant");
  EXPECT_EQ(r->zone, "inlet");
  ASSERT_TRUE(r->latitude.has_value());
  EXPECT_EQ(*r->latitude, 51.5);
  ASSERT_TRUE(r->longitude.has_value());
  EXPECT_EQ(*r->longitude, -1.0);  // integers are numbers too
  EXPECT_EQ(r->profile, "groundwater");
  EXPECT_EQ(r->status, "maintenance");
  EXPECT_EQ(r->parameters, (std::vector<std::string>{"turbidity_ntu", "ph"}));
}

TEST(SensorJson, AbsentFieldsStayAbsentAndNullClears) {
  auto empty = ParseSensorUpdate("{}");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->name || empty->site || empty->zone || empty->latitude || empty->longitude ||
               empty->profile || empty->status || empty->parameters);

  auto r = ParseSensorUpdate(
      R"({"site": null, "zone": "", "profile": null, "latitude": null, "name": null})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->site, "");
  EXPECT_EQ(r->zone, "");
  EXPECT_EQ(r->profile, "");
  EXPECT_EQ(r->name, "");
  ASSERT_TRUE(r->latitude.has_value());    // present...
  EXPECT_FALSE(r->latitude->has_value());  // ...and cleared
  EXPECT_FALSE(r->longitude.has_value());
  EXPECT_FALSE(r->status.has_value());

  // Boost.JSON keeps the last of duplicate keys.
  auto dup = ParseSensorUpdate(R"({"name": "a", "name": "b"})");
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->name, "b");

  auto none = ParseSensorUpdate(R"({"parameters": []})");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->parameters, std::vector<std::string>{});
}

TEST(SensorJson, RejectsBodiesThatAreNotObjects) {
  ExpectRejected("", "not valid JSON");
  ExpectRejected("{\"name\": ", "not valid JSON");
  ExpectRejected("{} {}", "not valid JSON");
  ExpectRejected("[]", "body must be a JSON object");
  ExpectRejected("\"name\"", "body must be a JSON object");
  ExpectRejected("null", "body must be a JSON object");
}

TEST(SensorJson, RejectsUnknownAndReadOnlyFieldsByName) {
  ExpectRejected(R"({"name": "x", "colour": "blue"})", "unknown field 'colour'");
  ExpectRejected(R"({"Name": "x"})", "unknown field 'Name'");
  ExpectRejected(R"({"id": "s1"})", "field 'id': is read-only");
  ExpectRejected(R"({"first_seen": null})", "field 'first_seen': is read-only");
  ExpectRejected(R"({"last_seen": "2026-11-27T10:00:00.000Z"})", "field 'last_seen': is read-only");
  const std::string long_key(500, 'k');
  auto r = ParseSensorUpdate("{\"" + long_key + "\": 1}");
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 200u);  // the key is shortened in the message
}

TEST(SensorJson, RejectsWrongTypes) {
  for (const char* field : {"name", "site", "zone", "profile"}) {
    for (const char* value : {"1", "true", "[]", "{}"}) {
      ExpectRejected(fmt::format(R"({{"{}": {}}})", field, value),
                     fmt::format("field '{}': must be a string or null", field));
    }
  }
  ExpectRejected(R"({"latitude": "51.5"})",
                 "field 'latitude': must be a number between -90 and 90");
  ExpectRejected(R"({"latitude": true})", "field 'latitude': must be a number between -90 and 90");
  ExpectRejected(R"({"longitude": [1]})",
                 "field 'longitude': must be a number between -180 and 180");
  ExpectRejected(R"({"status": null})", "field 'status': must be one of active, maintenance");
  ExpectRejected(R"({"status": 1})", "field 'status'");
  ExpectRejected(R"({"parameters": "ph"})", "field 'parameters': must be an array");
  ExpectRejected(R"({"parameters": null})", "field 'parameters': must be an array");
  ExpectRejected(R"({"parameters": ["ph", 7]})", "field 'parameters[1]': must be a string");
}

TEST(SensorJson, RejectsBadValues) {
  ExpectRejected(R"({"latitude": 90.5})", "field 'latitude': must be a number between -90 and 90");
  ExpectRejected(R"({"latitude": -1e300})", "field 'latitude'");
  ExpectRejected(R"({"longitude": 181})",
                 "field 'longitude': must be a number between -180 and 180");
  ExpectRejected(R"({"longitude": 18446744073709551615})", "field 'longitude'");
  ExpectRejected(R"({"status": "broken"})", "field 'status': must be one of");
  ExpectRejected(R"({"parameters": ["ph", "free chlorine"]})", "field 'parameters'");
  ExpectRejected(R"({"parameters": [""]})", "field 'parameters'");
  ExpectRejected(fmt::format(R"({{"site": "{}"}})", std::string(129, 's')), "field 'site'");
  ExpectRejected(fmt::format(R"({{"name": "{}"}})", std::string(kMaxSensorNameBytes + 1, 'n')),
                 "field 'name'");
  EXPECT_TRUE(ParseSensorUpdate(R"({"latitude": -90, "longitude": 180})").ok());
}

TEST(SensorJson, WritesARecord) {
  SensorRecord r;
  r.id = "plant-1";
  r.name = "Inlet \"A\"\n";
  r.site = "north";
  r.zone = "";
  r.latitude = 51.5;
  r.profile = "groundwater";
  r.status = "active";
  r.parameters = {"ph", "turbidity_ntu"};
  r.first_seen_ns = 1'764'237'600'000'000'000;
  r.last_seen_ns = 1'764'237'600'123'456'789;
  std::string out;
  AppendSensorJson(out, r);
  EXPECT_EQ(out,
            R"({"id":"plant-1","name":"Inlet \"A\"\n","site":"north","zone":"","latitude":51.5,)"
            R"("longitude":null,"profile":"groundwater","status":"active",)"
            R"("parameters":["ph","turbidity_ntu"],"first_seen":"2025-11-27T10:00:00.000Z",)"
            R"("last_seen":"2025-11-27T10:00:00.123Z"})");

  SensorRecord never;
  never.id = "new";
  never.status = "active";
  out.clear();
  AppendSensorJson(out, never);
  json::value v = json::parse(out);
  EXPECT_TRUE(v.at("first_seen").is_null());
  EXPECT_TRUE(v.at("last_seen").is_null());
  EXPECT_TRUE(v.at("latitude").is_null());
  EXPECT_TRUE(v.at("parameters").as_array().empty());
}

// Body -> ParseSensorUpdate -> PutSensor -> AppendSensorJson -> the same values.
TEST(SensorJson, RoundTripsThroughTheCatalog) {
  auto catalog = Catalog::Open(":memory:");
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  const std::string body = R"({"name": "Zürich \\ \"intake\"", "site": "lake", "zone": "z-1",
      "latitude": -33.8688, "longitude": 151.2093, "profile": "raw_surface_water",
      "status": "retired", "parameters": ["temperature_c", "ph", "ph"]})";
  auto u = ParseSensorUpdate(body);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  auto rec = (*catalog)->PutSensor("intake:7", *u, 1);
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  ASSERT_TRUE((*catalog)->RecordSightings({{"intake:7", "", "", {"orp_mv"}, 1'000'000}}).ok());
  auto got = (*catalog)->GetSensor("intake:7");
  ASSERT_TRUE(got.ok() && got->has_value());

  std::string out;
  AppendSensorJson(out, **got);
  json::value in = json::parse(body), back = json::parse(out);
  for (const char* field : {"name", "site", "zone", "latitude", "longitude", "profile", "status"}) {
    EXPECT_EQ(back.at(field), in.at(field)) << field << ": " << out;
  }
  EXPECT_EQ(back.at("id"), "intake:7");
  EXPECT_EQ(back.at("parameters"), json::parse(R"(["orp_mv","ph","temperature_c"])"));
  EXPECT_EQ(back.at("first_seen"), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(back.at("last_seen"), "1970-01-01T00:00:00.001Z");

  // What came out parses back as an update once the read-only fields are removed.
  json::object writable = back.as_object();
  for (const char* field : {"id", "first_seen", "last_seen"}) writable.erase(field);
  auto again = ParseSensorUpdate(json::serialize(writable));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto same = (*catalog)->PutSensor("intake:7", *again, 2);
  ASSERT_TRUE(same.ok());
  SensorRecord before = **got;
  before.updated_ns = 2;
  EXPECT_EQ(*same, before);
}

}  // namespace
}  // namespace aquawatch
