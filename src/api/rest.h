// ApiHandler: the REST routes of aquawatch (ingest, sensors, alerts, health, metrics).
// See docs/api.md for every route. Thread-safety: Handle may run on several I/O threads at once.
#pragma once

#include <memory>

#include "alert/alert_manager.h"
#include "api/http_types.h"
#include "core/clock.h"
#include "core/ingest_limits.h"
#include "core/metrics.h"
#include "ingest/ingest_channel.h"
#include "notify/notifier.h"
#include "pipeline/pipeline.h"
#include "store/catalog/catalog.h"

namespace aquawatch {

struct ApiOptions {
  std::size_t max_body_bytes = 64u << 20;  // also the limit for a gzip body once inflated
  IngestLimits limits;                     // what the write endpoints' decoders check
};

std::unique_ptr<HttpHandler> NewApiHandler(Pipeline& pipeline, AlertManager& alerts,
                                           Notifier& notifier, Catalog& catalog,
                                           MetricsRegistry& metrics, Clock& clock,
                                           const ApiOptions& options);

}  // namespace aquawatch
