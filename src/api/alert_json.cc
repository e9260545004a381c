#include "api/alert_json.h"

#include "api/json_writer.h"

namespace aquawatch {

void AppendAlertJson(std::string& out, const Alert& a) {
  out += R"({"id":)";
  AppendJsonInt(out, static_cast<std::int64_t>(a.id));
  AppendJsonKey(out, "sensor");
  AppendJsonString(out, a.sensor);
  AppendJsonKey(out, "site");
  AppendJsonString(out, a.site);
  AppendJsonKey(out, "zone");
  AppendJsonString(out, a.zone);
  AppendJsonKey(out, "kind");
  AppendJsonString(out, a.kind);
  AppendJsonKey(out, "parameter");
  AppendJsonString(out, a.parameter);
  AppendJsonKey(out, "level");
  if (a.kind == "threshold") {
    AppendJsonString(out, LevelName(a.level));
  } else {
    out += "null";
  }
  AppendJsonKey(out, "classification");
  if (a.classification.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, a.classification);
  }
  AppendJsonKey(out, "priority");
  AppendJsonString(out, PriorityName(a.priority));
  AppendJsonKey(out, "state");
  AppendJsonString(out, a.open ? "open" : "resolved");
  AppendJsonKey(out, "value");
  AppendJsonNumber(out, a.value);
  AppendJsonKey(out, "threshold");
  AppendJsonNumber(out, a.threshold);
  AppendJsonKey(out, "opened_at");
  AppendJsonString(out, FormatRfc3339(a.opened_ns));
  AppendJsonKey(out, "resolved_at");
  if (a.open) {
    out += "null";
  } else {
    AppendJsonString(out, FormatRfc3339(a.resolved_ns));
  }
  AppendJsonKey(out, "received_ns");
  AppendJsonInt(out, a.received_ns);
  AppendJsonKey(out, "message");
  AppendJsonString(out, a.message);
  out += "}";
}

}  // namespace aquawatch
