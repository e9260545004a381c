// JSON form of an alert and its history, shared by the REST routes and the WebSocket stream
// (docs/api.md). Thread-safe (pure).
#pragma once

#include <string>
#include <vector>

#include "alert/alert.h"

namespace aquawatch {

// Appends `a` as a JSON object; times are RFC 3339, `received_ns` is the arrival of the reading
// that last changed the alert (nanoseconds since the epoch, for latency measurements).
void AppendAlertJson(std::string& out, const Alert& a);

// Appends the history as a JSON array of {"seq", "at", "action", "by", "detail"}.
void AppendAlertHistoryJson(std::string& out, const std::vector<AlertHistoryEntry>& history);

// Appends a silence: {"id", "matchers": {...}, "state", "starts_at", "ends_at", "created_by",
// "created_at", "comment", "expired_by"}; `state` as of `now_ns`.
void AppendSilenceJson(std::string& out, const Silence& s, std::int64_t now_ns);

}  // namespace aquawatch
