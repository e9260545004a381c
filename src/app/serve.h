// `aquawatch serve`: wires the parts of role "all" (or "notify") together, runs until
// SIGINT/SIGTERM, and shuts down in reverse order (stop input, drain the shards, close clients).
#pragma once

#include "app/config.h"

namespace aquawatch {

int RunServe(const Config& config);

// Role notify (docs/notifications.md "Roles"): the notifier alone, fed by RabbitMQ, with the
// notification routes, /metrics, /healthz and /readyz over HTTP.
int RunNotifyRole(const Config& config);

}  // namespace aquawatch
