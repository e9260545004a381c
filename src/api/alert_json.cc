#include "api/alert_json.h"

#include "api/json_writer.h"
#include "core/duration.h"

namespace aquawatch {
namespace {

// An instant, or null for 0 (not yet).
void AppendTime(std::string& out, std::string_view key, std::int64_t ns) {
  AppendJsonKey(out, key);
  if (ns == 0) {
    out += "null";
  } else {
    AppendJsonString(out, FormatRfc3339(ns));
  }
}

void AppendTextOrNull(std::string& out, std::string_view key, std::string_view text) {
  AppendJsonKey(out, key);
  if (text.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, text);
  }
}

}  // namespace

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
  AppendJsonString(out, AlertStateName(a.state));
  AppendJsonKey(out, "active");
  out += a.active ? "true" : "false";
  AppendJsonKey(out, "value");
  AppendJsonNumber(out, a.value);
  AppendJsonKey(out, "threshold");
  AppendJsonNumber(out, a.threshold);
  AppendJsonKey(out, "opened_at");
  AppendJsonString(out, FormatRfc3339(a.opened_ns));
  AppendTime(out, "cleared_at", a.active ? 0 : a.cleared_ns);
  AppendTime(out, "acknowledged_at", a.acked_at_ns);
  AppendTextOrNull(out, "acknowledged_by", a.acked_by);
  AppendTextOrNull(out, "acknowledge_comment", a.ack_comment);
  AppendTime(out, "resolved_at", a.resolved() ? a.resolved_ns : 0);
  AppendJsonKey(out, "resolved_by");
  if (!a.resolved()) {
    out += "null";
  } else {
    AppendJsonString(out, a.resolved_by.empty() ? "aquawatch" : a.resolved_by);
  }
  AppendJsonKey(out, "reopened");
  AppendJsonInt(out, a.reopened);
  AppendTime(out, "updated_at", a.updated_at_ns);
  AppendTextOrNull(out, "suppressed_by", a.suppressed_by);
  AppendJsonKey(out, "received_ns");
  AppendJsonInt(out, a.received_ns);
  AppendJsonKey(out, "message");
  AppendJsonString(out, a.message);
  out += "}";
}

}  // namespace aquawatch

namespace aquawatch {

void AppendAlertHistoryJson(std::string& out, const std::vector<AlertHistoryEntry>& history) {
  out += "[";
  for (std::size_t i = 0; i < history.size(); ++i) {
    const AlertHistoryEntry& e = history[i];
    if (i > 0) out += ",";
    out += R"({"seq":)";
    AppendJsonInt(out, e.seq);
    AppendJsonKey(out, "at");
    AppendJsonString(out, FormatRfc3339(e.at_ns));
    AppendJsonKey(out, "action");
    AppendJsonString(out, e.action);
    AppendJsonKey(out, "by");
    AppendJsonString(out, e.actor.empty() ? "aquawatch" : e.actor);
    AppendJsonKey(out, "detail");
    AppendJsonString(out, e.detail);
    out += "}";
  }
  out += "]";
}

}  // namespace aquawatch

namespace aquawatch {

void AppendSilenceJson(std::string& out, const Silence& s, std::int64_t now_ns) {
  out += R"({"id":)";
  AppendJsonInt(out, static_cast<std::int64_t>(s.id));
  AppendJsonKey(out, "matchers");
  out += "{";
  bool first = true;
  for (auto [name, value] : {std::pair<std::string_view, std::string_view>{"sensor", s.sensor},
                             {"site", s.site},
                             {"zone", s.zone},
                             {"kind", s.kind},
                             {"priority", s.priority ? PriorityName(*s.priority) : ""}}) {
    if (value.empty()) continue;
    AppendJsonKey(out, name, first);
    AppendJsonString(out, value);
    first = false;
  }
  out += "}";
  AppendJsonKey(out, "state");
  AppendJsonString(out, SilenceStateName(s, now_ns));
  AppendJsonKey(out, "starts_at");
  AppendJsonString(out, FormatRfc3339(s.starts_at_ns));
  AppendJsonKey(out, "ends_at");
  AppendJsonString(out, FormatRfc3339(s.ends_at_ns));
  AppendJsonKey(out, "created_by");
  AppendJsonString(out, s.created_by);
  AppendJsonKey(out, "created_at");
  AppendJsonString(out, FormatRfc3339(s.created_at_ns));
  AppendJsonKey(out, "comment");
  AppendJsonString(out, s.comment);
  AppendTextOrNull(out, "expired_by", s.expired_by);
  out += "}";
}

}  // namespace aquawatch
