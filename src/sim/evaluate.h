// Scores the detection engine against the simulator's ground truth: a fleet runs offline (no
// network, simulated time as fast as the CPU allows) through the canonical StationModel, event
// openings are matched to the injected contamination labels, and everything else that opens an
// event is a false alarm. `aquawatch evaluate` prints the report.
// Thread-safety: a pure function of its options.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "detect/station_detector.h"
#include "sim/fleet.h"

namespace aquawatch::sim {

struct EvaluateOptions {
  FleetOptions fleet;  // labels are collected internally; fleet.labels is ignored
  std::int64_t duration_ns = 24 * 3600 * kNanosPerSecond;
  DetectorTuning tuning;
};

struct EvaluateReport {
  std::uint64_t readings = 0;
  double sensor_days = 0;
  std::size_t contamination_events = 0;
  std::size_t detected = 0;                  // an event opened on the sensor during the label
  std::size_t classified_contamination = 0;  // ... and looked like contamination when it did
  double median_delay_samples = 0;           // event opening - label start, in readings
  std::size_t false_alarms = 0;              // events opened outside every label of the sensor
  double false_alarms_per_1000_sensor_days = 0;
  std::size_t false_contamination = 0;  // false alarms classified probable_contamination
  double false_contamination_per_1000_sensor_days = 0;
  std::size_t fault_labels = 0;      // injected sensor faults (not contamination)
  std::size_t events_on_faults = 0;  // false alarms that fell on a fault label
  // Per injected fault kind (stuck, drift, spike, dropout): how many were injected, how many
  // had some reading flagged (stored as bad, or a confirmed spike), and how many had an alert
  // open while they lasted (or within the event window after): sensor_fault, or
  // sensor_offline for a dropout (the whole probe silent).
  struct FaultRecall {
    LabelKind kind;
    std::size_t injected = 0;
    std::size_t flagged = 0;
    std::size_t detected = 0;
    double median_delay_samples = 0;  // alert opening (or label start if open) - label start
  };
  std::vector<FaultRecall> fault_recall;
  std::size_t false_fault_alerts = 0;  // sensor_fault openings outside every fault label
  std::array<std::size_t, kFaultKindCount> false_fault_alerts_by_kind{};  // by FaultKind
  std::array<std::size_t, kCanonicalParameterCount> false_fault_alerts_by_param{};
  double false_fault_alerts_per_1000_sensor_days = 0;
  std::size_t false_offline_alerts = 0;  // sensor_offline alerts outside every dropout
  double seconds = 0;                    // wall time of the evaluation
};

Result<EvaluateReport> EvaluateDetector(const EvaluateOptions& options);

}  // namespace aquawatch::sim
