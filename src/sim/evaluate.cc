#include "sim/evaluate.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <vector>

namespace aquawatch::sim {
namespace {

struct StationRun {
  std::array<ParamState, kCanonicalParameterCount> params{};
  StationState station;
  EventState event;
  FaultState fault;
  std::vector<float> joint;  // the multivariate test's state, when it is on
};

struct Opening {
  std::int64_t time_ns;
  bool contamination;
};

// A sensor_fault alert's span: opened at `open_ns`, closed at `close_ns` (or still open).
struct FaultSpan {
  std::int64_t open_ns;
  std::uint8_t kinds;        // FaultBit of the kinds that opened it
  std::uint32_t params = 0;  // parameters at fault when it opened
  std::int64_t close_ns = std::numeric_limits<std::int64_t>::max();
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

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
  for (StationRun& run : runs) {
    run.joint.resize(m.JointStateSize());
    m.InitJointState(run.joint);
  }
  std::vector<std::vector<Opening>> openings(n);
  std::vector<std::vector<FaultSpan>> fault_spans(n);    // sensor_fault alerts
  std::vector<std::vector<FaultSpan>> offline_spans(n);  // sensor_offline alerts
  std::vector<std::vector<FaultSpan>> flag_spans(n);     // runs of flagged readings

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
      const std::int64_t t = batch.time_ns(r);
      const std::int64_t previous_ns = run.station.last_time_ns;
      const std::int64_t silence_limit = m.SilenceLimitNs(run.station);
      RowVerdict v = m.Process(run.params, run.station, t, values, run.joint);
      if (v.after_gap) {
        // The server's sweep opens the offline alert once the silence passes the limit; this
        // reading closes it.
        offline_spans[s].push_back({previous_ns + silence_limit, 0, 0, t});
      }
      auto flag = [&flag_spans, s](std::int64_t at, std::int64_t previous) {
        std::vector<FaultSpan>& spans = flag_spans[s];
        if (!spans.empty() && spans.back().close_ns >= previous) {
          spans.back().close_ns = at;
        } else {
          spans.push_back({at, 0, 0, at});
        }
      };
      if (v.spikes != 0) flag(previous_ns, previous_ns);  // the spike was the previous reading
      if ((v.faults | v.missing) != 0) flag(t, previous_ns);
      if (TrackEvent(run.event, v, m.tuning().window) == EventChange::kOpened) {
        openings[s].push_back(
            {batch.time_ns(r), LooksLikeContamination(run.params, values, v.outliers)});
      }
      switch (TrackFault(run.fault, v)) {
        case EventChange::kOpened:
          fault_spans[s].push_back({t, run.fault.kinds, v.faults | v.missing | v.spikes});
          break;
        case EventChange::kClosed:
          fault_spans[s].back().close_ns = t;
          break;
        case EventChange::kNone:
          break;
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
  report.median_delay_samples = Median(delays);

  // Sensor-fault alerts against the injected faults: a fault is detected when an alert was open
  // at some time in [start, end + settle]; an alert opening outside every fault label is false.
  const LabelKind kFaultKinds[] = {LabelKind::kStuck, LabelKind::kDrift, LabelKind::kSpike,
                                   LabelKind::kDropout};
  std::vector<std::vector<double>> fault_delays(std::size(kFaultKinds));
  for (LabelKind k : kFaultKinds) report.fault_recall.push_back({k});
  for (std::size_t s = 0; s < n; ++s) {
    std::vector<bool> explained(fault_spans[s].size(), false);
    for (const FaultSpan& span : offline_spans[s]) {
      const bool dropout = std::any_of(labels[s].begin(), labels[s].end(), [&](const Label* l) {
        return l->kind == LabelKind::kDropout && span.open_ns <= l->end_time_ns + settle &&
               span.close_ns >= l->start_time_ns;
      });
      report.false_offline_alerts += !dropout;
    }
    for (const Label* l : labels[s]) {
      if (l->kind == LabelKind::kContamination || l->start_time_ns >= end) continue;
      const auto k = static_cast<std::size_t>(
          std::find(std::begin(kFaultKinds), std::end(kFaultKinds), l->kind) -
          std::begin(kFaultKinds));
      EvaluateReport::FaultRecall& fr = report.fault_recall[k];
      ++fr.injected;
      auto overlaps = [&](const FaultSpan& span) {
        return span.open_ns <= l->end_time_ns + settle && span.close_ns >= l->start_time_ns;
      };
      fr.flagged += std::any_of(flag_spans[s].begin(), flag_spans[s].end(), overlaps);
      const bool dropout = l->kind == LabelKind::kDropout;
      std::vector<FaultSpan>& alerts = dropout ? offline_spans[s] : fault_spans[s];
      bool detected = false;
      for (std::size_t f = 0; f < alerts.size(); ++f) {
        const FaultSpan& span = alerts[f];
        if (!overlaps(span)) continue;
        if (!dropout) explained[f] = true;
        if (!detected) {
          detected = true;
          fault_delays[k].push_back(
              static_cast<double>(std::max<std::int64_t>(span.open_ns - l->start_time_ns, 0)) /
              static_cast<double>(interval));
        }
      }
      fr.detected += detected;
    }
    for (std::size_t f = 0; f < fault_spans[s].size(); ++f) {
      if (explained[f]) continue;
      ++report.false_fault_alerts;
      for (int k = 0; k < kFaultKindCount; ++k) {
        if ((fault_spans[s][f].kinds & (1u << k)) != 0) ++report.false_fault_alerts_by_kind[k];
      }
      for (int p = 0; p < kCanonicalParameterCount; ++p) {
        if ((fault_spans[s][f].params & (1u << p)) != 0) ++report.false_fault_alerts_by_param[p];
      }
    }
  }
  for (std::size_t k = 0; k < report.fault_recall.size(); ++k) {
    report.fault_recall[k].median_delay_samples = Median(fault_delays[k]);
  }
  report.sensor_days = static_cast<double>(n) * static_cast<double>(options.duration_ns) /
                       (86400.0 * static_cast<double>(kNanosPerSecond));
  if (report.sensor_days > 0) {
    report.false_alarms_per_1000_sensor_days =
        1000.0 * static_cast<double>(report.false_alarms) / report.sensor_days;
    report.false_contamination_per_1000_sensor_days =
        1000.0 * static_cast<double>(report.false_contamination) / report.sensor_days;
    report.false_fault_alerts_per_1000_sensor_days =
        1000.0 * static_cast<double>(report.false_fault_alerts) / report.sensor_days;
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace aquawatch::sim
