// The sensor catalog: which sensors exist, what people say about them (name, site, zone,
// coordinates, profile, status) and what their readings say (installed parameters, first and
// last reading time). An embedded SQLite file; its schema and update rules are in
// docs/format/catalog.md.
//
// Thread-safety: every method may be called from any thread at any time. A Catalog holds one
// SQLite connection behind one internal mutex, so calls run one at a time; RecordSightings
// validates and groups its input before taking the mutex, so the time under it is SQLite work
// only. Keep calls off latency-critical threads: a call may wait for another's transaction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace aquawatch {

inline constexpr std::string_view kSensorStatusActive = "active";
inline constexpr std::string_view kSensorStatusMaintenance = "maintenance";
inline constexpr std::string_view kSensorStatusRetired = "retired";
// Limits on what a PUT may set (site and zone follow kMaxLabelBytes in core/reading.h).
inline constexpr std::size_t kMaxSensorNameBytes = 256;
inline constexpr std::size_t kMaxInstalledParameters = 64;
// The schema version this build reads and writes (docs/format/catalog.md).
inline constexpr int kCatalogSchemaVersion = 2;

struct SensorRecord {
  std::string id, name, site, zone, profile, status;  // empty site/zone/profile: unknown
  std::optional<double> latitude, longitude;
  std::vector<std::string> parameters;  // installed parameters, sorted, no duplicates
  // Nanoseconds since the Unix epoch; both 0 when the sensor was created by PUT and has never
  // sent a reading.
  std::int64_t first_seen_ns = 0, last_seen_ns = 0;
  std::int64_t updated_ns = 0;  // `now_ns` of the last PutSensor; 0 = never edited

  bool operator==(const SensorRecord&) const = default;
};

// One sensor seen in readings: what the readings said about it. Empty site/zone: not said.
struct SensorSighting {
  std::string id, site, zone;
  std::vector<std::string> parameters;  // field names of the reading(s)
  std::int64_t time_ns = 0;             // reading time
};

// Receives sightings from the pipeline's shard threads. Must not block.
class SightingSink {
 public:
  virtual ~SightingSink() = default;
  // May take (move from) the sightings; the caller clears the vector afterwards.
  virtual void OnSightings(std::vector<SensorSighting>& sightings) = 0;
};

// A partial edit of a sensor: absent (nullopt) fields are left as they are.
// One threshold rule of one profile as the catalog stores it (detect/rules.h gives the meaning).
// An infinite limit means "no such limit" and is stored as NULL.
struct ProfileRuleRecord {
  std::string profile, parameter;
  double critical_low = 0, warn_low = 0, warn_high = 0, critical_high = 0;
  double hysteresis = 0, min_duration_s = 0;
};

struct SensorUpdate {
  std::optional<std::string> name;
  std::optional<std::string> site, zone, profile;  // "" clears
  // Outer nullopt: leave as is. Inner nullopt: clear (`u.latitude.emplace()`); a value sets it.
  std::optional<std::optional<double>> latitude, longitude;
  std::optional<std::string> status;  // one of kSensorStatus*
  // Replaces the installed set (sorted and de-duplicated on the way in).
  std::optional<std::vector<std::string>> parameters;
};

// Why `u` cannot be applied, as InvalidArgument "field 'NAME': why", or Ok. Checks everything
// that does not need the database (PutSensor also checks that the profile exists).
Status ValidateSensorUpdate(const SensorUpdate& u);

class Catalog {
 public:
  virtual ~Catalog() = default;

  // Opens the catalog file at `path`, creating it and its schema when missing; ":memory:" gives
  // a private in-memory catalog (tests). Fails with InvalidArgument when the file's schema is
  // newer than kCatalogSchemaVersion, Corruption when it is not a catalog, IoError when it
  // cannot be opened.
  static Result<std::unique_ptr<Catalog>> Open(const std::string& path);

  // Applies readings' sightings in one transaction: inserts unknown sensors, widens
  // [first_seen, last_seen], fills an unknown site/zone, adds parameter names, and inserts
  // missing sites and zones. If any sighting is invalid nothing is written (InvalidArgument
  // naming it). Order-independent except that, per sensor, the first non-empty site/zone offered
  // wins.
  virtual Status RecordSightings(const std::vector<SensorSighting>& sightings) = 0;

  // The sensor, or nullopt when there is none with that id.
  virtual Result<std::optional<SensorRecord>> GetSensor(std::string_view id) const = 0;

  // Creates the sensor if absent, applies the fields present in `u` and returns the new record.
  // InvalidArgument "field 'NAME': why" for a bad id or field (nothing changes then).
  virtual Result<SensorRecord> PutSensor(std::string_view id, const SensorUpdate& u,
                                         std::int64_t now_ns) = 0;

  // Up to `limit` sensors with ids greater than `after` ("" = from the start), in id order.
  virtual Result<std::vector<SensorRecord>> ListSensors(std::string_view after,
                                                        std::size_t limit) const = 0;

  // Names of the known profiles, sorted.
  virtual Result<std::vector<std::string>> ListProfiles() const = 0;

  // Threshold rules edited through the API, which override the configured ones. Sorted by
  // profile, then parameter.
  virtual Result<std::vector<ProfileRuleRecord>> ListProfileRules() const = 0;
  // Stores these rules (whole rules, replacing any stored for the same profile and parameter)
  // in one transaction. InvalidArgument for an unknown profile.
  virtual Status PutProfileRules(const std::vector<ProfileRuleRecord>& rules) = 0;
};

}  // namespace aquawatch
