// JSON form of an alert, shared by the REST list and the WebSocket stream. Thread-safe (pure).
#pragma once

#include <string>

#include "alert/alert_manager.h"

namespace aquawatch {

// Appends `a` as a JSON object; times are RFC 3339, `received_ns` is the arrival of the reading
// that last changed the alert (nanoseconds since the epoch, for latency measurements).
void AppendAlertJson(std::string& out, const Alert& a);

}  // namespace aquawatch
