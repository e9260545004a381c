// AlertManager: the owner of the live alerts and their lifecycle (docs/alerts.md).
//
// Shard threads report conditions as they change (a threshold crossed or cleared, an event or a
// fault opened or closed); the manager keeps one alert per condition (its dedup key), moves it
// through open → acknowledged → resolved, reopens it when the condition returns within the
// reopen window, and resolves it by itself once the condition has been clear for the hold time.
// People acknowledge, resolve and comment through the API. Every change is announced to the
// listeners at once and written, with a history entry, to the AlertStore by the manager's own
// writer thread, so a shard never waits for a disk.
//
// After a restart, Load reads the live alerts back and the manager recovers: while the shards
// replay, transitions only say what each condition is; FinishRecovery then reconciles, so a
// replayed log neither duplicates alerts nor rewrites their history.
//
// Thread-safety: every method may be called from any thread. Listeners are called with the
// manager's lock held, in event order, and must not block or call back into the manager.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "alert/alert.h"
#include "alert/alert_store.h"
#include "core/clock.h"
#include "core/reading.h"
#include "detect/rules.h"

namespace aquawatch {

struct AlertEvent {
  enum class Type : std::uint8_t {
    kOpened,
    kUpdated,  // severity, classification or condition changed while unresolved
    kResolved,
    kReopened,
    kAcknowledged,
    kCommented,
  };
  Type type;
  Alert alert;
  // Caused by a reading, so reading received → event is a latency worth measuring (not by a
  // person or the hold timer).
  bool from_reading = false;
};
std::string_view AlertEventTypeName(AlertEvent::Type t);

class AlertListener {
 public:
  virtual ~AlertListener() = default;
  virtual void OnAlertEvent(const AlertEvent& event) = 0;
};

struct ThresholdTransition {
  std::string_view sensor, site, zone;
  ParameterId parameter;
  Level from, to;
  double value;
  double threshold;
  std::int64_t reading_time_ns;
  std::int64_t received_ns;
};

// The detection engine opening or closing an event (or a persistent sensor fault) on a sensor.
struct DetectorTransition {
  std::string_view sensor, site, zone;
  std::string_view kind;  // "event", "sensor_fault" or "sensor_offline"
  bool open;
  std::string_view classification;
  std::string_view parameters;  // comma-separated parameters that moved
  std::string_view evidence;    // e.g. "free_chlorine_mg_l -14.2 sd, turbidity_ntu +31.0 sd"
  AlertPriority priority;
  std::int64_t reading_time_ns;
  std::int64_t received_ns;
};

inline constexpr std::string_view kEventKind = "event";
inline constexpr std::string_view kZoneEventKind = "zone_event";

// Longest `by` and comment an operator may send.
inline constexpr std::size_t kMaxActorBytes = 128;
inline constexpr std::size_t kMaxCommentBytes = 4096;

struct AlertOptions {
  // A zone_event alert opens while at least this many sensors of one zone have an open event
  // alert (0 = never).
  std::size_t zone_min_sensors = 2;
  // An alert resolves by itself once its condition has been clear this long (0 = at once).
  std::int64_t resolve_hold_ns = 0;
  // A condition that returns within this time of its alert's resolution reopens that alert
  // instead of opening a new one (0 = never).
  std::int64_t reopen_window_ns = 0;
};

class AlertManager {
 public:
  // Alerts in a private in-memory store, on the system clock: tests and tools.
  explicit AlertManager(AlertOptions options = {});
  // REQUIRES: `clock` outlives the manager.
  AlertManager(Clock& clock, AlertOptions options, std::unique_ptr<AlertStore> store);
  // Stores what is still pending (retrying a failing store for a few seconds) and stops.
  ~AlertManager();
  AlertManager(const AlertManager&) = delete;
  AlertManager& operator=(const AlertManager&) = delete;

  // Reads the live alerts back from the store and starts recovery. Call once, before any
  // transition.
  Status Load();
  // Ends recovery: every condition the replay reported is applied, and a loaded alert whose
  // condition was not reported is cleared. A no-op when not recovering.
  void FinishRecovery();

  void OnThresholdTransition(const ThresholdTransition& t);
  void OnDetectorTransition(const DetectorTransition& t);

  // People's actions; `by` says who (an empty or overlong `by` or comment is InvalidArgument
  // naming the field). Each returns the alert as it is after the change, once the change is
  // stored. NotFound for an unknown id; Conflict when the state forbids it (acknowledging an
  // alert that is already acknowledged or resolved, resolving a resolved one); Unavailable when
  // the store keeps failing (the change stays in memory and is stored when the store recovers).
  Result<Alert> Acknowledge(std::uint64_t id, std::string_view by, std::string_view comment);
  Result<Alert> Resolve(std::uint64_t id, std::string_view by, std::string_view comment);
  // Any alert, resolved ones too. REQUIRES a non-empty comment.
  Result<Alert> Comment(std::uint64_t id, std::string_view by, std::string_view comment);

  // Silences (docs/alerts.md). Create: `s` carries the matchers, the time range (starts_at 0 =
  // now), created_by and comment; the manager gives it its id. InvalidArgument naming the field
  // for no matcher, an unknown kind, an empty or overlong created_by or comment, an end not
  // after the start or already past. Stored before it returns.
  Result<Silence> CreateSilence(Silence s);
  // Ends a silence now. NotFound; Conflict when it has already ended.
  Result<Silence> ExpireSilence(std::uint64_t id, std::string_view by);
  // Newest first.
  Result<std::vector<Silence>> ListSilences(std::size_t limit);
  Result<std::optional<Silence>> GetSilence(std::uint64_t id);

  // Resolves the alerts whose condition has been clear for the hold time and forgets resolved
  // ones past the reopen window. The writer thread calls it every kTickPeriod.
  void Tick();
  static constexpr std::chrono::milliseconds kTickPeriod{100};

  // Waits until every change made so far is stored; Unavailable after `timeout`.
  Status Sync(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Reads, from the store, after a Sync (so a reader sees every change made before it asked).
  Result<std::vector<Alert>> Query(const AlertQuery& query);
  Result<std::optional<Alert>> Get(std::uint64_t id);
  Result<std::vector<AlertHistoryEntry>> History(std::uint64_t id);
  // The alerts grouped with `alert` (newest first): for a zone incident ("zone_event"), the
  // sensors' "event" alerts of its zone that were in alarm at some time while it was; for an
  // "event" alert, the zone incidents it was part of. Empty for other kinds or without a zone.
  // Derived from the stored alerts' times (sensor time), so it holds for alerts of any age.
  Result<std::vector<Alert>> Grouped(const Alert& alert);
  // The alert as it is now, with its suppression as of now: from memory while it is live, else
  // from the store. nullopt when unknown or unreadable. For the Notifier.
  std::optional<Alert> Current(std::uint64_t id);

  // A shorthand for tests and tools: newest first; kOpen means unresolved. Empty on a store
  // error (which it logs).
  enum class Filter { kAll, kOpen, kResolved };
  std::vector<Alert> List(Filter filter, std::size_t limit, std::string_view sensor = {});

  std::size_t OpenCount() const;  // unresolved alerts (open or acknowledged)
  std::uint64_t store_failures() const;

  // REQUIRES: the listener outlives the manager or is removed first.
  void AddListener(AlertListener* listener);
  void RemoveListener(AlertListener* listener);

 private:
  // What a transition says about one condition. Owns its text: recovery keeps the last one per
  // key until FinishRecovery.
  struct Condition {
    std::string key;
    std::string sensor, site, zone, kind, parameter, classification, message;
    bool active = false;
    Level level = Level::kNormal;
    AlertPriority priority = AlertPriority::kMedium;
    double value = 0, threshold = 0;
    std::int64_t reading_time_ns = 0, received_ns = 0;
  };
  // Which sensors of a zone have an open event alert.
  struct ZoneEvents {
    std::map<std::string, bool> sensors;  // sensor -> its event looked like contamination
  };

  // All REQUIRE mu_ held.
  void Apply(Condition&& c);
  void Open(Condition&& c, std::int64_t now);
  void ResolveAutomatically(Alert& a, std::int64_t now, bool from_reading);
  void Forget(const Alert& a);
  // Adds a history entry for `a`'s latest change, queues both for the store, tells listeners.
  void Record(Alert& a, std::string_view action, std::string_view actor, std::string_view detail,
              AlertEvent::Type type, bool from_reading, std::int64_t now);
  void TickLocked(std::int64_t now);
  // Why `a` is not to be pushed to people now ("" = it is): a silence in force that matches it,
  // or, for a threshold alert, an unresolved offline or fault alert of its sensor (inhibition).
  std::string SuppressionOf(const Alert& a, std::int64_t now) const;
  // Sets suppressed_by of the unresolved alerts in `alerts` as it is now.
  void RefreshSuppression(std::vector<Alert>& alerts);
  // A sensor of `zone` entered or left an event.
  void UpdateZone(std::string_view zone, std::string_view sensor, bool in_event,
                  const DetectorTransition& t);
  // Waits until the changes up to `target` are stored. `lock` holds mu_.
  Status WaitStored(std::unique_lock<std::mutex>& lock, std::uint64_t target,
                    std::chrono::milliseconds timeout);
  // Acknowledge, Resolve and Comment: checks the input, applies `change` to the live alert (or,
  // for comments, to a stored one) and waits for the store.
  template <typename Change>
  Result<Alert> Act(std::uint64_t id, std::string_view by, std::string_view comment,
                    bool comment_required, Change&& change);
  // The live or resting alert with this id, or nullptr.
  Alert* FindForAction(std::uint64_t id);
  Status WriteOneByOne(const std::vector<AlertChange>& batch);
  void WriterLoop();

  Clock& clock_;
  const AlertOptions options_;
  const std::unique_ptr<AlertStore> store_;

  mutable std::mutex mu_;
  std::uint64_t next_id_ = 1;
  // Alerts transitions can still reach: unresolved ones, resolved ones whose condition holds,
  // resolved ones inside the reopen window. By id.
  std::map<std::uint64_t, Alert> live_;
  std::unordered_map<std::string, std::uint64_t> by_key_;  // dedup key -> live alert id
  std::size_t unresolved_ = 0;
  std::map<std::string, ZoneEvents, std::less<>> zone_events_;  // zones with a sensor in alarm
  bool recovering_ = false;
  std::map<std::string, Condition> recovered_;  // key -> the last condition reported
  // Final alerts read back from the store for a comment, so that two comments at once number
  // their history entries in turn. Cleared when it grows past kMaxResting and nothing is pending.
  std::map<std::uint64_t, Alert> resting_;
  static constexpr std::size_t kMaxResting = 1024;
  std::vector<AlertListener*> listeners_;
  std::vector<Silence> silences_;  // in force or pending, by id
  std::uint64_t next_silence_id_ = 1;
  std::mutex silence_write_mu_;  // one silence edit at a time: check, store, publish

  // The journal: changes waiting for the writer thread.
  std::vector<AlertChange> pending_;
  std::uint64_t changes_made_ = 0, changes_stored_ = 0;
  std::uint64_t store_failures_ = 0;
  Status last_store_error_;
  bool stop_ = false;
  std::condition_variable wake_writer_, stored_;
  std::thread writer_;
};

}  // namespace aquawatch
