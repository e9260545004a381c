#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "store/catalog/catalog.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

using ::aquawatch::testing::TempDir;

std::unique_ptr<Catalog> MustOpen(const std::string& path) {
  auto c = Catalog::Open(path);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

SensorRecord MustGet(const Catalog& c, std::string_view id) {
  auto r = c.GetSensor(id);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok() || !r->has_value()) {
    ADD_FAILURE() << "no sensor " << id;
    return {};
  }
  return **r;
}

SensorSighting Sighting(std::string id, std::int64_t t, std::vector<std::string> params = {},
                        std::string site = {}, std::string zone = {}) {
  return {std::move(id), std::move(site), std::move(zone), std::move(params), t};
}

// Rows of a query run straight against the file, columns joined with '|' (NULL as "NULL"): the
// catalog has no API for sites and zones yet, and some tests damage the file on purpose.
std::vector<std::string> Query(const std::string& path, const std::string& sql) {
  std::vector<std::string> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << path;
    sqlite3_close(db);
    return rows;
  }
  char* error = nullptr;
  auto callback = [](void* out, int n, char** values, char**) {
    std::string row;
    for (int i = 0; i < n; ++i) {
      if (i > 0) row += '|';
      row += values[i] != nullptr ? values[i] : "NULL";
    }
    static_cast<std::vector<std::string>*>(out)->push_back(row);
    return 0;
  };
  if (sqlite3_exec(db, sql.c_str(), callback, &rows, &error) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << (error != nullptr ? error : "?");
  }
  sqlite3_free(error);
  sqlite3_close(db);
  return rows;
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    path_ = dir_.path() + "/catalog.db";
    catalog_ = MustOpen(path_);
    ASSERT_NE(catalog_, nullptr);
  }
  Catalog& c() { return *catalog_; }

  // Expects PutSensor to fail with InvalidArgument naming `field`, and to change nothing.
  void ExpectPutRejected(std::string_view id, const SensorUpdate& u, std::string_view field) {
    auto r = c().PutSensor(id, u, 1);
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_NE(r.status().message().find("field '" + std::string(field) + "'"), std::string::npos)
        << r.status().message();
    auto got = c().GetSensor(id);
    ASSERT_TRUE(got.ok());
    EXPECT_FALSE(got->has_value()) << "a rejected PUT created " << id;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogTest, CreatesSchemaSeedsProfilesAndUsesWal) {
  auto profiles = c().ListProfiles();
  ASSERT_TRUE(profiles.ok());
  EXPECT_EQ(*profiles,
            (std::vector<std::string>{"distribution_network", "groundwater", "raw_surface_water",
                                      "treated_drinking_water", "wastewater_effluent"}));
  EXPECT_EQ(Query(path_, "SELECT value FROM meta WHERE key = 'schema_version'"),
            std::vector<std::string>{"2"});
  EXPECT_EQ(
      Query(path_, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
      (std::vector<std::string>{"meta", "profile_rules", "profiles", "sensors", "sites", "zones"}));
  EXPECT_EQ(Query(path_, "PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  for (const std::string& row : Query(path_, "SELECT description FROM profiles")) {
    EXPECT_FALSE(row.empty());
    EXPECT_EQ(row.find('\n'), std::string::npos);
  }
  auto none = c().GetSensor("nobody");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(CatalogTest, InMemoryCatalogWorks) {
  auto mem = MustOpen(":memory:");
  ASSERT_NE(mem, nullptr);
  ASSERT_TRUE(mem->RecordSightings({Sighting("s1", 5, {"ph"})}).ok());
  EXPECT_EQ(MustGet(*mem, "s1").parameters, std::vector<std::string>{"ph"});
}

TEST_F(CatalogTest, SightingInsertsUnknownSensor) {
  ASSERT_TRUE(
      c().RecordSightings({Sighting("plant-1", 1000, {"turbidity_ntu", "ph"}, "north", "z1")})
          .ok());
  SensorRecord r = MustGet(c(), "plant-1");
  EXPECT_EQ(r.id, "plant-1");
  EXPECT_EQ(r.name, "");
  EXPECT_EQ(r.site, "north");
  EXPECT_EQ(r.zone, "z1");
  EXPECT_EQ(r.profile, "");
  EXPECT_EQ(r.status, "active");
  EXPECT_FALSE(r.latitude.has_value());
  EXPECT_FALSE(r.longitude.has_value());
  EXPECT_EQ(r.parameters, (std::vector<std::string>{"ph", "turbidity_ntu"}));
  EXPECT_EQ(r.first_seen_ns, 1000);
  EXPECT_EQ(r.last_seen_ns, 1000);
  EXPECT_EQ(r.updated_ns, 0);
}

TEST_F(CatalogTest, SightingsCreateSitesAndZones) {
  ASSERT_TRUE(c().RecordSightings({Sighting("a", 1, {}, "north", "z1"),
                                   Sighting("b", 1, {}, "", "z2"),  // zone without a site
                                   Sighting("c", 1, {}, "south", "")})
                  .ok());
  EXPECT_EQ(Query(path_, "SELECT id, name, latitude FROM sites ORDER BY id"),
            (std::vector<std::string>{"north|north|NULL", "south|south|NULL"}));
  EXPECT_EQ(Query(path_, "SELECT id, name, site FROM zones ORDER BY id"),
            (std::vector<std::string>{"z1|z1|north", "z2|z2|NULL"}));
  // A zone offered without a site takes one offered later in the same call.
  ASSERT_TRUE(
      c().RecordSightings({Sighting("f", 1, {}, "", "z3"), Sighting("g", 1, {}, "up", "z3")}).ok());
  EXPECT_EQ(Query(path_, "SELECT site FROM zones WHERE id = 'z3'"), std::vector<std::string>{"up"});
  // A zone gets the first site named with it, and keeps it.
  ASSERT_TRUE(c().RecordSightings({Sighting("d", 2, {}, "east", "z2")}).ok());
  ASSERT_TRUE(c().RecordSightings({Sighting("e", 3, {}, "west", "z2")}).ok());
  EXPECT_EQ(Query(path_, "SELECT site FROM zones WHERE id = 'z2'"),
            std::vector<std::string>{"east"});
}

TEST_F(CatalogTest, LastSeenOnlyRisesFirstSeenOnlyFalls) {
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 100)}).ok());
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 50)}).ok());  // late reading
  SensorRecord r = MustGet(c(), "s");
  EXPECT_EQ(r.last_seen_ns, 100);
  EXPECT_EQ(r.first_seen_ns, 50);
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 200), Sighting("s", 150)}).ok());
  r = MustGet(c(), "s");
  EXPECT_EQ(r.first_seen_ns, 50);
  EXPECT_EQ(r.last_seen_ns, 200);
}

TEST_F(CatalogTest, SiteAndZoneFromReadingsNeverOverwriteStoredOnes) {
  // Set by PUT: readings do not change it.
  SensorUpdate u;
  u.site = "plant";
  ASSERT_TRUE(c().PutSensor("s", u, 7).ok());
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 10, {}, "elsewhere", "z9")}).ok());
  SensorRecord r = MustGet(c(), "s");
  EXPECT_EQ(r.site, "plant");
  EXPECT_EQ(r.zone, "z9");  // was empty: the reading fills it
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 11, {}, "", "z10")}).ok());
  EXPECT_EQ(MustGet(c(), "s").zone, "z9");

  // An empty site in a reading is "not said", not "cleared".
  ASSERT_TRUE(c().RecordSightings({Sighting("t", 1, {}, "north", "")}).ok());
  ASSERT_TRUE(c().RecordSightings({Sighting("t", 2, {}, "", "")}).ok());
  EXPECT_EQ(MustGet(c(), "t").site, "north");

  // Within one call the first non-empty value offered wins.
  ASSERT_TRUE(c().RecordSightings({Sighting("v", 1, {}, "", ""), Sighting("v", 2, {}, "first", ""),
                                   Sighting("v", 3, {}, "second", "")})
                  .ok());
  EXPECT_EQ(MustGet(c(), "v").site, "first");

  // A PUT that clears the site lets readings fill it again.
  u.site = "";
  ASSERT_TRUE(c().PutSensor("s", u, 8).ok());
  EXPECT_EQ(MustGet(c(), "s").site, "");
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 12, {}, "elsewhere", "")}).ok());
  EXPECT_EQ(MustGet(c(), "s").site, "elsewhere");
}

TEST_F(CatalogTest, ParametersAreASortedUnion) {
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 1, {"ph"}),
                                   Sighting("s", 2, {"turbidity_ntu", "ph", "ph"}),
                                   Sighting("other", 2, {"toc_mg_l"})})
                  .ok());
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 3, {"orp_mv"})}).ok());
  EXPECT_EQ(MustGet(c(), "s").parameters,
            (std::vector<std::string>{"orp_mv", "ph", "turbidity_ntu"}));
  EXPECT_EQ(MustGet(c(), "other").parameters, std::vector<std::string>{"toc_mg_l"});
  EXPECT_EQ(Query(path_, "SELECT parameters FROM sensors WHERE id = 's'"),
            std::vector<std::string>{R"(["orp_mv","ph","turbidity_ntu"])"});
  // A sighting with fewer parameters removes none.
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 4, {"ph"}), Sighting("s", 5, {})}).ok());
  EXPECT_EQ(MustGet(c(), "s").parameters,
            (std::vector<std::string>{"orp_mv", "ph", "turbidity_ntu"}));

  // PUT replaces the set; readings add to it again.
  SensorUpdate u;
  u.parameters = std::vector<std::string>{"temperature_c", "ph", "temperature_c"};
  auto put = c().PutSensor("s", u, 5);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->parameters, (std::vector<std::string>{"ph", "temperature_c"}));
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 4, {"free_chlorine_mg_l"})}).ok());
  EXPECT_EQ(MustGet(c(), "s").parameters,
            (std::vector<std::string>{"free_chlorine_mg_l", "ph", "temperature_c"}));
}

TEST_F(CatalogTest, InvalidSightingWritesNothing) {
  std::vector<SensorSighting> batch = {Sighting("good", 1, {"ph"}), Sighting("bad id", 2)};
  Status s = c().RecordSightings(batch);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("sighting 1"), std::string::npos) << s.message();
  EXPECT_FALSE(c().GetSensor("good")->has_value());

  s = c().RecordSightings({Sighting("good", 1, {"p h"})});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("parameter"), std::string::npos) << s.message();
  s = c().RecordSightings({Sighting("good", 1, {}, std::string(129, 's'))});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("site"), std::string::npos) << s.message();
  s = c().RecordSightings({Sighting("", 1)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(c().GetSensor("good")->has_value());
  EXPECT_TRUE(c().RecordSightings({}).ok());
}

TEST_F(CatalogTest, PutCreatesANeverSeenSensor) {
  SensorUpdate u;
  u.name = "Inlet turbidity";
  u.site = "plant";
  u.zone = "inlet";
  u.latitude = 51.5;
  u.longitude = -0.12;
  u.profile = "treated_drinking_water";
  u.status = "maintenance";
  u.parameters = std::vector<std::string>{"turbidity_ntu"};
  auto r = c().PutSensor("inlet-1", u, 1'764'237'600'000'000'000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "inlet-1");
  EXPECT_EQ(r->name, "Inlet turbidity");
  EXPECT_EQ(r->site, "plant");
  EXPECT_EQ(r->zone, "inlet");
  EXPECT_EQ(r->latitude, 51.5);
  EXPECT_EQ(r->longitude, -0.12);
  EXPECT_EQ(r->profile, "treated_drinking_water");
  EXPECT_EQ(r->status, "maintenance");
  EXPECT_EQ(r->parameters, std::vector<std::string>{"turbidity_ntu"});
  EXPECT_EQ(r->first_seen_ns, 0);  // never seen
  EXPECT_EQ(r->last_seen_ns, 0);
  EXPECT_EQ(r->updated_ns, 1'764'237'600'000'000'000);
  EXPECT_EQ(MustGet(c(), "inlet-1"), *r);
  EXPECT_EQ(Query(path_, "SELECT first_seen_ns, last_seen_ns FROM sensors"),
            std::vector<std::string>{"NULL|NULL"});
  EXPECT_EQ(Query(path_, "SELECT site FROM zones WHERE id = 'inlet'"),
            std::vector<std::string>{"plant"});

  // Its first reading sets both times.
  ASSERT_TRUE(c().RecordSightings({Sighting("inlet-1", 42)}).ok());
  SensorRecord seen = MustGet(c(), "inlet-1");
  EXPECT_EQ(seen.first_seen_ns, 42);
  EXPECT_EQ(seen.last_seen_ns, 42);
  EXPECT_EQ(seen.status, "maintenance");
}

TEST_F(CatalogTest, PutAppliesOnlyPresentFields) {
  SensorUpdate all;
  all.name = "n";
  all.site = "s";
  all.zone = "z";
  all.latitude = 10;
  all.longitude = 20;
  all.profile = "groundwater";
  ASSERT_TRUE(c().PutSensor("x", all, 1).ok());
  ASSERT_TRUE(c().RecordSightings({Sighting("x", 5, {"ph"})}).ok());

  SensorUpdate some;
  some.status = "retired";
  some.latitude.emplace();  // clear
  auto r = c().PutSensor("x", some, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "n");
  EXPECT_EQ(r->site, "s");
  EXPECT_EQ(r->zone, "z");
  EXPECT_FALSE(r->latitude.has_value());
  EXPECT_EQ(r->longitude, 20);
  EXPECT_EQ(r->profile, "groundwater");
  EXPECT_EQ(r->status, "retired");
  EXPECT_EQ(r->parameters, std::vector<std::string>{"ph"});
  EXPECT_EQ(r->first_seen_ns, 5);
  EXPECT_EQ(r->updated_ns, 2);

  SensorUpdate clear;
  clear.profile = "";
  clear.zone = "";
  r = c().PutSensor("x", clear, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->profile, "");
  EXPECT_EQ(r->zone, "");

  // An empty update still creates the sensor.
  r = c().PutSensor("empty", SensorUpdate{}, 4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, "active");
}

TEST_F(CatalogTest, PutRejectsEachBadField) {
  ExpectPutRejected("bad id", {}, "id");
  ExpectPutRejected("", {}, "id");
  ExpectPutRejected(std::string(129, 'a'), {}, "id");

  SensorUpdate u;
  u.name = std::string(kMaxSensorNameBytes + 1, 'n');
  ExpectPutRejected("s", u, "name");
  u = {};
  u.site = std::string(129, 's');
  ExpectPutRejected("s", u, "site");
  u = {};
  u.zone = std::string(129, 'z');
  ExpectPutRejected("s", u, "zone");
  for (double lat : {90.0001, -91.0, std::nan(""), HUGE_VAL}) {
    u = {};
    u.latitude = lat;
    ExpectPutRejected("s", u, "latitude");
  }
  for (double lon : {180.5, -180.0001, std::nan("")}) {
    u = {};
    u.longitude = lon;
    ExpectPutRejected("s", u, "longitude");
  }
  u = {};
  u.status = "broken";
  ExpectPutRejected("s", u, "status");
  u = {};
  u.status = "";
  ExpectPutRejected("s", u, "status");
  u = {};
  u.profile = "swimming_pool";
  ExpectPutRejected("s", u, "profile");
  u = {};
  u.parameters = std::vector<std::string>{"ph", "bad name"};
  ExpectPutRejected("s", u, "parameters");
  u = {};
  u.parameters = std::vector<std::string>(kMaxInstalledParameters + 1, "ph");
  ExpectPutRejected("s", u, "parameters");

  // The limits themselves are accepted, and either coordinate may be set alone.
  u = {};
  u.latitude = -90;
  ASSERT_TRUE(c().PutSensor("edge", u, 1).ok());
  u = {};
  u.longitude = 180;
  auto r = c().PutSensor("edge", u, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->latitude, -90);
  EXPECT_EQ(r->longitude, 180);

  // The unknown-profile error lists the known ones.
  u = {};
  u.profile = "nope";
  auto bad = c().PutSensor("edge", u, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("groundwater"), std::string::npos);
  EXPECT_EQ(MustGet(c(), "edge").profile, "");  // unchanged
}

TEST_F(CatalogTest, ListPagesInIdOrder) {
  std::vector<SensorSighting> batch;
  for (int i = 24; i >= 0; --i) {
    char id[16];
    std::snprintf(id, sizeof(id), "s%02d", i);
    batch.push_back(Sighting(
        id, i, i % 2 == 0 ? std::vector<std::string>{"ph", "orp_mv"} : std::vector<std::string>{}));
  }
  ASSERT_TRUE(c().RecordSightings(batch).ok());

  std::vector<std::string> ids;
  std::string after;
  int pages = 0;
  for (;;) {
    auto page = c().ListSensors(after, 10);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    if (page->empty()) break;
    ++pages;
    EXPECT_LE(page->size(), 10u);
    for (const SensorRecord& r : *page) {
      ids.push_back(r.id);
      EXPECT_EQ(r, MustGet(c(), r.id));  // parameters are attached to the right rows
    }
    after = page->back().id;
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(ids.size(), 25u);
  for (int i = 0; i < 25; ++i) {
    char id[16];
    std::snprintf(id, sizeof(id), "s%02d", i);
    EXPECT_EQ(ids[i], id);
  }
  EXPECT_TRUE(c().ListSensors("", 0)->empty());
  EXPECT_EQ(c().ListSensors("s23", 100)->size(), 1u);
  EXPECT_EQ(c().ListSensors("", std::numeric_limits<std::size_t>::max())->size(), 25u);
}

TEST_F(CatalogTest, ReopenKeepsEverything) {
  SensorUpdate u;
  u.name = "kept";
  u.latitude = 1.25;
  u.profile = "wastewater_effluent";
  ASSERT_TRUE(c().PutSensor("p", u, 9).ok());
  ASSERT_TRUE(c().RecordSightings({Sighting("q", 77, {"ph"}, "site", "zone")}).ok());
  SensorRecord p = MustGet(c(), "p"), q = MustGet(c(), "q");
  catalog_.reset();

  catalog_ = MustOpen(path_);
  ASSERT_NE(catalog_, nullptr);
  EXPECT_EQ(MustGet(c(), "p"), p);
  EXPECT_EQ(MustGet(c(), "q"), q);
  EXPECT_EQ(c().ListProfiles()->size(), 5u);  // seeded once
  EXPECT_EQ(Query(path_, "SELECT count(*) FROM profiles"), std::vector<std::string>{"5"});
}

TEST_F(CatalogTest, NewerSchemaVersionIsRefused) {
  catalog_.reset();
  Query(path_, "UPDATE meta SET value = '3' WHERE key = 'schema_version'");
  auto r = Catalog::Open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("schema version 3"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("upgrade aquawatch"), std::string::npos);
  EXPECT_EQ(Query(path_, "SELECT value FROM meta"), std::vector<std::string>{"3"});  // untouched

  Query(path_, "UPDATE meta SET value = 'one' WHERE key = 'schema_version'");
  r = Catalog::Open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
}

TEST(Catalog, RefusesFilesThatAreNotCatalogs) {
  TempDir dir;
  const std::string other = dir.path() + "/other.db";
  Query(other, "CREATE TABLE t (x)");
  auto r = Catalog::Open(other);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("not an aquawatch catalog"), std::string::npos);

  const std::string garbage = dir.path() + "/garbage.db";
  std::ofstream(garbage) << std::string(4096, 'x');
  r = Catalog::Open(garbage);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();

  r = Catalog::Open(dir.path() + "/missing-dir/catalog.db");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError) << r.status().ToString();
}

TEST_F(CatalogTest, ProfileRulesRoundTripAndSurviveAReopen) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<ProfileRuleRecord> rules = {
      {"groundwater", "ph", 6.2, 6.6, 8.4, 8.9, 0.1, 120},
      {"groundwater", "turbidity_ntu", -kInf, -kInf, 0.8, 4.0, 0.05, 0},
  };
  ASSERT_TRUE(c().PutProfileRules(rules).ok());
  // A second put replaces the whole rule of that profile and parameter.
  rules[0].warn_high = 8.3;
  ASSERT_TRUE(c().PutProfileRules({rules[0]}).ok());
  catalog_ = MustOpen(path_);
  auto got = c().ListProfileRules();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].parameter, "ph");
  EXPECT_EQ((*got)[0].warn_high, 8.3);
  EXPECT_EQ((*got)[0].min_duration_s, 120);
  EXPECT_EQ((*got)[1].parameter, "turbidity_ntu");
  EXPECT_EQ((*got)[1].critical_low, -kInf) << "no limit is stored as NULL and read back";
  EXPECT_EQ((*got)[1].critical_high, 4.0);
  EXPECT_EQ(Query(path_, "SELECT count(*) FROM profile_rules WHERE critical_low IS NULL"),
            std::vector<std::string>{"1"});
}

TEST_F(CatalogTest, UnknownProfileRuleWritesNothing) {
  Status s = c().PutProfileRules(
      {{"groundwater", "ph", 6, 6.5, 8.5, 9, 0.1, 0}, {"moon_base", "ph", 6, 6.5, 8.5, 9, 0.1, 0}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("moon_base"), std::string::npos);
  EXPECT_TRUE(c().ListProfileRules()->empty()) << "one transaction: all or nothing";
}

TEST_F(CatalogTest, Version1CatalogIsUpgradedInPlace) {
  catalog_.reset();
  Query(path_, "DROP TABLE profile_rules");
  Query(path_, "UPDATE meta SET value = '1' WHERE key = 'schema_version'");
  catalog_ = MustOpen(path_);
  ASSERT_NE(catalog_, nullptr);
  EXPECT_EQ(Query(path_, "SELECT value FROM meta"), std::vector<std::string>{"2"});
  EXPECT_TRUE(c().PutProfileRules({{"groundwater", "ph", 6, 6.5, 8.5, 9, 0.1, 0}}).ok());
}

TEST_F(CatalogTest, DamagedParameterListIsCorruption) {
  ASSERT_TRUE(c().RecordSightings({Sighting("s", 1, {"ph"})}).ok());
  Query(path_, "UPDATE sensors SET parameters = '[\"ph\",' WHERE id = 's'");
  auto r = c().GetSensor("s");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  EXPECT_EQ(c().ListSensors("", 10).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(c().RecordSightings({Sighting("s", 2, {"orp_mv"})}).code(), StatusCode::kCorruption);
  // Spaces, as SQLite's own JSON functions may write, are fine.
  Query(path_, "UPDATE sensors SET parameters = '[ \"orp_mv\", \"ph\" ]' WHERE id = 's'");
  EXPECT_EQ(MustGet(c(), "s").parameters, (std::vector<std::string>{"orp_mv", "ph"}));
}

TEST_F(CatalogTest, CallsFromManyThreads) {
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 50; ++i) {
        std::string id = "t" + std::to_string(t) + "-" + std::to_string(i % 5);
        EXPECT_TRUE(c().RecordSightings({Sighting(id, i, {"ph"}, "site")}).ok());
        SensorUpdate u;
        u.name = "n" + std::to_string(i);
        EXPECT_TRUE(c().PutSensor(id, u, i).ok());
        EXPECT_TRUE(c().GetSensor(id).ok());
        EXPECT_TRUE(c().ListSensors("", 10).ok());
      }
    });
  }
  for (std::thread& th : threads) th.join();
  auto all = c().ListSensors("", 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 20u);
  for (const SensorRecord& r : *all) EXPECT_EQ(r.last_seen_ns, 45 + r.id.back() - '0');
}

// 200,000 sightings in one call, three shapes. Prints rates; never asserts on time.
TEST_F(CatalogTest, LargeBatches) {
  constexpr int kSightings = 200'000;
  const std::vector<std::string> params = {"ph", "turbidity_ntu", "temperature_c"};
  auto run = [&](const char* what, int sensors, std::int64_t t0) {
    std::vector<SensorSighting> batch;
    batch.reserve(kSightings);
    for (int i = 0; i < kSightings; ++i) {
      int s = i % sensors;
      batch.push_back(Sighting("sensor-" + std::to_string(s), t0 + i, params,
                               "site-" + std::to_string(s % 50),
                               "zone-" + std::to_string(s % 500)));
    }
    auto start = std::chrono::steady_clock::now();
    Status st = c().RecordSightings(batch);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(st.ok()) << st.ToString();
    std::printf("[   info   ] %-44s %8.0f sightings/s (%.3f s)\n", what, kSightings / secs, secs);
  };
  run("200k sightings, 200k new sensors:", kSightings, 1'000'000);
  run("200k sightings, the same 200k sensors again:", kSightings, 2'000'000);
  run("200k sightings, 2,000 sensors x 100:", 2'000, 3'000'000);

  SensorRecord r = MustGet(c(), "sensor-1999");
  EXPECT_EQ(r.first_seen_ns, 1'000'000 + 1999);
  EXPECT_EQ(r.last_seen_ns, 3'000'000 + 198'000 + 1999);
  EXPECT_EQ(r.parameters, (std::vector<std::string>{"ph", "temperature_c", "turbidity_ntu"}));
  EXPECT_EQ(r.site, "site-49");
  EXPECT_EQ(r.zone, "zone-499");
  EXPECT_EQ(Query(path_, "SELECT count(*) FROM sensors"), std::vector<std::string>{"200000"});
  EXPECT_EQ(Query(path_, "SELECT count(*) FROM sites"), std::vector<std::string>{"50"});
  EXPECT_EQ(Query(path_, "SELECT count(*) FROM zones"), std::vector<std::string>{"500"});
}

}  // namespace
}  // namespace aquawatch
