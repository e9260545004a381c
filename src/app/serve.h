// `aquawatch serve`: wires the parts of role "all" together, runs until SIGINT/SIGTERM, and
// shuts down in reverse order (stop input, drain the shards, close clients).
#pragma once

#include "app/config.h"

namespace aquawatch {

int RunServe(const Config& config);

}  // namespace aquawatch
