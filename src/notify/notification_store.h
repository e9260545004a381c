// NotificationStore: the delivery record of every notification, the escalation state of every
// alert being paged, and the policy set over the API, in <data_dir>/notifications.db (SQLite;
// docs/format/notifications.md).
//
// Commits are not fsynced (WAL, synchronous=NORMAL): a kill -9 loses nothing, a power cut may
// lose the last commits, which the Notifier makes good by paging again (at least once, never a
// silent loss). Thread-safety: every method may be called from any thread (one mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "alert/alert.h"
#include "core/status.h"
#include "notify/notification.h"

namespace aquawatch {

enum class NotificationState : std::uint8_t { kPending, kDelivered, kFailed, kCancelled };
std::string_view NotificationStateName(NotificationState s);
std::optional<NotificationState> ParseNotificationState(std::string_view name);

struct NotificationRecord {
  std::uint64_t id = 0;
  std::uint64_t alert_id = 0;
  bool resolved = false;  // tells of the resolution (else: the alert is firing)
  AlertPriority priority = AlertPriority::kMedium;
  std::string policy, receiver;
  Target target;
  std::uint32_t stage = 0, repeat = 0;
  NotificationState state = NotificationState::kPending;
  std::uint32_t attempts = 0;
  std::int64_t created_at_ns = 0;
  std::int64_t next_attempt_at_ns = 0;  // pending: not before this
  std::int64_t finished_at_ns = 0;      // delivered, failed or cancelled: when
  // Why a pending notification waits ("quiet_hours", "rate_limit", "retry"), or why it was
  // cancelled ("alert acknowledged"); the last error of a failed one is in last_error.
  std::string held_by;
  std::string last_error;
  // When the reading that caused the alert's change arrived, for the delivery latency; 0 when
  // a person or a timer caused it.
  std::int64_t received_ns = 0;
};

struct NotificationAttempt {
  std::uint64_t notification_id = 0;
  std::uint32_t seq = 0;  // 0, 1, 2 ...
  std::int64_t at_ns = 0, duration_ns = 0;
  bool ok = false;
  int status = 0;
  std::string detail;
};

// Where an alert is in one escalation policy.
struct Page {
  std::uint64_t alert_id = 0;
  std::string policy;
  std::int64_t started_at_ns = 0;      // opened or reopened: stage delays count from here
  std::uint32_t next_stage = 0;        // stages before it have been told
  std::uint32_t repeats = 0;           // repeats sent so far
  std::int64_t next_repeat_at_ns = 0;  // 0 = none due
};

struct NotificationQuery {
  std::vector<NotificationState> states;  // any of; empty = any
  std::uint64_t alert_id = 0;             // 0 = any
  std::string channel, receiver;          // "" = any
  std::uint64_t before_id = 0;            // cursor: ids below it; 0 = from the newest
  std::size_t limit = 100;
};

// Changes the Notifier commits together, so a crash never keeps a stage's notifications without
// the page that says the stage was told (or the reverse).
struct NotifyChanges {
  std::vector<NotificationRecord> records;  // inserted or updated
  std::vector<Page> pages;                  // inserted or updated
  std::vector<std::uint64_t> ended_pages;   // alert ids whose pages are deleted (applied first)
  bool empty() const { return records.empty() && pages.empty() && ended_pages.empty(); }
};

class NotificationStore {
 public:
  virtual ~NotificationStore() = default;
  // One transaction.
  virtual Status Apply(const NotifyChanges& changes) = 0;
  // Records an attempt and the notification as it is after it (one transaction).
  virtual Status PutAttempt(const NotificationAttempt& attempt,
                            const NotificationRecord& record) = 0;
  virtual Result<std::vector<NotificationRecord>> Query(const NotificationQuery& q) const = 0;
  virtual Result<std::optional<NotificationRecord>> Get(std::uint64_t id) const = 0;
  virtual Result<std::vector<NotificationAttempt>> Attempts(std::uint64_t id) const = 0;
  virtual Result<std::vector<NotificationRecord>> LoadPending() const = 0;
  virtual Result<std::uint64_t> MaxId() const = 0;

  virtual Result<std::vector<Page>> LoadPages() const = 0;

  // The policy document set over the API; nullopt = none (the config's policy holds).
  virtual Result<std::optional<std::string>> LoadPolicy() const = 0;
  virtual Status SavePolicy(const std::optional<std::string>& json, std::string_view by,
                            std::int64_t at_ns) = 0;
};

// Opens (creating) the store at `path` (":memory:" for tests).
Result<std::unique_ptr<NotificationStore>> OpenNotificationStore(const std::string& path);

}  // namespace aquawatch
