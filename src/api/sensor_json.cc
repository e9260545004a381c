#include "api/sensor_json.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <optional>
#include <utility>

#include "api/json_writer.h"

namespace aquawatch {
namespace {

namespace json = boost::json;

constexpr std::string_view kWritableFields =
    "name, site, zone, latitude, longitude, profile, status, parameters";

Status FieldError(std::string_view field, std::string_view why) {
  return Status::InvalidArgument(fmt::format("field '{}': {}", field, why));
}

// A string field where null means "clear" (the same as "").
Status ReadText(const json::value& v, std::string_view field, std::optional<std::string>& out) {
  if (v.is_null()) {
    out.emplace();
  } else if (v.is_string()) {
    out.emplace(v.get_string().data(), v.get_string().size());
  } else {
    return FieldError(field, "must be a string or null");
  }
  return Status::Ok();
}

// A coordinate: a number within ±limit, or null to clear.
Status ReadCoordinate(const json::value& v, std::string_view field, double limit,
                      std::optional<std::optional<double>>& out) {
  if (v.is_null()) {
    out.emplace();  // engaged, holding "no value"
    return Status::Ok();
  }
  std::optional<double> x;
  if (v.is_double()) {
    x = v.get_double();
  } else if (v.is_int64()) {
    x = static_cast<double>(v.get_int64());
  } else if (v.is_uint64()) {
    x = static_cast<double>(v.get_uint64());
  }
  if (!x || !(*x >= -limit && *x <= limit)) {
    return FieldError(field, fmt::format("must be a number between {} and {}", -limit, limit));
  }
  out.emplace(*x);
  return Status::Ok();
}

Status ReadStatus(const json::value& v, std::optional<std::string>& out) {
  if (!v.is_string()) {
    return FieldError("status", fmt::format("must be one of {}, {}, {}", kSensorStatusActive,
                                            kSensorStatusMaintenance, kSensorStatusRetired));
  }
  out.emplace(v.get_string().data(), v.get_string().size());
  return Status::Ok();  // the value is checked by ValidateSensorUpdate
}

Status ReadParameters(const json::value& v, std::optional<std::vector<std::string>>& out) {
  if (!v.is_array()) return FieldError("parameters", "must be an array of parameter names");
  const json::array& a = v.get_array();
  std::vector<std::string> names;
  names.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string()) {
      return FieldError(fmt::format("parameters[{}]", i), "must be a string");
    }
    names.emplace_back(a[i].get_string().data(), a[i].get_string().size());
  }
  out = std::move(names);
  return Status::Ok();
}

void AppendTimeOrNull(std::string& out, std::int64_t ns) {
  if (ns == 0) {
    out += "null";
  } else {
    AppendJsonString(out, FormatRfc3339(ns));
  }
}

void AppendNumberOrNull(std::string& out, const std::optional<double>& v) {
  if (v) {
    AppendJsonNumber(out, *v);
  } else {
    out += "null";
  }
}

}  // namespace

Result<SensorUpdate> ParseSensorUpdate(std::string_view json_body) {
  json::error_code ec;
  json::value body = json::parse(json::string_view(json_body.data(), json_body.size()), ec);
  if (ec) return Status::InvalidArgument(fmt::format("body is not valid JSON: {}", ec.message()));
  if (!body.is_object()) return Status::InvalidArgument("body must be a JSON object");

  SensorUpdate u;
  for (const json::key_value_pair& kv : body.get_object()) {
    const std::string_view key(kv.key().data(), kv.key().size());
    const json::value& v = kv.value();
    Status s;
    if (key == "name") {
      s = ReadText(v, key, u.name);
    } else if (key == "site") {
      s = ReadText(v, key, u.site);
    } else if (key == "zone") {
      s = ReadText(v, key, u.zone);
    } else if (key == "profile") {
      s = ReadText(v, key, u.profile);
    } else if (key == "latitude") {
      s = ReadCoordinate(v, key, 90, u.latitude);
    } else if (key == "longitude") {
      s = ReadCoordinate(v, key, 180, u.longitude);
    } else if (key == "status") {
      s = ReadStatus(v, u.status);
    } else if (key == "parameters") {
      s = ReadParameters(v, u.parameters);
    } else if (key == "id") {
      s = FieldError(key, "is read-only (the id is in the URL)");
    } else if (key == "first_seen" || key == "last_seen") {
      s = FieldError(key, "is read-only (set by readings)");
    } else {
      s = Status::InvalidArgument(
          fmt::format("unknown field {} (known: {})", QuoteClientText(key), kWritableFields));
    }
    if (!s.ok()) return s;
  }
  if (Status s = ValidateSensorUpdate(u); !s.ok()) return s;
  return u;
}

void AppendSensorJson(std::string& out, const SensorRecord& r) {
  out += R"({"id":)";
  AppendJsonString(out, r.id);
  AppendJsonKey(out, "name");
  AppendJsonString(out, r.name);
  AppendJsonKey(out, "site");
  AppendJsonString(out, r.site);
  AppendJsonKey(out, "zone");
  AppendJsonString(out, r.zone);
  AppendJsonKey(out, "latitude");
  AppendNumberOrNull(out, r.latitude);
  AppendJsonKey(out, "longitude");
  AppendNumberOrNull(out, r.longitude);
  AppendJsonKey(out, "profile");
  AppendJsonString(out, r.profile);
  AppendJsonKey(out, "status");
  AppendJsonString(out, r.status);
  AppendJsonKey(out, "parameters");
  out.push_back('[');
  for (std::size_t i = 0; i < r.parameters.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(out, r.parameters[i]);
  }
  out.push_back(']');
  AppendJsonKey(out, "first_seen");
  AppendTimeOrNull(out, r.first_seen_ns);
  AppendJsonKey(out, "last_seen");
  AppendTimeOrNull(out, r.last_seen_ns);
  out.push_back('}');
}

}  // namespace aquawatch
