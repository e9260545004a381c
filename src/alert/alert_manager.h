// AlertManager: the in-memory list of alerts and their open/resolved lifecycle (alerts v0).
//
// Shard threads report threshold transitions; the manager opens one alert per (sensor, kind,
// parameter), updates its severity while it stays open, resolves it when the value is back to
// normal, and tells its listeners each time. The alerting issue adds acknowledgement,
// escalation, silences and channels on top of this seam.
// Thread-safety: every method may be called from any thread. Listeners are called with the
// manager's lock held, in event order, and must not block or call back into the manager.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/reading.h"
#include "detect/rules.h"

namespace aquawatch {

enum class AlertPriority : std::uint8_t { kHigh, kMedium, kLow };
std::string_view PriorityName(AlertPriority p);

struct Alert {
  std::uint64_t id = 0;
  std::string sensor, site, zone;
  // "threshold", "event" (detection engine), "sensor_fault", "sensor_offline" or "zone_event"
  // (several sensors of one zone in an event at once; `sensor` is empty).
  std::string kind;
  // e.g. "free_chlorine_mg_l"; for events, every parameter that moved; for zone events, the
  // sensors in alarm.
  std::string parameter;
  // For "event" and "zone_event": "probable_contamination" or "water_quality_deviation"; for
  // "sensor_fault": the QA/QC fault kinds seen (docs/detection.md), e.g. "flat_line" or
  // "drift,spike"; "offline" for "sensor_offline". Empty for thresholds, whose `level` says it.
  std::string classification;
  Level level = Level::kNormal;
  AlertPriority priority = AlertPriority::kMedium;
  double value = 0;                  // the reading that caused the latest change
  double threshold = 0;              // the limit that was crossed
  std::int64_t reading_time_ns = 0;  // sensor time of that reading
  std::int64_t received_ns = 0;      // when aquawatch received it (for latency)
  std::int64_t opened_ns = 0;        // sensor time the alert opened
  std::int64_t resolved_ns = 0;      // sensor time it resolved; 0 while open
  bool open = true;
  std::string message;
};

struct AlertEvent {
  enum class Type : std::uint8_t { kOpened, kUpdated, kResolved };
  Type type;
  Alert alert;
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

class AlertManager {
 public:
  // A zone_event alert opens while at least `zone_min_sensors` sensors of one zone have an open
  // event alert (0 = never).
  explicit AlertManager(std::size_t max_resolved_kept = 10000, std::size_t zone_min_sensors = 2)
      : max_resolved_kept_(max_resolved_kept), zone_min_sensors_(zone_min_sensors) {}

  void OnThresholdTransition(const ThresholdTransition& t);
  void OnDetectorTransition(const DetectorTransition& t);

  enum class Filter { kAll, kOpen, kResolved };
  // Newest first.
  std::vector<Alert> List(Filter filter, std::size_t limit, std::string_view sensor = {}) const;
  std::optional<Alert> Get(std::uint64_t id) const;
  std::size_t OpenCount() const;

  // REQUIRES: the listener outlives the manager or is removed first.
  void AddListener(AlertListener* listener);
  void RemoveListener(AlertListener* listener);

 private:
  // Which sensors of a zone have an open event alert, and the zone's alert while enough do.
  struct ZoneEvents {
    std::map<std::string, bool> sensors;  // sensor -> its event looked like contamination
    std::uint64_t alert_id = 0;           // the open zone_event alert; 0 = none
  };

  void Publish(AlertEvent::Type type, const Alert& alert);
  void TrimResolved();
  // REQUIRES: mu_ held. A sensor of `zone` entered or left an event.
  void UpdateZone(std::string_view zone, std::string_view sensor, bool in_event,
                  const DetectorTransition& t);

  const std::size_t max_resolved_kept_;
  const std::size_t zone_min_sensors_;
  mutable std::mutex mu_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Alert> alerts_;                // by id, ascending
  std::unordered_map<std::string, std::uint64_t> open_;  // dedup key -> id
  std::size_t resolved_count_ = 0;
  std::map<std::string, ZoneEvents, std::less<>> zone_events_;  // zones with a sensor in alarm
  std::vector<AlertListener*> listeners_;
};

}  // namespace aquawatch
