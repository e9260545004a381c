// JSON for the sensor catalog (src/store/catalog/catalog.h): the body of a sensor PUT, and a
// SensorRecord in responses. Lives in api/ because it needs Boost.JSON and FormatRfc3339, which
// the store library does not link.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "store/catalog/catalog.h"

namespace aquawatch {

// Parses a PUT body: a JSON object with any of
//   "name": string, "site": string, "zone": string, "profile": string   (null or "" clears)
//   "latitude": number in [-90, 90], "longitude": number in [-180, 180]  (null clears)
//   "status": "active" | "maintenance" | "retired"
//   "parameters": [string, ...]                                         (replaces the set)
// Absent fields stay as they are; of duplicate keys the last counts (Boost.JSON's rule). Fails with
// InvalidArgument naming the field and why: not JSON, not an object, an unknown or read-only field
// ("id", "first_seen", "last_seen"), a wrong type, or a value ValidateSensorUpdate rejects. Whether
// the profile exists is PutSensor's to check.
Result<SensorUpdate> ParseSensorUpdate(std::string_view json_body);

// Appends `r` as {"id", "name", "site", "zone", "latitude" (number|null), "longitude"
// (number|null), "profile", "status", "parameters" ([string]), "first_seen", "last_seen"}.
// Times are RFC 3339 UTC with milliseconds, or null when the sensor has never sent a reading
// (the record's 0).
void AppendSensorJson(std::string& out, const SensorRecord& r);

}  // namespace aquawatch
