#include "store/catalog/catalog.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/profiles.h"
#include "core/reading.h"
#include "store/sqlite/sqlite_db.h"

namespace aquawatch {
namespace {

// Schema version 1, exactly as docs/format/catalog.md describes it.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE profiles (
  name        TEXT PRIMARY KEY NOT NULL,
  description TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE sites (
  id        TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 128),
  name      TEXT NOT NULL DEFAULT '',
  latitude  REAL CHECK (latitude IS NULL OR latitude BETWEEN -90 AND 90),
  longitude REAL CHECK (longitude IS NULL OR longitude BETWEEN -180 AND 180)
) WITHOUT ROWID;

CREATE TABLE zones (
  id   TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 128),
  name TEXT NOT NULL DEFAULT '',
  site TEXT REFERENCES sites (id)
) WITHOUT ROWID;

CREATE TABLE sensors (
  id            TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 128),
  name          TEXT NOT NULL DEFAULT '',
  site          TEXT REFERENCES sites (id),
  zone          TEXT REFERENCES zones (id),
  latitude      REAL CHECK (latitude IS NULL OR latitude BETWEEN -90 AND 90),
  longitude     REAL CHECK (longitude IS NULL OR longitude BETWEEN -180 AND 180),
  profile       TEXT REFERENCES profiles (name),
  -- Not "status IN (...)": SQLite builds a temporary index for an IN list on every execution
  -- of a statement, which tripled the cost of recording a sighting.
  status        TEXT NOT NULL DEFAULT 'active'
                CHECK (status = 'active' OR status = 'maintenance' OR status = 'retired'),
  parameters    TEXT NOT NULL DEFAULT '[]',
  first_seen_ns INTEGER,
  last_seen_ns  INTEGER,
  updated_ns    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
)sql";

// Schema version 2 adds the rules edited through the API (docs/format/catalog.md). A version 1
// catalog is upgraded in place by running this.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE profile_rules (
  profile        TEXT NOT NULL REFERENCES profiles (name),
  parameter      TEXT NOT NULL,
  critical_low   REAL,
  warn_low       REAL,
  warn_high      REAL,
  critical_high  REAL,
  hysteresis     REAL NOT NULL DEFAULT 0 CHECK (hysteresis >= 0),
  min_duration_s REAL NOT NULL DEFAULT 0 CHECK (min_duration_s >= 0),
  PRIMARY KEY (profile, parameter)
) WITHOUT ROWID;
)sql";

// A value for an error message: user input can be long or odd, so keep at most 64 bytes.
std::string Quote(std::string_view s) {
  constexpr std::size_t kMax = 64;
  if (s.size() <= kMax) return fmt::format("'{}'", s);
  return fmt::format("'{}…'", s.substr(0, kMax));
}

constexpr const char* kSensorColumns =
    "id, name, site, zone, latitude, longitude, profile, status, first_seen_ns, last_seen_ns, "
    "updated_ns, parameters";

// The `parameters` column: a JSON array of names in byte order, e.g. ["orp_mv","ph"]. Names
// pass FieldNameError (letters, digits, _ - . :), so they never need escaping.
// REQUIRES: `names` sorted, distinct and valid.
void EncodeParameters(const std::vector<std::string_view>& names, std::string& out) {
  out.clear();
  out.push_back('[');
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    out.append(names[i]);
    out.push_back('"');
  }
  out.push_back(']');
}

// Appends the names of an encoded list to `out`, as views into `text`. False when `text` is not
// what EncodeParameters writes (spaces after separators, as SQLite's json() functions may leave,
// are accepted).
bool DecodeParameters(std::string_view text, std::vector<std::string_view>& out) {
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
  };
  auto eat = [&](char c) {
    skip_space();
    if (i < text.size() && text[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  if (!eat('[')) return false;
  if (eat(']')) {
    skip_space();
    return i == text.size();
  }
  for (;;) {
    if (!eat('"')) return false;
    std::size_t end = text.find('"', i);
    if (end == std::string_view::npos) return false;
    std::string_view name = text.substr(i, end - i);
    if (!FieldNameError(name).empty()) return false;  // also rules out escapes
    out.push_back(name);
    i = end + 1;
    if (eat(',')) continue;
    if (!eat(']')) return false;
    skip_space();
    return i == text.size();
  }
}

// Sorted union of `a` and `b` (both sorted and distinct) into `out`.
void UnionInto(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b,
               std::vector<std::string_view>& out) {
  out.clear();
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
}

std::string_view ValueText(sqlite3_value* v) {
  const unsigned char* p = sqlite3_value_text(v);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_value_bytes(v))};
}

// SQL function aw_parameters_union(stored, offered): the union of two encoded parameter lists,
// so that recording a sighting of a known sensor stays one statement (RETURNING the stored list
// and merging here doubled the cost). Registered on our connection only; the schema does not
// use it, so other tools can still open the file.
void ParametersUnionSql(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  assert(argc == 2);
  (void)argc;
  const std::string_view stored = ValueText(argv[0]), offered = ValueText(argv[1]);
  // The steady state: a sensor keeps reporting what it reported before.
  if (offered == "[]" || offered == stored) {
    sqlite3_result_value(ctx, argv[0]);
    return;
  }
  std::vector<std::string_view> a, b, merged;
  if (!DecodeParameters(stored, a) || !DecodeParameters(offered, b)) {
    const std::string msg =
        fmt::format("parameters {} is not a JSON array of parameter names", Quote(stored));
    sqlite3_result_error(ctx, msg.data(), static_cast<int>(msg.size()));
    sqlite3_result_error_code(ctx, SQLITE_CORRUPT);
    return;
  }
  UnionInto(a, b, merged);
  if (merged.size() == a.size()) {
    sqlite3_result_value(ctx, argv[0]);
    return;
  }
  std::string out;
  EncodeParameters(merged, out);
  sqlite3_result_text64(ctx, out.data(), out.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

using Stmt = SqliteStmt;
using Run = SqliteRun;

// Reads the kSensorColumns of the current row.
Status ReadSensorRow(const Run& r, SensorRecord& rec) {
  rec.id = r.ColText(0);
  rec.name = r.ColText(1);
  rec.site = r.ColText(2);
  rec.zone = r.ColText(3);
  rec.latitude = r.ColReal(4);
  rec.longitude = r.ColReal(5);
  rec.profile = r.ColText(6);
  rec.status = r.ColText(7);
  rec.first_seen_ns = r.ColInt(8);  // NULL (never seen) reads as 0
  rec.last_seen_ns = r.ColInt(9);
  rec.updated_ns = r.ColInt(10);
  const std::string text = r.ColText(11);
  std::vector<std::string_view> names;
  if (!DecodeParameters(text, names)) {
    return Status::Corruption(
        fmt::format("catalog: sensor {}: parameters {} is not a JSON array of parameter names",
                    Quote(rec.id), Quote(text)));
  }
  rec.parameters.assign(names.begin(), names.end());
  return Status::Ok();
}

bool IsSensorStatus(std::string_view s) {
  return s == kSensorStatusActive || s == kSensorStatusMaintenance || s == kSensorStatusRetired;
}

Status ValidateCoordinate(const std::optional<std::optional<double>>& v, std::string_view field,
                          double limit) {
  if (!v || !*v) return Status::Ok();
  double x = **v;
  // Written so that NaN fails too.
  if (!(x >= -limit && x <= limit)) {
    return Status::InvalidArgument(
        fmt::format("field '{}': must be a number between {} and {}", field, -limit, limit));
  }
  return Status::Ok();
}

Status ValidateLabel(const std::optional<std::string>& v, std::string_view field,
                     std::size_t max_bytes) {
  if (v && v->size() > max_bytes) {
    return Status::InvalidArgument(
        fmt::format("field '{}': must be at most {} bytes (got {})", field, max_bytes, v->size()));
  }
  return Status::Ok();
}

class CatalogImpl final : public Catalog {
 public:
  explicit CatalogImpl(std::string path) : path_(std::move(path)) {}

  Status Init();

  Status RecordSightings(const std::vector<SensorSighting>& sightings) override;
  Result<std::optional<SensorRecord>> GetSensor(std::string_view id) const override;
  Result<SensorRecord> PutSensor(std::string_view id, const SensorUpdate& u,
                                 std::int64_t now_ns) override;
  Result<std::vector<SensorRecord>> ListSensors(std::string_view after,
                                                std::size_t limit) const override;
  Result<std::vector<std::string>> ListProfiles() const override;
  Result<std::vector<ProfileRuleRecord>> ListProfileRules() const override;
  Status PutProfileRules(const std::vector<ProfileRuleRecord>& rules) override;

 private:
  sqlite3* db() const { return db_.get(); }
  Status Error(int rc, std::string_view context) const {
    return SqliteStatus(db(), rc, "catalog", context);
  }
  // Runs a statement that returns no rows, or whose rows are not wanted.
  Status Exec(Run& r, std::string_view context) const {
    const int rc = SqliteStepAll(r);
    return rc == SQLITE_DONE ? Status::Ok() : Error(rc, context);
  }
  Status ExecSql(const char* sql, std::string_view context) const {
    int rc = sqlite3_exec(db(), sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::Ok() : Error(rc, context);
  }

  // Runs `body` (returning Status) inside BEGIN IMMEDIATE ... COMMIT; rolls back when it fails.
  // REQUIRES: mu_ held.
  template <typename Body>
  Status InTransaction(Body&& body) const;

  Status CreateOrCheckSchema();
  Status PrepareStatements();
  // REQUIRES: mu_ held.
  Result<std::optional<SensorRecord>> ReadSensorLocked(std::string_view id) const;
  Status ReadProfileNamesLocked(std::vector<std::string>& out) const;

  const std::string path_;
  mutable std::mutex mu_;
  // Declared before the statements so that it is closed after they are finalized.
  SqliteHandle db_;  // GUARDED_BY(mu_), as is every statement below
  SqliteTransactions transactions_;
  Stmt upsert_site_, upsert_zone_, upsert_sighted_sensor_;
  Stmt select_sensor_, list_sensors_;
  Stmt profile_exists_, list_profiles_;
  Stmt list_profile_rules_, upsert_profile_rule_;
  Stmt insert_sensor_, update_sensor_;
};

template <typename Body>
Status CatalogImpl::InTransaction(Body&& body) const {
  return transactions_.Run(db(), "catalog", std::forward<Body>(body));
}

Status CatalogImpl::Init() {
  std::lock_guard<std::mutex> lock(mu_);
  auto opened = OpenSqlite(path_, {.subsystem = "catalog", .sync_every_commit = false});
  if (!opened.ok()) return opened.status();
  db_ = std::move(opened).value();
  int rc = sqlite3_create_function_v2(db(), "aw_parameters_union", 2,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                      nullptr, &ParametersUnionSql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, fmt::format("{}: registering functions", path_));
  const auto context = [&](std::string_view what) { return fmt::format("{}: {}", path_, what); };

  // Connection settings (outside any transaction, where SQLite requires them).
  if (Status s = ExecSql("PRAGMA foreign_keys = ON", context("PRAGMA foreign_keys")); !s.ok()) {
    return s;
  }
  {
    // A SQLite built without foreign keys ignores the PRAGMA silently.
    Stmt st;
    if (Status s = st.Prepare(db(), "PRAGMA foreign_keys"); !s.ok()) return s;
    Run r(st);
    if (r.Step() != SQLITE_ROW || r.ColInt(0) != 1) {
      return Status::Internal(
          fmt::format("catalog {}: this SQLite cannot enforce foreign keys", path_));
    }
  }

  if (Status s = transactions_.Prepare(db()); !s.ok()) return s;
  if (Status s = InTransaction([&] { return CreateOrCheckSchema(); }); !s.ok()) return s;
  return PrepareStatements();
}

Status CatalogImpl::CreateOrCheckSchema() {
  auto count = [&](const char* sql, std::int64_t& n) -> Status {
    Stmt st;
    if (Status s = st.Prepare(db(), sql); !s.ok()) return s;
    Run r(st);
    int rc = r.Step();
    if (rc != SQLITE_ROW) return Error(rc, fmt::format("{}: reading the schema", path_));
    n = r.ColInt(0);
    return Status::Ok();
  };
  std::int64_t has_meta = 0;
  if (Status s = count("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                       has_meta);
      !s.ok()) {
    return s;
  }

  if (has_meta == 0) {
    std::int64_t objects = 0;
    if (Status s = count("SELECT count(*) FROM sqlite_master", objects); !s.ok()) return s;
    if (objects != 0) {
      return Status::Corruption(fmt::format(
          "catalog {}: not an aquawatch catalog (it has tables but no 'meta' table)", path_));
    }
    if (Status s = ExecSql(kSchemaV1, fmt::format("{}: creating the schema", path_)); !s.ok()) {
      return s;
    }
    if (Status s = ExecSql(kSchemaV2, fmt::format("{}: creating the schema", path_)); !s.ok()) {
      return s;
    }
    Stmt seed;
    if (Status s = seed.Prepare(db(), "INSERT INTO profiles (name, description) VALUES (?1, ?2)");
        !s.ok()) {
      return s;
    }
    for (const SiteProfile& p : kSiteProfiles) {
      Run r(seed);
      r.Text(1, p.name).Text(2, p.description);
      if (Status s = Exec(r, "seeding profiles"); !s.ok()) return s;
    }
    const std::string version = std::to_string(kCatalogSchemaVersion);
    Stmt meta;
    if (Status s =
            meta.Prepare(db(), "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)");
        !s.ok()) {
      return s;
    }
    Run r(meta);
    r.Text(1, version);
    if (Status s = Exec(r, "writing schema_version"); !s.ok()) return s;
    spdlog::info("catalog {}: created (schema version {})", path_, kCatalogSchemaVersion);
    return Status::Ok();
  }

  Stmt st;
  if (Status s = st.Prepare(db(), "SELECT value FROM meta WHERE key = 'schema_version'"); !s.ok()) {
    return s;
  }
  Run r(st);
  int rc = r.Step();
  if (rc == SQLITE_DONE) {
    return Status::Corruption(
        fmt::format("catalog {}: the meta table has no schema_version", path_));
  }
  if (rc != SQLITE_ROW) return Error(rc, fmt::format("{}: reading schema_version", path_));
  const std::string text = r.ColText(0);
  int version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version < 1) {
    return Status::Corruption(
        fmt::format("catalog {}: schema_version {} is not a positive integer", path_, Quote(text)));
  }
  if (version > kCatalogSchemaVersion) {
    return Status::InvalidArgument(fmt::format(
        "catalog {} has schema version {}; this build of aquawatch reads version {} only: "
        "upgrade aquawatch or use another catalog file",
        path_, version, kCatalogSchemaVersion));
  }
  if (version == 1) {
    if (Status s = ExecSql(kSchemaV2, fmt::format("{}: upgrading to schema 2", path_)); !s.ok()) {
      return s;
    }
    if (Status s = ExecSql("UPDATE meta SET value = '2' WHERE key = 'schema_version'",
                           fmt::format("{}: upgrading to schema 2", path_));
        !s.ok()) {
      return s;
    }
    spdlog::info("catalog {}: upgraded from schema version 1 to 2", path_);
  }
  return Status::Ok();
}

Status CatalogImpl::PrepareStatements() {
  const std::string select_sensor =
      fmt::format("SELECT {} FROM sensors WHERE id = ?1", kSensorColumns);
  const std::string list_sensors =
      fmt::format("SELECT {} FROM sensors WHERE id > ?1 ORDER BY id LIMIT ?2", kSensorColumns);
  const std::pair<Stmt*, std::string_view> statements[] = {
      {&upsert_site_, "INSERT INTO sites (id, name) VALUES (?1, ?1) ON CONFLICT (id) DO NOTHING"},
      {&upsert_zone_,
       "INSERT INTO zones (id, name, site) VALUES (?1, ?1, ?2) ON CONFLICT (id) DO UPDATE "
       "SET site = excluded.site WHERE zones.site IS NULL AND excluded.site IS NOT NULL"},
      // The sighting rules of docs/format/catalog.md: the stored site/zone wins, the seen
      // interval only widens, parameter names are added.
      {&upsert_sighted_sensor_,
       "INSERT INTO sensors (id, site, zone, first_seen_ns, last_seen_ns, parameters) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET "
       "site = COALESCE(site, excluded.site), "
       "zone = COALESCE(zone, excluded.zone), "
       "first_seen_ns = MIN(COALESCE(first_seen_ns, excluded.first_seen_ns), "
       "excluded.first_seen_ns), "
       "last_seen_ns = MAX(COALESCE(last_seen_ns, excluded.last_seen_ns), "
       "excluded.last_seen_ns), "
       "parameters = aw_parameters_union(parameters, excluded.parameters)"},
      {&select_sensor_, select_sensor},
      {&list_sensors_, list_sensors},
      {&profile_exists_, "SELECT 1 FROM profiles WHERE name = ?1"},
      {&list_profiles_, "SELECT name FROM profiles ORDER BY name"},
      {&list_profile_rules_,
       "SELECT profile, parameter, critical_low, warn_low, warn_high, critical_high, hysteresis, "
       "min_duration_s FROM profile_rules ORDER BY profile, parameter"},
      {&upsert_profile_rule_,
       "INSERT OR REPLACE INTO profile_rules (profile, parameter, critical_low, warn_low, "
       "warn_high, critical_high, hysteresis, min_duration_s) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      {&insert_sensor_, "INSERT INTO sensors (id) VALUES (?1)"},
      // ?2k is "field present", ?2k+1 its value.
      {&update_sensor_,
       "UPDATE sensors SET "
       "name = CASE WHEN ?2 THEN ?3 ELSE name END, "
       "site = CASE WHEN ?4 THEN ?5 ELSE site END, "
       "zone = CASE WHEN ?6 THEN ?7 ELSE zone END, "
       "latitude = CASE WHEN ?8 THEN ?9 ELSE latitude END, "
       "longitude = CASE WHEN ?10 THEN ?11 ELSE longitude END, "
       "profile = CASE WHEN ?12 THEN ?13 ELSE profile END, "
       "status = CASE WHEN ?14 THEN ?15 ELSE status END, "
       "parameters = CASE WHEN ?16 THEN ?17 ELSE parameters END, "
       "updated_ns = ?18 "
       "WHERE id = ?1"},
  };
  for (const auto& [stmt, sql] : statements) {
    if (Status s = stmt->Prepare(db(), sql); !s.ok()) return s;
  }
  return Status::Ok();
}

Status CatalogImpl::RecordSightings(const std::vector<SensorSighting>& sightings) {
  if (sightings.empty()) return Status::Ok();

  // Validate and fold the sightings into one entry per sensor before taking the lock: a batch
  // of readings usually names few sensors many times. Views point into `sightings`.
  struct Sensor {
    std::string_view id, site, zone;
    std::int64_t first = 0, last = 0;
    std::vector<std::string_view> parameters;  // distinct; sorted before use
  };
  std::vector<Sensor> sensors;
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(std::min<std::size_t>(sightings.size(), 1 << 16));
  for (std::size_t i = 0; i < sightings.size(); ++i) {
    const SensorSighting& s = sightings[i];
    for (const auto& [label, what] : {std::pair{&s.site, "site"}, std::pair{&s.zone, "zone"}}) {
      if (label->size() > kMaxLabelBytes) {
        return Status::InvalidArgument(
            fmt::format("catalog: sighting {} (sensor {}): {} is longer than {} bytes", i,
                        Quote(s.id), what, kMaxLabelBytes));
      }
    }
    auto [it, inserted] = index.try_emplace(s.id, sensors.size());
    if (inserted) {
      // Equal ids give equal answers: check each distinct id once.
      if (std::string_view e = SensorIdError(s.id); !e.empty()) {
        return Status::InvalidArgument(
            fmt::format("catalog: sighting {}: sensor id {} {}", i, Quote(s.id), e));
      }
      sensors.push_back({s.id, s.site, s.zone, s.time_ns, s.time_ns, {}});
    }
    Sensor& agg = sensors[it->second];
    agg.first = std::min(agg.first, s.time_ns);
    agg.last = std::max(agg.last, s.time_ns);
    if (agg.site.empty()) agg.site = s.site;
    if (agg.zone.empty()) agg.zone = s.zone;
    for (const std::string& p : s.parameters) {
      // A sensor reports a handful of parameters: a linear scan beats hashing.
      if (std::find(agg.parameters.begin(), agg.parameters.end(), p) != agg.parameters.end()) {
        continue;
      }
      if (std::string_view e = FieldNameError(p); !e.empty()) {
        return Status::InvalidArgument(fmt::format(
            "catalog: sighting {} (sensor {}): parameter {} {}", i, Quote(s.id), Quote(p), e));
      }
      agg.parameters.push_back(p);
    }
  }
  for (Sensor& s : sensors) std::sort(s.parameters.begin(), s.parameters.end());
  // Key order: each B-tree insert lands next to the previous one.
  std::sort(sensors.begin(), sensors.end(),
            [](const Sensor& a, const Sensor& b) { return a.id < b.id; });

  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction([&]() -> Status {
    // Parents before children: sites, zones, then sensors.
    std::unordered_set<std::string_view> sites_done;
    for (const Sensor& s : sensors) {
      if (s.site.empty() || !sites_done.insert(s.site).second) continue;
      Run r(upsert_site_);
      r.Text(1, s.site);
      if (Status st = Exec(r, "recording a site"); !st.ok()) return st;
    }
    std::unordered_set<std::string_view> zones_done;  // zones whose site is settled
    for (const Sensor& s : sensors) {
      if (s.zone.empty() || zones_done.count(s.zone) != 0) continue;
      // A zone offered without a site may still get one from a later sensor in the batch.
      if (!s.site.empty()) zones_done.insert(s.zone);
      Run r(upsert_zone_);
      r.Text(1, s.zone).TextOrNull(2, s.site);
      if (Status st = Exec(r, "recording a zone"); !st.ok()) return st;
    }
    std::string parameters;  // reused
    for (const Sensor& s : sensors) {
      EncodeParameters(s.parameters, parameters);
      Run r(upsert_sighted_sensor_);
      r.Text(1, s.id).TextOrNull(2, s.site).TextOrNull(3, s.zone).Int(4, s.first).Int(5, s.last);
      r.Text(6, parameters);
      if (Status st = Exec(r, "recording a sensor"); !st.ok()) return st;
    }
    return Status::Ok();
  });
}

Result<std::optional<SensorRecord>> CatalogImpl::ReadSensorLocked(std::string_view id) const {
  std::optional<SensorRecord> rec;
  Run r(select_sensor_);
  r.Text(1, id);
  int rc = r.Step();
  if (rc == SQLITE_DONE) return rec;
  if (rc != SQLITE_ROW) return Error(rc, "reading a sensor");
  rec.emplace();
  if (Status s = ReadSensorRow(r, *rec); !s.ok()) return s;
  return rec;
}

Result<std::optional<SensorRecord>> CatalogImpl::GetSensor(std::string_view id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ReadSensorLocked(id);
}

Status CatalogImpl::ReadProfileNamesLocked(std::vector<std::string>& out) const {
  Run r(list_profiles_);
  int rc;
  while ((rc = r.Step()) == SQLITE_ROW) out.push_back(r.ColText(0));
  return rc == SQLITE_DONE ? Status::Ok() : Error(rc, "listing profiles");
}

namespace {

// A limit as stored: NULL for "none" (an infinite limit).
std::optional<double> StoredLimit(double v) {
  return std::isinf(v) ? std::nullopt : std::optional<double>(v);
}

}  // namespace

Result<std::vector<ProfileRuleRecord>> CatalogImpl::ListProfileRules() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ProfileRuleRecord> out;
  Run r(list_profile_rules_);
  int rc;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  while ((rc = r.Step()) == SQLITE_ROW) {
    ProfileRuleRecord& rec = out.emplace_back();
    rec.profile = r.ColText(0);
    rec.parameter = r.ColText(1);
    rec.critical_low = r.ColReal(2).value_or(-kInf);
    rec.warn_low = r.ColReal(3).value_or(-kInf);
    rec.warn_high = r.ColReal(4).value_or(kInf);
    rec.critical_high = r.ColReal(5).value_or(kInf);
    rec.hysteresis = r.ColReal(6).value_or(0);
    rec.min_duration_s = r.ColReal(7).value_or(0);
  }
  if (rc != SQLITE_DONE) return Error(rc, "listing profile rules");
  return out;
}

Status CatalogImpl::PutProfileRules(const std::vector<ProfileRuleRecord>& rules) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction([&]() -> Status {
    for (const ProfileRuleRecord& rule : rules) {
      Run exists(profile_exists_);
      exists.Text(1, rule.profile);
      int rc = exists.Step();
      if (rc == SQLITE_DONE) {
        return Status::InvalidArgument(fmt::format("unknown profile {}", Quote(rule.profile)));
      }
      if (rc != SQLITE_ROW) return Error(rc, "looking up a profile");
      Run r(upsert_profile_rule_);
      r.Text(1, rule.profile)
          .Text(2, rule.parameter)
          .Real(3, StoredLimit(rule.critical_low))
          .Real(4, StoredLimit(rule.warn_low))
          .Real(5, StoredLimit(rule.warn_high))
          .Real(6, StoredLimit(rule.critical_high))
          .Real(7, rule.hysteresis)
          .Real(8, rule.min_duration_s);
      if (Status s = Exec(r, "storing a profile rule"); !s.ok()) return s;
    }
    return Status::Ok();
  });
}

Result<SensorRecord> CatalogImpl::PutSensor(std::string_view id, const SensorUpdate& u,
                                            std::int64_t now_ns) {
  if (std::string_view e = SensorIdError(id); !e.empty()) {
    return Status::InvalidArgument(fmt::format("field 'id': {}", e));
  }
  if (Status s = ValidateSensorUpdate(u); !s.ok()) return s;
  std::string parameters;
  if (u.parameters) {
    std::vector<std::string_view> names(u.parameters->begin(), u.parameters->end());
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    EncodeParameters(names, parameters);
  }

  std::lock_guard<std::mutex> lock(mu_);
  SensorRecord out;
  Status s = InTransaction([&]() -> Status {
    auto existing = ReadSensorLocked(id);
    if (!existing.ok()) return existing.status();

    if (u.profile && !u.profile->empty()) {
      Run r(profile_exists_);
      r.Text(1, *u.profile);
      int rc = r.Step();
      if (rc == SQLITE_DONE) {
        std::vector<std::string> known;
        if (Status ls = ReadProfileNamesLocked(known); !ls.ok()) return ls;
        return Status::InvalidArgument(
            fmt::format("field 'profile': unknown profile {} (known: {})", Quote(*u.profile),
                        fmt::join(known, ", ")));
      }
      if (rc != SQLITE_ROW) return Error(rc, "looking up a profile");
    }

    // The site and zone rows must exist before the sensor refers to them.
    const std::string site = u.site ? *u.site : (*existing ? (*existing)->site : std::string());
    if (!site.empty()) {
      Run r(upsert_site_);
      r.Text(1, site);
      if (Status st = Exec(r, "recording a site"); !st.ok()) return st;
    }
    if (u.zone && !u.zone->empty()) {
      Run r(upsert_zone_);
      r.Text(1, *u.zone).TextOrNull(2, site);
      if (Status st = Exec(r, "recording a zone"); !st.ok()) return st;
    }

    if (!*existing) {
      Run r(insert_sensor_);
      r.Text(1, id);
      if (Status st = Exec(r, "creating a sensor"); !st.ok()) return st;
    }
    {
      Run r(update_sensor_);
      r.Text(1, id);
      // ?i is "field present", ?i+1 its value.
      auto text = [&](int i, const std::optional<std::string>& v, bool empty_is_null) {
        r.Int(i, v ? 1 : 0);
        if (!v) return;
        if (empty_is_null) {
          r.TextOrNull(i + 1, *v);
        } else {
          r.Text(i + 1, *v);
        }
      };
      auto real = [&](int i, const std::optional<std::optional<double>>& v) {
        r.Int(i, v ? 1 : 0);
        if (v) r.Real(i + 1, *v);
      };
      text(2, u.name, false);
      text(4, u.site, true);
      text(6, u.zone, true);
      real(8, u.latitude);
      real(10, u.longitude);
      text(12, u.profile, true);
      text(14, u.status, false);
      r.Int(16, u.parameters ? 1 : 0);
      if (u.parameters) r.Text(17, parameters);
      r.Int(18, now_ns);
      if (Status st = Exec(r, "updating a sensor"); !st.ok()) return st;
    }
    auto updated = ReadSensorLocked(id);
    if (!updated.ok()) return updated.status();
    if (!*updated) return Status::Internal("catalog: a sensor vanished inside its transaction");
    out = std::move(**updated);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<SensorRecord>> CatalogImpl::ListSensors(std::string_view after,
                                                           std::size_t limit) const {
  std::vector<SensorRecord> out;
  if (limit == 0) return out;
  const auto sql_limit = static_cast<std::int64_t>(
      std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
  std::lock_guard<std::mutex> lock(mu_);
  Run r(list_sensors_);
  r.Text(1, after).Int(2, sql_limit);
  int rc;
  while ((rc = r.Step()) == SQLITE_ROW) {
    if (Status s = ReadSensorRow(r, out.emplace_back()); !s.ok()) return s;
  }
  if (rc != SQLITE_DONE) return Error(rc, "listing sensors");
  return out;
}

Result<std::vector<std::string>> CatalogImpl::ListProfiles() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  if (Status s = ReadProfileNamesLocked(out); !s.ok()) return s;
  return out;
}

}  // namespace

Status ValidateSensorUpdate(const SensorUpdate& u) {
  if (Status s = ValidateLabel(u.name, "name", kMaxSensorNameBytes); !s.ok()) return s;
  if (Status s = ValidateLabel(u.site, "site", kMaxLabelBytes); !s.ok()) return s;
  if (Status s = ValidateLabel(u.zone, "zone", kMaxLabelBytes); !s.ok()) return s;
  if (Status s = ValidateCoordinate(u.latitude, "latitude", 90); !s.ok()) return s;
  if (Status s = ValidateCoordinate(u.longitude, "longitude", 180); !s.ok()) return s;
  if (u.status && !IsSensorStatus(*u.status)) {
    return Status::InvalidArgument(fmt::format("field 'status': must be one of {}, {}, {} (got {})",
                                               kSensorStatusActive, kSensorStatusMaintenance,
                                               kSensorStatusRetired, Quote(*u.status)));
  }
  if (u.parameters) {
    if (u.parameters->size() > kMaxInstalledParameters) {
      return Status::InvalidArgument(fmt::format("field 'parameters': at most {} names (got {})",
                                                 kMaxInstalledParameters, u.parameters->size()));
    }
    for (const std::string& p : *u.parameters) {
      if (std::string_view e = FieldNameError(p); !e.empty()) {
        return Status::InvalidArgument(
            fmt::format("field 'parameters': parameter name {} {}", Quote(p), e));
      }
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path) {
  auto catalog = std::make_unique<CatalogImpl>(path);
  if (Status s = catalog->Init(); !s.ok()) return s;
  return std::unique_ptr<Catalog>(std::move(catalog));
}

}  // namespace aquawatch
