// Small reading batches for pipeline tests.
#pragma once

#include <cstdint>
#include <string>

#include "core/reading.h"

namespace aquawatch::testing {

// One reading of `sensor` at `t` (site-1, zone-1) with free chlorine alone: the parameter whose
// default rules the alert and urgent-lane tests cross (warn below 0.3, critical below 0.2).
inline ReadingBatch ChlorineReading(const std::string& sensor, std::int64_t t, double chlorine) {
  ReadingBatch b;
  b.BeginReading(sensor, t, "site-1", "zone-1");
  b.AddField(ParameterId::kFreeChlorineMgL, chlorine);
  b.arrival_ns = 1;
  return b;
}

}  // namespace aquawatch::testing
