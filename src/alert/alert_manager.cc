#include "alert/alert_manager.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "alert/sqlite_alert_store.h"

namespace aquawatch {

std::string_view PriorityName(AlertPriority p) {
  switch (p) {
    case AlertPriority::kHigh:
      return "high";
    case AlertPriority::kMedium:
      return "medium";
    case AlertPriority::kLow:
      return "low";
  }
  return "unknown";
}

std::optional<AlertPriority> ParsePriority(std::string_view name) {
  for (AlertPriority p : {AlertPriority::kHigh, AlertPriority::kMedium, AlertPriority::kLow}) {
    if (PriorityName(p) == name) return p;
  }
  return std::nullopt;
}

std::string_view AlertStateName(AlertState s) {
  switch (s) {
    case AlertState::kOpen:
      return "open";
    case AlertState::kAcknowledged:
      return "acknowledged";
    case AlertState::kResolved:
      return "resolved";
  }
  return "unknown";
}

std::optional<AlertState> ParseAlertState(std::string_view name) {
  for (AlertState s : {AlertState::kOpen, AlertState::kAcknowledged, AlertState::kResolved}) {
    if (AlertStateName(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view SilenceStateName(const Silence& s, std::int64_t now_ns) {
  if (now_ns < s.starts_at_ns) return "pending";
  return now_ns < s.ends_at_ns ? "active" : "expired";
}

std::string_view AlertEventTypeName(AlertEvent::Type t) {
  switch (t) {
    case AlertEvent::Type::kOpened:
      return "opened";
    case AlertEvent::Type::kUpdated:
      return "updated";
    case AlertEvent::Type::kResolved:
      return "resolved";
    case AlertEvent::Type::kReopened:
      return "reopened";
    case AlertEvent::Type::kAcknowledged:
      return "acknowledged";
    case AlertEvent::Type::kCommented:
      return "commented";
  }
  return "unknown";
}

namespace {

std::string DedupKey(std::string_view sensor, std::string_view kind, std::string_view parameter) {
  std::string key;
  key.reserve(sensor.size() + kind.size() + parameter.size() + 2);
  key.append(sensor).append(1, '\x1f').append(kind).append(1, '\x1f').append(parameter);
  return key;
}

// The key of the condition an alert is about: thresholds per parameter, zone events per zone,
// the detector's kinds per sensor.
std::string KeyOf(const Alert& a) {
  if (a.kind == "threshold") return DedupKey(a.sensor, a.kind, a.parameter);
  if (a.kind == kZoneEventKind) return DedupKey("", a.kind, a.zone);
  return DedupKey(a.sensor, a.kind, "");
}

std::string Describe(std::string_view parameter, Level level, double value, double threshold) {
  const char* side = IsLow(level) ? "below" : "above";
  const char* severity = IsCritical(level) ? "critical" : "warning";
  return fmt::format("{} {} is {} the {} limit {}", parameter, value, side, severity, threshold);
}

// How long a failing store is retried at shutdown before what is pending is given up (and
// logged).
constexpr auto kShutdownRetry = std::chrono::seconds(5);

}  // namespace

AlertManager::AlertManager(AlertOptions options)
    : AlertManager(SystemClock(), options, [] {
        auto store = OpenSqliteAlertStore(":memory:");
        // An in-memory SQLite database fails to open only when memory is exhausted.
        if (!store.ok()) {
          spdlog::critical("alerts: {}", store.status().ToString());
          std::abort();
        }
        return std::move(store).value();
      }()) {}

AlertManager::AlertManager(Clock& clock, AlertOptions options, std::unique_ptr<AlertStore> store)
    : clock_(clock), options_(options), store_(std::move(store)) {
  writer_ = std::thread([this] { WriterLoop(); });
}

AlertManager::~AlertManager() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_writer_.notify_all();
  writer_.join();
}

Status AlertManager::Load() {
  const std::int64_t now = clock_.NowNs();
  auto live =
      store_->LoadLive(options_.reopen_window_ns > 0 ? now - options_.reopen_window_ns : now);
  if (!live.ok()) return live.status();
  std::lock_guard lock(mu_);
  next_id_ = std::max(next_id_, live->max_id + 1);
  for (Alert& a : live->alerts) {
    std::string key = KeyOf(a);
    if (auto it = by_key_.find(key); it != by_key_.end()) {
      // Two live alerts for one condition cannot be written by this manager; keep the newer.
      spdlog::warn("alerts: alerts {} and {} are both live for one condition; keeping {}",
                   it->second, a.id, a.id);
      Alert& older = live_.at(it->second);
      if (!older.resolved()) --unresolved_;
      live_.erase(it->second);
    }
    by_key_[key] = a.id;
    if (!a.resolved()) ++unresolved_;
    const std::uint64_t id = a.id;
    live_.emplace(id, std::move(a));
  }
  std::uint64_t max_silence = 0;
  auto silences = store_->LoadSilences(now, &max_silence);
  if (!silences.ok()) return silences.status();
  silences_ = std::move(silences).value();
  next_silence_id_ = max_silence + 1;
  recovering_ = true;
  spdlog::info("alerts: {} live alerts loaded ({} unresolved), {} silences in force or pending",
               live_.size(), unresolved_, silences_.size());
  return Status::Ok();
}

void AlertManager::FinishRecovery() {
  std::lock_guard lock(mu_);
  if (!recovering_) return;
  recovering_ = false;
  std::map<std::string, Condition> recovered;
  recovered.swap(recovered_);
  // A loaded alert whose condition nobody reported again no longer holds.
  std::vector<Condition> unseen;
  for (const auto& [key, id] : by_key_) {
    const Alert& a = live_.at(id);
    if (!a.active || recovered.count(key) != 0) continue;
    Condition c;
    c.key = key;
    c.active = false;
    c.value = a.value;
    c.reading_time_ns = a.reading_time_ns;
    c.received_ns = a.received_ns;
    c.message = "the condition was not found again after the restart";
    unseen.push_back(std::move(c));
  }
  for (Condition& c : unseen) Apply(std::move(c));
  for (auto& [key, c] : recovered) Apply(std::move(c));
}

void AlertManager::OnThresholdTransition(const ThresholdTransition& t) {
  if (t.from == t.to) return;
  const std::string_view parameter = ParameterName(t.parameter);
  Condition c;
  c.key = DedupKey(t.sensor, "threshold", parameter);
  c.sensor = t.sensor;
  c.site = t.site;
  c.zone = t.zone;
  c.kind = "threshold";
  c.parameter = parameter;
  c.active = t.to != Level::kNormal;
  c.level = t.to;
  c.priority = IsCritical(t.to) ? AlertPriority::kHigh : AlertPriority::kMedium;
  c.value = t.value;
  c.threshold = t.threshold;
  c.reading_time_ns = t.reading_time_ns;
  c.received_ns = t.received_ns;
  c.message = c.active ? Describe(parameter, t.to, t.value, t.threshold)
                       : fmt::format("{} back to normal at {}", parameter, t.value);
  std::lock_guard lock(mu_);
  Apply(std::move(c));
}

void AlertManager::OnDetectorTransition(const DetectorTransition& t) {
  Condition c;
  c.key = DedupKey(t.sensor, t.kind, "");
  c.sensor = t.sensor;
  c.site = t.site;
  c.zone = t.zone;
  c.kind = t.kind;
  c.parameter = t.parameters;
  c.classification = t.classification;
  c.active = t.open;
  c.priority = t.priority;
  c.reading_time_ns = t.reading_time_ns;
  c.received_ns = t.received_ns;
  c.message = t.open ? fmt::format("{}: {}", t.classification, t.evidence)
                     : fmt::format("{} on {} is over", t.kind, t.sensor);
  std::lock_guard lock(mu_);
  Apply(std::move(c));
  if (t.kind == kEventKind) UpdateZone(t.zone, t.sensor, t.open, t);
}

void AlertManager::UpdateZone(std::string_view zone, std::string_view sensor, bool in_event,
                              const DetectorTransition& t) {
  if (zone.empty() || options_.zone_min_sensors == 0) return;
  auto zit = zone_events_.find(zone);
  if (zit == zone_events_.end()) {
    if (!in_event) return;
    zit = zone_events_.emplace(std::string(zone), ZoneEvents{}).first;
  }
  ZoneEvents& z = zit->second;
  if (in_event) {
    z.sensors.emplace(sensor, t.classification == "probable_contamination");
  } else {
    z.sensors.erase(std::string(sensor));
  }
  std::string sensors;
  bool contamination = false;
  for (const auto& [id, is_contamination] : z.sensors) {
    if (!sensors.empty()) sensors += ", ";
    sensors += id;
    contamination = contamination || is_contamination;
  }
  // Several sensors of one zone in alarm at once: one zone alert, always high priority.
  Condition c;
  c.key = DedupKey("", kZoneEventKind, zone);
  c.zone = zone;
  c.kind = kZoneEventKind;
  c.active = z.sensors.size() >= options_.zone_min_sensors;
  c.priority = AlertPriority::kHigh;
  c.reading_time_ns = t.reading_time_ns;
  c.received_ns = t.received_ns;
  if (c.active) {
    c.parameter = sensors;
    c.classification = contamination ? "probable_contamination" : "water_quality_deviation";
    c.message =
        fmt::format("{} sensors of zone {} in alarm at once: {}", z.sensors.size(), zone, sensors);
    // Once contamination was seen in the zone, the incident stays contamination.
    if (auto k = by_key_.find(c.key); k != by_key_.end()) {
      const Alert& a = live_.at(k->second);
      if (!a.resolved() && a.classification == "probable_contamination") {
        c.classification = a.classification;
      }
    }
  } else {
    c.message =
        fmt::format("fewer than {} sensors of zone {} in alarm", options_.zone_min_sensors, zone);
  }
  if (z.sensors.empty()) zone_events_.erase(zit);
  Apply(std::move(c));
}

void AlertManager::Apply(Condition&& c) {
  if (recovering_) {
    std::string key = c.key;
    recovered_.insert_or_assign(std::move(key), std::move(c));
    return;
  }
  const std::int64_t now = clock_.NowNs();
  auto k = by_key_.find(c.key);
  Alert* a = k == by_key_.end() ? nullptr : &live_.at(k->second);
  // The reading's side of the alert, whatever the lifecycle does.
  auto take_reading = [&c](Alert& alert) {
    alert.value = c.value;
    alert.reading_time_ns = c.reading_time_ns;
    alert.received_ns = c.received_ns;
    alert.message = c.message;
  };

  if (!c.active) {
    if (a == nullptr || !a->active) return;
    a->active = false;
    a->cleared_ns = c.reading_time_ns;
    a->cleared_at_ns = now;
    take_reading(*a);
    if (a->resolved()) {  // resolved by hand while the condition held
      Record(*a, "cleared", "", a->message, AlertEvent::Type::kUpdated, true, now);
      if (now - a->resolved_at_ns >= options_.reopen_window_ns) Forget(*a);
      return;
    }
    if (options_.resolve_hold_ns <= 0) {
      ResolveAutomatically(*a, now, /*from_reading=*/true);
    } else {
      Record(*a, "cleared", "", a->message, AlertEvent::Type::kUpdated, true, now);
    }
    return;
  }

  // The hold and the window count in sensor time here, so a backfill or a replay of old data
  // (hours of sensor time in seconds) gets the alerts live data would have had. Tick counts them
  // in server time, for conditions whose sensor then falls silent.
  const std::int64_t clear_for = a == nullptr ? 0 : c.reading_time_ns - a->cleared_ns;
  if (a != nullptr && !a->resolved() && !a->active && clear_for >= options_.resolve_hold_ns) {
    ResolveAutomatically(*a, now, /*from_reading=*/true);
  }
  if (a != nullptr && a->resolved() && !a->active &&
      (clear_for >= options_.reopen_window_ns ||
       now - a->resolved_at_ns >= options_.reopen_window_ns)) {
    Forget(*a);
    a = nullptr;
  }
  if (a == nullptr) return Open(std::move(c), now);
  if (a->resolved()) {
    if (a->active) {  // resolved by hand while it held: people said they have it in hand
      take_reading(*a);
      return;
    }
    a->state = AlertState::kOpen;
    a->active = true;
    a->level = c.level;
    a->priority = c.priority;
    a->classification = c.classification;
    a->parameter = c.parameter;
    a->threshold = c.threshold;
    a->cleared_ns = a->cleared_at_ns = a->resolved_ns = a->resolved_at_ns = 0;
    a->resolved_by.clear();
    a->acked_by.clear();
    a->ack_comment.clear();
    a->acked_at_ns = 0;
    ++a->reopened;
    ++unresolved_;
    take_reading(*a);
    Record(*a, "reopened", "", a->message, AlertEvent::Type::kReopened, true, now);
    return;
  }
  const bool returned = !a->active;
  // The detector reports an event or fault once, when it opens; a report while it is open (a
  // re-raise after a restart) carries less than the original, so it changes nothing.
  const bool detector_kind = a->kind != "threshold" && a->kind != kZoneEventKind;
  if (detector_kind && !returned) return;
  if (detector_kind && c.parameter.empty()) c.parameter = a->parameter;
  if (detector_kind && c.classification.empty()) c.classification = a->classification;
  const bool changed = a->level != c.level || a->priority != c.priority ||
                       a->classification != c.classification || a->parameter != c.parameter;
  // A rise in priority needs a new acknowledgement: the person who took the warning may not
  // know it is now critical.
  const bool rose = a->state == AlertState::kAcknowledged && c.priority < a->priority;
  a->active = true;
  a->cleared_ns = a->cleared_at_ns = 0;
  a->level = c.level;
  a->priority = c.priority;
  a->classification = c.classification;
  a->parameter = c.parameter;
  a->threshold = c.threshold;
  take_reading(*a);
  if (rose) {
    a->state = AlertState::kOpen;
    a->acked_by.clear();
    a->ack_comment.clear();
    a->acked_at_ns = 0;
    Record(*a, "updated", "",
           fmt::format("{} (priority rose to {}; the acknowledgement no longer holds)", a->message,
                       PriorityName(a->priority)),
           AlertEvent::Type::kUpdated, true, now);
  } else if (returned) {
    Record(*a, "returned", "", a->message, AlertEvent::Type::kUpdated, true, now);
  } else if (changed) {
    Record(*a, "updated", "", a->message, AlertEvent::Type::kUpdated, true, now);
  }
  // Unchanged and still active (a re-raise after a restart): nothing to tell anyone.
}

void AlertManager::Open(Condition&& c, std::int64_t now) {
  Alert alert;
  alert.id = next_id_++;
  alert.sensor = std::move(c.sensor);
  alert.site = std::move(c.site);
  alert.zone = std::move(c.zone);
  alert.kind = std::move(c.kind);
  alert.parameter = std::move(c.parameter);
  alert.classification = std::move(c.classification);
  alert.level = c.level;
  alert.priority = c.priority;
  alert.value = c.value;
  alert.threshold = c.threshold;
  alert.reading_time_ns = c.reading_time_ns;
  alert.received_ns = c.received_ns;
  alert.opened_ns = c.reading_time_ns;
  alert.message = std::move(c.message);
  by_key_.insert_or_assign(std::move(c.key), alert.id);
  ++unresolved_;
  auto [pos, inserted] = live_.emplace(alert.id, std::move(alert));
  Alert& a = pos->second;
  Record(a, "opened", "", a.message, AlertEvent::Type::kOpened, true, now);
}

void AlertManager::ResolveAutomatically(Alert& a, std::int64_t now, bool from_reading) {
  a.state = AlertState::kResolved;
  a.resolved_ns = a.cleared_ns;
  a.resolved_at_ns = now;
  a.resolved_by.clear();
  --unresolved_;
  Record(a, "resolved", "", a.message, AlertEvent::Type::kResolved, from_reading, now);
  // Forgotten by the next Tick past the reopen window; until then it may reopen.
}

void AlertManager::Forget(const Alert& a) {
  // Only resolved, cleared alerts are forgotten, so the store's copy is final.
  if (auto k = by_key_.find(KeyOf(a)); k != by_key_.end() && k->second == a.id) by_key_.erase(k);
  live_.erase(a.id);
}

void AlertManager::Record(Alert& a, std::string_view action, std::string_view actor,
                          std::string_view detail, AlertEvent::Type type, bool from_reading,
                          std::int64_t now) {
  a.updated_at_ns = now;
  a.suppressed_by = SuppressionOf(a, now);
  AlertHistoryEntry entry{a.history_size++, now, std::string(action), std::string(actor),
                          std::string(detail)};
  pending_.push_back({a, std::move(entry)});
  ++changes_made_;
  wake_writer_.notify_one();
  if (listeners_.empty()) return;
  AlertEvent event{type, a, from_reading};
  for (AlertListener* l : listeners_) l->OnAlertEvent(event);
}

void AlertManager::Tick() {
  const std::int64_t now = clock_.NowNs();
  std::lock_guard lock(mu_);
  TickLocked(now);
}

std::string AlertManager::SuppressionOf(const Alert& a, std::int64_t now) const {
  for (const Silence& s : silences_) {
    if (s.InForce(now) && s.Matches(a)) return fmt::format("silence {}", s.id);
  }
  if (a.kind != "threshold") return {};
  // A probe that is offline or faulty reads wrong: its threshold alerts say nothing new.
  for (std::string_view kind :
       {std::string_view("sensor_offline"), std::string_view("sensor_fault")}) {
    auto k = by_key_.find(DedupKey(a.sensor, kind, ""));
    if (k == by_key_.end()) continue;
    const Alert& cause = live_.at(k->second);
    if (!cause.resolved() && cause.active) return fmt::format("alert {} ({})", cause.id, kind);
  }
  return {};
}

void AlertManager::RefreshSuppression(std::vector<Alert>& alerts) {
  const std::int64_t now = clock_.NowNs();
  std::lock_guard lock(mu_);
  for (Alert& a : alerts) {
    if (!a.resolved()) a.suppressed_by = SuppressionOf(a, now);
  }
}

void AlertManager::TickLocked(std::int64_t now) {
  std::erase_if(silences_, [now](const Silence& s) { return s.ends_at_ns <= now; });
  if (recovering_) return;
  // Live alerts are few next to sensors (unresolved ones plus a window's worth of resolved), so
  // a walk per tick is cheap; a timer queue would be the next step if that changes.
  for (auto it = live_.begin(); it != live_.end();) {
    Alert& a = (it++)->second;  // advanced first: the alert may be forgotten below
    if (a.active) continue;
    if (!a.resolved()) {
      if (now - a.cleared_at_ns >= options_.resolve_hold_ns) {
        ResolveAutomatically(a, now, /*from_reading=*/false);
      }
    } else if (now - a.resolved_at_ns >= options_.reopen_window_ns) {
      Forget(a);
    }
  }
}

Status AlertManager::WaitStored(std::unique_lock<std::mutex>& lock, std::uint64_t target,
                                std::chrono::milliseconds timeout) {
  if (stored_.wait_for(lock, timeout, [&] { return changes_stored_ >= target; })) {
    return Status::Ok();
  }
  return Status::Unavailable(fmt::format(
      "alerts: the alert store has not taken the change after {} ms (it stays pending): {}",
      timeout.count(), last_store_error_.ok() ? "still writing" : last_store_error_.message()));
}

Status AlertManager::Sync(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return WaitStored(lock, changes_made_, timeout);
}

template <typename Change>
Result<Alert> AlertManager::Act(std::uint64_t id, std::string_view by, std::string_view comment,
                                bool comment_required, Change&& change) {
  if (by.empty()) return Status::InvalidArgument("field 'by': say who you are");
  if (by.size() > kMaxActorBytes) {
    return Status::InvalidArgument(
        fmt::format("field 'by': must be at most {} bytes (got {})", kMaxActorBytes, by.size()));
  }
  if (comment_required && comment.empty()) {
    return Status::InvalidArgument("field 'comment': required");
  }
  if (comment.size() > kMaxCommentBytes) {
    return Status::InvalidArgument(fmt::format("field 'comment': must be at most {} bytes (got {})",
                                               kMaxCommentBytes, comment.size()));
  }
  std::unique_lock lock(mu_);
  Alert* a = FindForAction(id);
  if (a == nullptr) {
    // Not live: resolved past the reopen window, or unknown. A stored alert that is not live is
    // final, so its row is the alert as it is.
    if (Status s = WaitStored(lock, changes_made_, std::chrono::seconds(5)); !s.ok()) return s;
    lock.unlock();
    auto got = store_->Get(id);
    if (!got.ok()) return got.status();
    if (!got->has_value()) return Status::NotFound(fmt::format("no alert {}", id));
    lock.lock();
    a = FindForAction(id);  // someone else's action may have brought it in meanwhile
    if (a == nullptr) {
      if (resting_.size() >= kMaxResting && changes_stored_ == changes_made_) resting_.clear();
      a = &resting_.emplace(id, std::move(**got)).first->second;
    }
  }
  const std::int64_t now = clock_.NowNs();
  if (Status s = change(*a, now); !s.ok()) return s;
  Alert result = *a;
  if (Status s = WaitStored(lock, changes_made_, std::chrono::seconds(5)); !s.ok()) return s;
  return result;
}

Alert* AlertManager::FindForAction(std::uint64_t id) {
  if (auto it = live_.find(id); it != live_.end()) return &it->second;
  if (auto it = resting_.find(id); it != resting_.end()) return &it->second;
  return nullptr;
}

Result<Alert> AlertManager::Acknowledge(std::uint64_t id, std::string_view by,
                                        std::string_view comment) {
  return Act(id, by, comment, false, [&](Alert& a, std::int64_t now) -> Status {
    if (a.resolved()) return Status::Conflict(fmt::format("alert {} is resolved", a.id));
    if (a.state == AlertState::kAcknowledged) {
      return Status::Conflict(
          fmt::format("alert {} is already acknowledged by {}", a.id, a.acked_by));
    }
    a.state = AlertState::kAcknowledged;
    a.acked_by = by;
    a.ack_comment = comment;
    a.acked_at_ns = now;
    Record(a, "acknowledged", by, comment, AlertEvent::Type::kAcknowledged, false, now);
    return Status::Ok();
  });
}

Result<Alert> AlertManager::Resolve(std::uint64_t id, std::string_view by,
                                    std::string_view comment) {
  return Act(id, by, comment, false, [&](Alert& a, std::int64_t now) -> Status {
    if (a.resolved()) return Status::Conflict(fmt::format("alert {} is already resolved", a.id));
    a.state = AlertState::kResolved;
    a.resolved_ns = now;
    a.resolved_at_ns = now;
    a.resolved_by = by;
    --unresolved_;
    Record(a, "resolved", by, comment.empty() ? std::string_view("resolved by hand") : comment,
           AlertEvent::Type::kResolved, false, now);
    return Status::Ok();  // a cleared alert is forgotten by the next Tick past the window
  });
}

Result<Alert> AlertManager::Comment(std::uint64_t id, std::string_view by,
                                    std::string_view comment) {
  return Act(id, by, comment, true, [&](Alert& a, std::int64_t now) -> Status {
    Record(a, "commented", by, comment, AlertEvent::Type::kCommented, false, now);
    return Status::Ok();
  });
}

Result<std::vector<Alert>> AlertManager::Query(const AlertQuery& query) {
  if (Status s = Sync(); !s.ok()) return s;
  auto list = store_->List(query);
  if (list.ok()) RefreshSuppression(*list);
  return list;
}

Result<std::optional<Alert>> AlertManager::Get(std::uint64_t id) {
  if (Status s = Sync(); !s.ok()) return s;
  auto got = store_->Get(id);
  if (!got.ok() || !got->has_value()) return got;
  std::vector<Alert> one{std::move(**got)};
  RefreshSuppression(one);
  return std::optional<Alert>(std::move(one.front()));
}

Result<std::vector<Alert>> AlertManager::Grouped(const Alert& alert) {
  std::vector<Alert> grouped;
  const bool incident = alert.kind == kZoneEventKind;
  if (alert.zone.empty() || (!incident && alert.kind != kEventKind)) return grouped;
  // In alarm over [opened_ns, resolved_ns) in sensor time; not yet resolved = still in alarm.
  auto end_of = [](const Alert& a) {
    return a.resolved() ? a.resolved_ns : std::numeric_limits<std::int64_t>::max();
  };
  AlertQuery q;
  q.zone = alert.zone;
  q.kind = incident ? kEventKind : kZoneEventKind;
  q.opened_to_ns = end_of(alert);
  q.limit = 10'000;  // a zone's sensors; more would be no incident anyone could read
  auto candidates = Query(q);
  if (!candidates.ok()) return candidates.status();
  for (Alert& a : *candidates) {
    if (end_of(a) > alert.opened_ns) {  // the two spans overlap
      grouped.push_back(std::move(a));
    }
  }
  return grouped;
}

std::optional<Alert> AlertManager::Current(std::uint64_t id) {
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(id);
    if (it != live_.end()) {
      Alert a = it->second;
      a.suppressed_by = a.resolved() ? std::string() : SuppressionOf(a, clock_.NowNs());
      return a;
    }
  }
  auto got = Get(id);
  if (!got.ok()) return std::nullopt;
  return std::move(got).value();
}

namespace {

Status CheckPerson(std::string_view field, std::string_view value, std::size_t max) {
  if (value.empty()) return Status::InvalidArgument(fmt::format("field '{}': required", field));
  if (value.size() > max) {
    return Status::InvalidArgument(
        fmt::format("field '{}': must be at most {} bytes (got {})", field, max, value.size()));
  }
  return Status::Ok();
}

bool IsAlertKind(std::string_view kind) {
  return kind == "threshold" || kind == kEventKind || kind == "sensor_fault" ||
         kind == "sensor_offline" || kind == kZoneEventKind;
}

}  // namespace

Result<Silence> AlertManager::CreateSilence(Silence s) {
  if (s.sensor.empty() && s.site.empty() && s.zone.empty() && s.kind.empty() && !s.priority) {
    return Status::InvalidArgument(
        "field 'matchers': set at least one of sensor, site, zone, kind, priority (a silence of "
        "everything would hide contamination)");
  }
  if (!s.kind.empty() && !IsAlertKind(s.kind)) {
    return Status::InvalidArgument(fmt::format(
        "field 'matchers.kind': '{}' is not threshold, event, sensor_fault, sensor_offline or "
        "zone_event",
        s.kind));
  }
  if (Status st = CheckPerson("by", s.created_by, kMaxActorBytes); !st.ok()) return st;
  if (Status st = CheckPerson("comment", s.comment, kMaxCommentBytes); !st.ok()) return st;
  const std::int64_t now = clock_.NowNs();
  if (s.starts_at_ns == 0) s.starts_at_ns = now;
  if (s.ends_at_ns <= s.starts_at_ns) {
    return Status::InvalidArgument("field 'ends_at': must be after starts_at");
  }
  if (s.ends_at_ns <= now) return Status::InvalidArgument("field 'ends_at': already past");
  s.created_at_ns = now;
  s.expired_by.clear();
  std::lock_guard write(silence_write_mu_);
  {
    std::lock_guard lock(mu_);
    s.id = next_silence_id_++;
  }
  if (Status st = store_->PutSilence(s); !st.ok()) return st;
  std::lock_guard lock(mu_);
  silences_.push_back(s);
  spdlog::info("alerts: silence {} by {} until {}", s.id, s.created_by, s.ends_at_ns);
  return s;
}

Result<Silence> AlertManager::ExpireSilence(std::uint64_t id, std::string_view by) {
  if (Status st = CheckPerson("by", by, kMaxActorBytes); !st.ok()) return st;
  std::lock_guard write(silence_write_mu_);
  auto found = GetSilence(id);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return Status::NotFound(fmt::format("no silence {}", id));
  Silence s = std::move(**found);
  const std::int64_t now = clock_.NowNs();
  if (s.ends_at_ns <= now) return Status::Conflict(fmt::format("silence {} has ended", id));
  s.ends_at_ns = now;  // a pending one is moved back so that it ends before it begins
  s.starts_at_ns = std::min(s.starts_at_ns, now - 1);
  s.expired_by = by;
  if (Status st = store_->PutSilence(s); !st.ok()) return st;
  std::lock_guard lock(mu_);
  std::erase_if(silences_, [id](const Silence& x) { return x.id == id; });
  return s;
}

Result<std::vector<Silence>> AlertManager::ListSilences(std::size_t limit) {
  return store_->ListSilences(limit);
}

Result<std::optional<Silence>> AlertManager::GetSilence(std::uint64_t id) {
  // Silences are few (people make them by hand), so a scan is fine.
  auto all = store_->ListSilences(std::numeric_limits<std::int32_t>::max());
  if (!all.ok()) return all.status();
  for (Silence& s : *all) {
    if (s.id == id) return std::optional<Silence>(std::move(s));
  }
  return std::optional<Silence>();
}

Result<std::vector<AlertHistoryEntry>> AlertManager::History(std::uint64_t id) {
  if (Status s = Sync(); !s.ok()) return s;
  return store_->History(id);
}

std::vector<Alert> AlertManager::List(Filter filter, std::size_t limit, std::string_view sensor) {
  AlertQuery q;
  if (filter == Filter::kOpen) q.states = {AlertState::kOpen, AlertState::kAcknowledged};
  if (filter == Filter::kResolved) q.states = {AlertState::kResolved};
  q.sensor = sensor;
  q.limit = limit;
  auto list = Query(q);
  if (!list.ok()) {
    spdlog::error("alerts: {}", list.status().ToString());
    return {};
  }
  return std::move(list).value();
}

std::size_t AlertManager::OpenCount() const {
  std::lock_guard lock(mu_);
  return unresolved_;
}

std::uint64_t AlertManager::store_failures() const {
  std::lock_guard lock(mu_);
  return store_failures_;
}

void AlertManager::AddListener(AlertListener* listener) {
  std::lock_guard lock(mu_);
  listeners_.push_back(listener);
}

void AlertManager::RemoveListener(AlertListener* listener) {
  std::lock_guard lock(mu_);
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener), listeners_.end());
}

Status AlertManager::WriteOneByOne(const std::vector<AlertChange>& batch) {
  // A change the store refuses as invalid is a bug here, not a passing failure; retrying it
  // forever would keep every later alert from the store, so it alone is dropped, loudly.
  for (const AlertChange& c : batch) {
    Status s = store_->Write({c});
    if (s.code() == StatusCode::kInvalidArgument) {
      spdlog::error("alerts: the store refuses change {} of alert {} ({}); dropping it: {}",
                    c.entry.seq, c.alert.id, c.entry.action, s.ToString());
      continue;
    }
    if (!s.ok()) return s;  // a passing failure: the whole batch is retried (rows are upserts)
  }
  return Status::Ok();
}

void AlertManager::WriterLoop() {
  std::unique_lock lock(mu_);
  auto backoff = std::chrono::milliseconds(0);
  auto give_up_at = std::chrono::steady_clock::time_point::max();
  auto last_tick = std::chrono::steady_clock::now();
  for (;;) {
    wake_writer_.wait_for(lock, backoff > kTickPeriod ? backoff : kTickPeriod,
                          [&] { return stop_ || (!pending_.empty() && backoff.count() == 0); });
    if (const auto mono = std::chrono::steady_clock::now(); mono - last_tick >= kTickPeriod) {
      last_tick = mono;
      TickLocked(clock_.NowNs());
    }
    if (!pending_.empty()) {
      std::vector<AlertChange> batch;
      batch.swap(pending_);
      const std::uint64_t upto = changes_made_;
      lock.unlock();
      Status s = store_->Write(batch);
      if (s.code() == StatusCode::kInvalidArgument) s = WriteOneByOne(batch);
      lock.lock();
      if (s.ok()) {
        changes_stored_ = upto;
        last_store_error_ = Status::Ok();
        backoff = std::chrono::milliseconds(0);
        stored_.notify_all();
      } else {
        // Nothing is dropped: the batch goes back in front of what came meanwhile.
        if (store_failures_++ % 50 == 0) {
          spdlog::error("alerts: cannot store {} alert changes (retrying): {}", batch.size(),
                        s.ToString());
        }
        last_store_error_ = s;
        batch.insert(batch.end(), std::make_move_iterator(pending_.begin()),
                     std::make_move_iterator(pending_.end()));
        pending_.swap(batch);
        backoff =
            std::clamp(backoff * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(5000));
      }
    }
    if (stop_) {
      if (pending_.empty()) return;
      if (give_up_at == std::chrono::steady_clock::time_point::max()) {
        give_up_at = std::chrono::steady_clock::now() + kShutdownRetry;
      } else if (std::chrono::steady_clock::now() >= give_up_at) {
        spdlog::error("alerts: stopping with {} alert changes not stored: {}", pending_.size(),
                      last_store_error_.ToString());
        return;
      }
    }
  }
}

}  // namespace aquawatch
