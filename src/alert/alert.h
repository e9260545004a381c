// Alert: what aquawatch tells people, with its lifecycle (docs/alerts.md).
//
// An alert is about one condition, named by its dedup key (sensor or zone, kind, parameter). The
// condition comes and goes with the readings (`active`); the lifecycle is what people and the
// hold timer do about it: open → acknowledged → resolved, and back to open when the condition
// returns within the reopen window. Every change adds an AlertHistoryEntry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "detect/rules.h"

namespace aquawatch {

enum class AlertPriority : std::uint8_t { kHigh, kMedium, kLow };
std::string_view PriorityName(AlertPriority p);
std::optional<AlertPriority> ParsePriority(std::string_view name);

enum class AlertState : std::uint8_t { kOpen, kAcknowledged, kResolved };
std::string_view AlertStateName(AlertState s);
std::optional<AlertState> ParseAlertState(std::string_view name);

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
  std::string message;

  // The lifecycle. Times named *_at_ns are wall-clock (the server's), the others sensor time.
  AlertState state = AlertState::kOpen;
  bool active = true;              // the condition holds now
  std::int64_t cleared_ns = 0;     // sensor time the condition last cleared; 0 while active
  std::int64_t cleared_at_ns = 0;  // when it cleared (the resolve hold counts from here)
  // When it was resolved: the sensor time the condition cleared for an automatic resolution,
  // the wall-clock time of the request for a manual one. 0 while unresolved.
  std::int64_t resolved_ns = 0;
  std::int64_t resolved_at_ns = 0;  // wall-clock time of the resolution (the reopen window)
  std::string resolved_by;          // who resolved it by hand; "" = aquawatch, automatically
  std::string acked_by, ack_comment;
  std::int64_t acked_at_ns = 0;
  std::uint32_t reopened = 0;      // times the condition came back after a resolution
  std::int64_t updated_at_ns = 0;  // the latest change of any kind
  std::uint32_t history_size = 0;  // entries in its history so far
  // Why people are not told of it at its latest change: "silence 3" (a silence matches it), or
  // "alert 17 (sensor_offline)" (a threshold alert of a sensor that is offline or faulty is
  // inhibited). "" = not suppressed.
  std::string suppressed_by;

  bool resolved() const { return state == AlertState::kResolved; }
};

// A silence (Prometheus Alertmanager is the model): while it is in force, alerts that match
// every matcher it sets are not pushed to people. A probe under calibration, say, for two hours,
// without muting its site.
struct Silence {
  std::uint64_t id = 0;
  // Matchers: exact values; an empty string (or no priority) matches anything. At least one set.
  std::string sensor, site, zone, kind;
  std::optional<AlertPriority> priority;
  std::int64_t starts_at_ns = 0, ends_at_ns = 0;  // in force in [starts, ends), server clock
  std::string created_by, comment;
  std::int64_t created_at_ns = 0;
  std::string expired_by;  // who ended it early; "" = runs to its end

  bool Matches(const Alert& a) const {
    return (sensor.empty() || sensor == a.sensor) && (site.empty() || site == a.site) &&
           (zone.empty() || zone == a.zone) && (kind.empty() || kind == a.kind) &&
           (!priority || *priority == a.priority);
  }
  bool InForce(std::int64_t now_ns) const { return starts_at_ns <= now_ns && now_ns < ends_at_ns; }
};

// "pending", "active" or "expired" at `now_ns`.
std::string_view SilenceStateName(const Silence& s, std::int64_t now_ns);

// One step of an alert's history, kept for the regulator.
struct AlertHistoryEntry {
  std::uint32_t seq = 0;   // 0, 1, 2 ... per alert
  std::int64_t at_ns = 0;  // wall clock
  // "opened", "updated", "cleared", "returned", "resolved", "reopened", "acknowledged",
  // "commented"
  std::string action;
  std::string actor;   // who did it; "" = aquawatch
  std::string detail;  // the alert's message at that step, or the person's comment
};

}  // namespace aquawatch
