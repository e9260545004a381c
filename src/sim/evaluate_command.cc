#include "sim/evaluate_command.h"

#include <fmt/format.h>

#include <cstdio>

#include "detect/replay.h"
#include "sim/evaluate.h"

namespace aquawatch::sim {

CLI::App* AddEvaluateCommand(CLI::App& parent, int* exit_code) {
  struct Args {
    std::size_t sensors = 1000;
    double days = 1;
    double interval_s = 10;
    double contamination_every_s = 3600;
    double contamination_duration_s = 300;
    double fault_rate = 0;
    double rain = 0.3;
    std::uint64_t seed = 1;
    std::vector<std::string> set;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = parent.add_subcommand(
      "evaluate", "Score the detection engine on simulated sensors with injected contamination");
  cmd->add_option("--sensors", args->sensors, "Simulated sensors")->capture_default_str();
  cmd->add_option("--days", args->days, "Simulated days")->capture_default_str();
  cmd->add_option("--interval", args->interval_s, "Seconds between a sensor's readings")
      ->capture_default_str();
  cmd->add_option("--contamination-every", args->contamination_every_s,
                  "A contamination event on a random sensor every this many simulated seconds")
      ->capture_default_str();
  cmd->add_option("--contamination-duration", args->contamination_duration_s,
                  "Seconds each contamination lasts")
      ->capture_default_str();
  cmd->add_option("--fault-rate", args->fault_rate, "Injected sensor faults per sensor-day")
      ->capture_default_str();
  cmd->add_option("--rain-per-zone-day", args->rain,
                  "Rain events per zone per day (real turbidity rises, not labelled)")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Random seed")->capture_default_str();
  cmd->add_option("--set", args->set, "Detector tuning override key=value (see replay --help)");
  cmd->callback([args, exit_code] {
    EvaluateOptions o;
    o.fleet.sensors = args->sensors;
    o.fleet.interval_ns = static_cast<std::int64_t>(args->interval_s * 1e9);
    o.fleet.contamination_every_ns = static_cast<std::int64_t>(args->contamination_every_s * 1e9);
    o.fleet.contamination_duration_ns =
        static_cast<std::int64_t>(args->contamination_duration_s * 1e9);
    o.fleet.fault_rate_per_sensor_day = args->fault_rate;
    o.fleet.seed = args->seed;
    o.fleet.rain_events_per_zone_day = args->rain;
    o.duration_ns = static_cast<std::int64_t>(args->days * 86400e9);
    for (const std::string& kv : args->set) {
      std::size_t eq = kv.find('=');
      Status s = eq == std::string::npos
                     ? Status::InvalidArgument("--set needs key=value, got \"" + kv + "\"")
                     : SetTuningField(o.tuning, kv.substr(0, eq), kv.substr(eq + 1));
      if (!s.ok()) {
        std::fprintf(stderr, "evaluate: %s\n", s.message().c_str());
        *exit_code = 2;
        return;
      }
    }
    if (args->sensors == 0 || args->days <= 0 || args->interval_s < 0.001) {
      std::fprintf(stderr, "evaluate: --sensors, --days and --interval must be positive\n");
      *exit_code = 2;
      return;
    }
    auto report = EvaluateDetector(o);
    if (!report.ok()) {
      std::fprintf(stderr, "evaluate: %s\n", report.status().ToString().c_str());
      *exit_code = 1;
      return;
    }
    const EvaluateReport& r = *report;
    double recall = r.contamination_events == 0 ? 0
                                                : 100.0 * static_cast<double>(r.detected) /
                                                      static_cast<double>(r.contamination_events);
    std::fputs(
        fmt::format(
            "evaluate: {} sensors x {} days, one reading every {} s ({} readings, {:.1f} s)\n"
            "  contamination events   {} injected, {} detected ({:.1f} %), {} classified "
            "probable_contamination\n"
            "  median delay           {} samples\n"
            "  false alarms           {} ({:.2f} per 1,000 sensor-days over {:.0f} sensor-days), "
            "{} of them classified probable_contamination ({:.2f} per 1,000 sensor-days)\n"
            "  sensor faults injected {} ({} false alarms fell on them)\n",
            args->sensors, args->days, args->interval_s, r.readings, r.seconds,
            r.contamination_events, r.detected, recall, r.classified_contamination,
            r.median_delay_samples, r.false_alarms, r.false_alarms_per_1000_sensor_days,
            r.sensor_days, r.false_contamination, r.false_contamination_per_1000_sensor_days,
            r.fault_labels, r.events_on_faults)
            .c_str(),
        stdout);
    for (const EvaluateReport::FaultRecall& f : r.fault_recall) {
      if (f.injected == 0) continue;
      auto percent = [&f](std::size_t k) {
        return 100.0 * static_cast<double>(k) / static_cast<double>(f.injected);
      };
      std::fputs(
          fmt::format("    {:<8} {:>4} injected, {:>4} flagged ({:.1f} %), {:>4} alerted as "
                      "{} ({:.1f} %), median delay {} samples\n",
                      LabelKindName(f.kind), f.injected, f.flagged, percent(f.flagged), f.detected,
                      f.kind == LabelKind::kDropout ? "sensor_offline" : "sensor_fault",
                      percent(f.detected), f.median_delay_samples)
              .c_str(),
          stdout);
    }
    std::string by_kind;
    for (int k = 0; k < kFaultKindCount; ++k) {
      if (r.false_fault_alerts_by_kind[k] == 0) continue;
      by_kind +=
          fmt::format("{}{} {}", by_kind.empty() ? "" : ", ",
                      FaultKindName(static_cast<FaultKind>(k)), r.false_fault_alerts_by_kind[k]);
    }
    for (int p = 0; p < kCanonicalParameterCount; ++p) {
      if (r.false_fault_alerts_by_param[p] == 0) continue;
      by_kind +=
          fmt::format("{}{} {}", by_kind.empty() ? "" : ", ",
                      ParameterName(static_cast<ParameterId>(p)), r.false_fault_alerts_by_param[p]);
    }
    std::fputs(fmt::format("  false sensor_fault alerts {} ({:.2f} per 1,000 sensor-days){}; "
                           "false sensor_offline alerts {}\n",
                           r.false_fault_alerts, r.false_fault_alerts_per_1000_sensor_days,
                           by_kind.empty() ? "" : ": " + by_kind, r.false_offline_alerts)
                   .c_str(),
               stdout);
  });
  return cmd;
}

}  // namespace aquawatch::sim
