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

}  // namespace aquawatch
