// GET /api/v1/sensors/{id}/readings: a sensor's stored history, raw or aggregated, as JSON or CSV.
//
// Query parameters (docs/api.md): parameter (repeatable or comma-separated; default: every
// parameter the sensor has reported), from / to (RFC 3339 or epoch milliseconds; default the last
// hour), step (e.g. 10s, 1m, 1h, 1d; default raw samples), agg (avg|min|max|last|count|sum; with
// a step only), format=csv or an Accept of text/csv.
// Thread-safety: stateless; reads through the pipeline, which is thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "api/http_types.h"
#include "pipeline/pipeline.h"

namespace aquawatch {

// `now_ns` is the default end of the range.
HttpResponse QueryReadings(const Pipeline& pipeline, std::string_view sensor,
                           const HttpRequest& request, std::int64_t now_ns);

// Parses a time given as RFC 3339 or as integer milliseconds since the epoch.
Result<std::int64_t> ParseQueryTime(std::string_view text);
// Parses a step such as 500ms, 10s, 1m, 1h or 1d.
Result<std::int64_t> ParseStep(std::string_view text);

}  // namespace aquawatch
