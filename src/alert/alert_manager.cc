#include "alert/alert_manager.h"

#include <fmt/format.h>
#include <algorithm>

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

std::string_view AlertEventTypeName(AlertEvent::Type t) {
  switch (t) {
    case AlertEvent::Type::kOpened:
      return "opened";
    case AlertEvent::Type::kUpdated:
      return "updated";
    case AlertEvent::Type::kResolved:
      return "resolved";
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

std::string Describe(std::string_view parameter, Level level, double value, double threshold) {
  const char* side = IsLow(level) ? "below" : "above";
  const char* severity = IsCritical(level) ? "critical" : "warning";
  return fmt::format("{} {} is {} the {} limit {}", parameter, value, side, severity, threshold);
}

}  // namespace

void AlertManager::OnThresholdTransition(const ThresholdTransition& t) {
  if (t.from == t.to) return;
  std::string_view parameter = ParameterName(t.parameter);
  std::string key = DedupKey(t.sensor, "threshold", parameter);
  std::lock_guard lock(mu_);
  auto it = open_.find(key);
  if (t.to == Level::kNormal) {
    if (it == open_.end()) return;
    Alert& alert = alerts_.at(it->second);
    alert.open = false;
    alert.resolved_ns = t.reading_time_ns;
    alert.value = t.value;
    alert.received_ns = t.received_ns;
    alert.message = fmt::format("{} back to normal at {}", parameter, t.value);
    open_.erase(it);
    ++resolved_count_;
    Publish(AlertEvent::Type::kResolved, alert);
    TrimResolved();
    return;
  }
  AlertPriority priority = IsCritical(t.to) ? AlertPriority::kHigh : AlertPriority::kMedium;
  if (it != open_.end()) {
    Alert& alert = alerts_.at(it->second);
    alert.level = t.to;
    alert.priority = priority;
    alert.value = t.value;
    alert.threshold = t.threshold;
    alert.reading_time_ns = t.reading_time_ns;
    alert.received_ns = t.received_ns;
    alert.message = Describe(parameter, t.to, t.value, t.threshold);
    Publish(AlertEvent::Type::kUpdated, alert);
    return;
  }
  Alert alert;
  alert.id = next_id_++;
  alert.sensor = t.sensor;
  alert.site = t.site;
  alert.zone = t.zone;
  alert.kind = "threshold";
  alert.parameter = parameter;
  alert.level = t.to;
  alert.priority = priority;
  alert.value = t.value;
  alert.threshold = t.threshold;
  alert.reading_time_ns = t.reading_time_ns;
  alert.received_ns = t.received_ns;
  alert.opened_ns = t.reading_time_ns;
  alert.message = Describe(parameter, t.to, t.value, t.threshold);
  open_.emplace(std::move(key), alert.id);
  auto [pos, inserted] = alerts_.emplace(alert.id, std::move(alert));
  Publish(AlertEvent::Type::kOpened, pos->second);
}

void AlertManager::OnDetectorTransition(const DetectorTransition& t) {
  std::string key = DedupKey(t.sensor, t.kind, "");
  std::lock_guard lock(mu_);
  auto it = open_.find(key);
  if (!t.open) {
    if (it == open_.end()) return;
    Alert& alert = alerts_.at(it->second);
    alert.open = false;
    alert.resolved_ns = t.reading_time_ns;
    alert.received_ns = t.received_ns;
    alert.message = fmt::format("{} on {} is over", alert.classification, alert.sensor);
    open_.erase(it);
    ++resolved_count_;
    Publish(AlertEvent::Type::kResolved, alert);
    if (t.kind == kEventKind) UpdateZone(t.zone, t.sensor, false, t);
    TrimResolved();
    return;
  }
  if (it != open_.end()) return;  // already open: one alert per (sensor, kind)
  Alert alert;
  alert.id = next_id_++;
  alert.sensor = t.sensor;
  alert.site = t.site;
  alert.zone = t.zone;
  alert.kind = t.kind;
  alert.parameter = t.parameters;
  alert.classification = t.classification;
  alert.priority = t.priority;
  alert.value = 0;
  alert.threshold = 0;
  alert.reading_time_ns = t.reading_time_ns;
  alert.received_ns = t.received_ns;
  alert.opened_ns = t.reading_time_ns;
  alert.message = fmt::format("{}: {}", t.classification, t.evidence);
  open_.emplace(std::move(key), alert.id);
  auto [pos, inserted] = alerts_.emplace(alert.id, std::move(alert));
  Publish(AlertEvent::Type::kOpened, pos->second);
  if (t.kind == kEventKind) UpdateZone(t.zone, t.sensor, true, t);
}

void AlertManager::UpdateZone(std::string_view zone, std::string_view sensor, bool in_event,
                              const DetectorTransition& t) {
  if (zone.empty() || zone_min_sensors_ == 0) return;
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
  const bool correlated = z.sensors.size() >= zone_min_sensors_;
  const std::string in_alarm =
      fmt::format("{} sensors of zone {} in alarm at once: {}", z.sensors.size(), zone, sensors);
  if (z.alert_id == 0) {
    if (!correlated) {
      if (z.sensors.empty()) zone_events_.erase(zit);
      return;
    }
    // Several sensors of one zone in alarm at once: one zone alert, always high priority.
    Alert alert;
    alert.id = next_id_++;
    alert.zone = zone;
    alert.kind = kZoneEventKind;
    alert.classification = contamination ? "probable_contamination" : "water_quality_deviation";
    alert.priority = AlertPriority::kHigh;
    alert.reading_time_ns = t.reading_time_ns;
    alert.received_ns = t.received_ns;
    alert.opened_ns = t.reading_time_ns;
    alert.parameter = sensors;
    alert.message = in_alarm;
    z.alert_id = alert.id;
    open_.emplace(DedupKey("", kZoneEventKind, zone), alert.id);
    auto [pos, inserted] = alerts_.emplace(alert.id, std::move(alert));
    Publish(AlertEvent::Type::kOpened, pos->second);
    return;
  }
  Alert& alert = alerts_.at(z.alert_id);
  alert.reading_time_ns = t.reading_time_ns;
  alert.received_ns = t.received_ns;
  if (correlated) {
    if (contamination) alert.classification = "probable_contamination";
    alert.parameter = sensors;
    alert.message = in_alarm;
    Publish(AlertEvent::Type::kUpdated, alert);
    return;
  }
  alert.open = false;
  alert.resolved_ns = t.reading_time_ns;
  alert.message = fmt::format("fewer than {} sensors of zone {} in alarm", zone_min_sensors_, zone);
  open_.erase(DedupKey("", kZoneEventKind, zone));
  ++resolved_count_;
  Publish(AlertEvent::Type::kResolved, alert);
  z.alert_id = 0;
  if (z.sensors.empty()) zone_events_.erase(zit);
}

void AlertManager::Publish(AlertEvent::Type type, const Alert& alert) {
  if (listeners_.empty()) return;
  AlertEvent event{type, alert};
  for (AlertListener* l : listeners_) l->OnAlertEvent(event);
}

void AlertManager::TrimResolved() {
  // Oldest resolved alerts go first; open ones are never dropped.
  for (auto it = alerts_.begin(); resolved_count_ > max_resolved_kept_ && it != alerts_.end();) {
    if (!it->second.open) {
      it = alerts_.erase(it);
      --resolved_count_;
    } else {
      ++it;
    }
  }
}

std::vector<Alert> AlertManager::List(Filter filter, std::size_t limit,
                                      std::string_view sensor) const {
  std::lock_guard lock(mu_);
  std::vector<Alert> out;
  for (auto it = alerts_.rbegin(); it != alerts_.rend() && out.size() < limit; ++it) {
    const Alert& a = it->second;
    if (filter == Filter::kOpen && !a.open) continue;
    if (filter == Filter::kResolved && a.open) continue;
    if (!sensor.empty() && a.sensor != sensor) continue;
    out.push_back(a);
  }
  return out;
}

std::optional<Alert> AlertManager::Get(std::uint64_t id) const {
  std::lock_guard lock(mu_);
  auto it = alerts_.find(id);
  if (it == alerts_.end()) return std::nullopt;
  return it->second;
}

std::size_t AlertManager::OpenCount() const {
  std::lock_guard lock(mu_);
  return open_.size();
}

void AlertManager::AddListener(AlertListener* listener) {
  std::lock_guard lock(mu_);
  listeners_.push_back(listener);
}

void AlertManager::RemoveListener(AlertListener* listener) {
  std::lock_guard lock(mu_);
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener), listeners_.end());
}

}  // namespace aquawatch
