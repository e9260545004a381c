// The alert store in an SQLite file beside the catalog (docs/format/alerts.md). Its own file,
// not the catalog's: every commit here is fsynced (an acknowledgement that was answered 200 must
// survive a power cut), while the catalog commits without fsync because lost sightings come back
// with the next readings.
#pragma once

#include <memory>
#include <string>

#include "alert/alert_store.h"

namespace aquawatch {

// The alert schema version this build reads and writes.
inline constexpr int kAlertSchemaVersion = 1;

// Opens the store at `path`, creating the file and its tables when missing; ":memory:" gives a
// private in-memory store (tests and tools). InvalidArgument when the file's schema is newer than
// this build's, Corruption when it is not an alert store, IoError when it cannot be opened.
Result<std::unique_ptr<AlertStore>> OpenSqliteAlertStore(const std::string& path);

}  // namespace aquawatch
