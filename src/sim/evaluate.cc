#include "sim/evaluate.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <unordered_map>
#include <vector>

namespace aquawatch::sim {
namespace {

struct StationRun {
  std::array<ParamState, kCanonicalParameterCount> params{};
  std::uint64_t window = 0;
  EventState event;
};

struct Opening {
  std::int64_t time_ns;
  bool contamination;
};

}  // namespace

Result<EvaluateReport> EvaluateDetector(const EvaluateOptions& options) {
  auto started = std::chrono::steady_clock::now();
  // Created here rather than through CanonicalStationModel so a bad --set reports why.
  auto model = StationModel::Create(CanonicalSpecs(), options.tuning);
  if (!model.ok()) return model.status();
  const StationModel& m = **model;

  VectorLabelSink sink;
  FleetOptions fleet_options = options.fleet;
  fleet_options.labels = &sink;
  Fleet fleet(fleet_options);
  const std::size_t n = fleet.size();
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < n; ++i) index.emplace(fleet.SensorId(i), i);
  std::vector<StationRun> runs(n);
  std::vector<std::vector<Opening>> openings(n);

  EvaluateReport report;
  const std::int64_t end = fleet_options.start_time_ns + options.duration_ns;
  ReadingBatch batch;
  double values[kCanonicalParameterCount];
  for (;;) {
    batch.Clear();
    if (fleet.Step(end, batch, 1 << 16) == 0) break;
    for (std::size_t r = 0; r < batch.size(); ++r) {
      std::fill(std::begin(values), std::end(values), std::nan(""));
      for (std::size_t f = batch.field_begin(r); f < batch.field_end(r); ++f) {
        if (batch.field_param(f) != ParameterId::kCustom) {
          values[static_cast<int>(batch.field_param(f))] = batch.field_value(f);
        }
      }
      const std::size_t s = index.at(std::string(batch.sensor(r)));
      StationRun& run = runs[s];
      RowVerdict v = m.Process(run.params, run.window, values);
      if (TrackEvent(run.event, v, m.tuning().window) == EventChange::kOpened) {
        openings[s].push_back(
            {batch.time_ns(r), LooksLikeContamination(run.params, values, v.outliers)});
      }
    }
    report.readings += batch.size();
  }

  // Labels by sensor; an event that opens during a contamination label (or within the
  // discriminator's window after it, while the water settles) belongs to it.
  std::vector<std::vector<const Label*>> labels(n);
  for (const Label& l : sink.labels) {
    auto it = index.find(l.sensor);
    if (it != index.end()) labels[it->second].push_back(&l);
  }
  const std::int64_t interval = fleet_options.interval_ns;
  const std::int64_t settle = static_cast<std::int64_t>(m.tuning().window) * interval;
  std::vector<double> delays;
  for (std::size_t s = 0; s < n; ++s) {
    std::vector<bool> used(openings[s].size(), false);
    for (const Label* l : labels[s]) {
      if (l->kind != LabelKind::kContamination) {
        ++report.fault_labels;
        continue;
      }
      if (l->start_time_ns >= end) continue;  // scheduled past the end of the run
      ++report.contamination_events;
      for (std::size_t o = 0; o < openings[s].size(); ++o) {
        const Opening& op = openings[s][o];
        if (op.time_ns < l->start_time_ns || op.time_ns > l->end_time_ns + settle) continue;
        if (!used[o] && op.time_ns <= l->end_time_ns) {
          ++report.detected;
          if (op.contamination) ++report.classified_contamination;
          delays.push_back(static_cast<double>(op.time_ns - l->start_time_ns) /
                           static_cast<double>(interval));
        }
        used[o] = true;
      }
    }
    for (std::size_t o = 0; o < openings[s].size(); ++o) {
      if (used[o]) continue;
      ++report.false_alarms;
      if (openings[s][o].contamination) ++report.false_contamination;
      const std::int64_t t = openings[s][o].time_ns;
      bool on_fault = std::any_of(labels[s].begin(), labels[s].end(), [&](const Label* l) {
        return l->kind != LabelKind::kContamination && t >= l->start_time_ns &&
               t <= l->end_time_ns + settle;
      });
      if (on_fault) ++report.events_on_faults;
    }
  }
  if (!delays.empty()) {
    std::sort(delays.begin(), delays.end());
    std::size_t mid = delays.size() / 2;
    report.median_delay_samples =
        delays.size() % 2 == 1 ? delays[mid] : (delays[mid - 1] + delays[mid]) / 2;
  }
  report.sensor_days = static_cast<double>(n) * static_cast<double>(options.duration_ns) /
                       (86400.0 * static_cast<double>(kNanosPerSecond));
  if (report.sensor_days > 0) {
    report.false_alarms_per_1000_sensor_days =
        1000.0 * static_cast<double>(report.false_alarms) / report.sensor_days;
    report.false_contamination_per_1000_sensor_days =
        1000.0 * static_cast<double>(report.false_contamination) / report.sensor_days;
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace aquawatch::sim
