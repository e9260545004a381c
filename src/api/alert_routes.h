// The alert routes of the REST API (docs/api.md "Alerts"):
//   GET  /api/v1/alerts                 filters, newest first, cursor pagination
//   GET  /api/v1/alerts/{id}            one alert with its history
//   POST /api/v1/alerts/{id}/ack        {"by": "...", "comment": "..."}
//   POST /api/v1/alerts/{id}/resolve    {"by": "...", "comment": "..."}
//   POST /api/v1/alerts/{id}/comment    {"by": "...", "comment": "..."} (comment required)
//   GET  /api/v1/silences               every silence, newest first (?state=active|pending|expired)
//   POST /api/v1/silences               {"matchers": {...}, "ends_at" or "duration", ...}
//   GET  /api/v1/silences/{id}
//   DELETE /api/v1/silences/{id}?by=NAME  ends it now
// Until authentication lands (issue 13), `by` says who acts; then it comes from the token.
// Thread-safety: stateless; the manager is thread-safe. The actions wait for the alert store's
// commit (milliseconds), so the answer means the change is on disk.
#pragma once

#include <string_view>

#include "alert/alert_manager.h"
#include "api/http_types.h"

namespace aquawatch {

inline constexpr std::string_view kAlertsPath = "/api/v1/alerts";

inline constexpr std::string_view kSilencesPath = "/api/v1/silences";

// REQUIRES: request.path starts with kAlertsPath.
HttpResponse HandleAlertRoute(AlertManager& alerts, const HttpRequest& request);
// REQUIRES: request.path starts with kSilencesPath. `now_ns` decides each silence's state.
HttpResponse HandleSilenceRoute(AlertManager& alerts, const HttpRequest& request,
                                std::int64_t now_ns);

}  // namespace aquawatch
