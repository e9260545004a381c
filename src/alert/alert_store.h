// AlertStore: where alerts and their history are kept across restarts. The AlertManager owns
// the live alerts in memory and writes every change here from its writer thread; reads for the
// API come from here, after the manager has written what it holds (AlertManager::Sync).
//
// SqliteAlertStore (sqlite_alert_store.h) is the one implementation; its file format is
// docs/format/alerts.md.
// Thread-safety: implementations must allow calls from any thread.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "alert/alert.h"
#include "core/status.h"

namespace aquawatch {

// One change: the alert's whole row as it is after the change, and the entry that says what
// changed (entry.seq == alert.history_size - 1).
struct AlertChange {
  Alert alert;
  AlertHistoryEntry entry;
};

// Which alerts GET /api/v1/alerts wants. Empty strings and lists match anything.
struct AlertQuery {
  std::vector<AlertState> states;
  std::optional<AlertPriority> priority;
  std::string kind, zone, site, sensor;
  // Opened (sensor time) in [opened_from_ns, opened_to_ns).
  std::int64_t opened_from_ns = std::numeric_limits<std::int64_t>::min();
  std::int64_t opened_to_ns = std::numeric_limits<std::int64_t>::max();
  std::uint64_t before_id = 0;  // the cursor: only ids below it; 0 = from the newest
  std::size_t limit = 1000;
};

struct LiveAlerts {
  // Unresolved alerts, resolved ones whose condition still holds, and ones resolved at or after
  // the asked wall-clock time (they may still reopen). Ascending id.
  std::vector<Alert> alerts;
  std::uint64_t max_id = 0;  // the highest id ever stored
};

class AlertStore {
 public:
  virtual ~AlertStore() = default;

  // What a starting manager needs back.
  virtual Result<LiveAlerts> LoadLive(std::int64_t resolved_since_ns) const = 0;
  // Stores the changes, in order, in one transaction: all or nothing.
  virtual Status Write(const std::vector<AlertChange>& changes) = 0;
  // Newest first.
  virtual Result<std::vector<Alert>> List(const AlertQuery& query) const = 0;
  virtual Result<std::optional<Alert>> Get(std::uint64_t id) const = 0;
  // Oldest first; empty for an unknown id.
  virtual Result<std::vector<AlertHistoryEntry>> History(std::uint64_t id) const = 0;

  // Stores a silence (a new one, or an edit of a stored one), committed when it returns.
  virtual Status PutSilence(const Silence& silence) = 0;
  // Every silence, newest first, at most `limit`.
  virtual Result<std::vector<Silence>> ListSilences(std::size_t limit) const = 0;
  // Silences that end after `now_ns` (in force or pending), ascending id; and the highest id.
  virtual Result<std::vector<Silence>> LoadSilences(std::int64_t now_ns,
                                                    std::uint64_t* max_id) const = 0;
};

}  // namespace aquawatch
