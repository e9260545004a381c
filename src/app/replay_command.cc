#include "app/replay_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "api/json_writer.h"
#include "core/env.h"
#include "core/profiles.h"
#include "detect/replay.h"
#include "detect/station_detector.h"
#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

constexpr double kUnboundedLimit = 1e299;  // ParameterSpec ranges at or beyond this mean "none"
constexpr std::size_t kPrintedErrors = 10;

// Splits "a,b,c" lists that arrive as one argument (CLI11 also splits on its own delimiter).
std::vector<std::string> SplitCommas(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const std::string& item : items) {
    std::size_t start = 0;
    while (start <= item.size()) {
      std::size_t comma = item.find(',', start);
      if (comma == std::string::npos) comma = item.size();
      if (comma > start) out.push_back(item.substr(start, comma - start));
      start = comma + 1;
    }
  }
  return out;
}

std::string RangeText(const ParameterSpec& p) {
  std::string lo = p.min_valid <= -kUnboundedLimit ? "" : fmt::format("{}", p.min_valid);
  std::string hi = p.max_valid >= kUnboundedLimit ? "" : fmt::format("{}", p.max_valid);
  if (lo.empty() && hi.empty()) return "any";
  return fmt::format("{}..{}", lo, hi);
}

Status WriteFile(const std::string& path, std::string_view data) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Status::IoError(fmt::format("cannot create {}", path));
  const bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) return Status::IoError(fmt::format("cannot write {}", path));
  return Status::Ok();
}

struct Run {
  const ReplayCommandOptions& options;
  const DetectorTuning& tuning;
  const ReplayInput& input;
  const ReplayResult& result;
  const ReplayScore& score;
  std::size_t detected_runs = 0;
};

std::size_t RowsInALevel(const ReplayResult& result) {
  return static_cast<std::size_t>(std::count_if(result.thresholds.begin(), result.thresholds.end(),
                                                [](std::uint32_t t) { return t != 0; }));
}

std::string Summary(const Run& run) {
  const ReplayInput& in = run.input;
  const ReplayScore& s = run.score;
  std::string out;
  auto line = [&out](std::string text) {
    out += text;
    out.push_back('\n');
  };
  line(fmt::format("replay {}: {} rows, {} skipped (time column {}, {})", run.options.input,
                   in.rows(), in.skipped_rows, in.time_column,
                   in.time_format.empty() ? "no rows" : in.time_format));
  line(fmt::format("parameters ({}):", in.params.size()));
  for (std::size_t p = 0; p < in.params.size(); ++p) {
    const ParameterSpec& spec = in.params[p];
    line(
        fmt::format("  bit {:2} {:<16} resolution {:<8} valid {:<14} {}  missing {}, unparsable {}",
                    p, spec.name, spec.resolution, RangeText(spec),
                    spec.water_quality ? "quality" : "context", in.missing[p], in.unparsable[p]));
  }
  if (in.non_increasing_times > 0) {
    line(fmt::format("rows not later than the row before (replayed in file order): {}",
                     in.non_increasing_times));
  }
  if (in.bad_label_cells > 0) line(fmt::format("unparsable label cells: {}", in.bad_label_cells));
  std::string tuning;
  for (const auto& [k, v] : TuningFields(run.tuning)) tuning += fmt::format(" {}={}", k, v);
  line(fmt::format("profile {}; predicted rows: {}; tuning:{}", run.options.profile,
                   run.options.predict, tuning));
  if (run.result.ruled_columns.empty()) {
    line(
        fmt::format("threshold rules of {}: no column has one (rules apply to columns with "
                    "canonical names, e.g. ph, turbidity_ntu)",
                    run.options.profile));
  } else {
    line(fmt::format("threshold rules of {} on {}: {} alerts, {} rows in a warn or critical level",
                     run.options.profile, fmt::join(run.result.ruled_columns, ", "),
                     run.result.threshold_alerts, RowsInALevel(run.result)));
  }
  std::string window;
  if (!run.options.score_from.empty() || !run.options.score_to.empty()) {
    window = fmt::format(" in [{}, {})",
                         run.options.score_from.empty() ? "start" : run.options.score_from,
                         run.options.score_to.empty() ? "end" : run.options.score_to);
  }
  line(fmt::format("scored rows: {}{} over {:.2f} days, median row spacing {:.0f} s", s.scored_rows,
                   window, s.scored_days, static_cast<double>(s.median_spacing_ns) / 1e9));
  if (s.labelled) {
    line(
        fmt::format("rows:   precision {:.3f}  recall {:.3f}  F1 {:.3f}  (TP {}, predicted {}, "
                    "labelled {})",
                    s.precision, s.recall, s.f1, s.true_positives, s.predicted, s.positives));
    line(
        fmt::format("events: {}/{} detected ({:.1f} %); delay median {:.1f} rows ({:.1f} min), "
                    "mean {:.1f} rows",
                    s.events_detected, s.events, 100 * s.event_recall, s.median_delay_rows,
                    s.median_delay_minutes, s.mean_delay_rows));
    line(fmt::format("false alarms: {} ({:.3f} per sensor-day)", s.false_alarms,
                     s.false_alarms_per_day));
  } else {
    line(fmt::format("unlabelled: {} predicted rows, {} alarms ({:.3f} per sensor-day)",
                     s.predicted, s.false_alarms, s.false_alarms_per_day));
  }
  if (!s.column_recall.empty()) {
    line("recall by label column:");
    for (const TypeRecall& c : s.column_recall) {
      line(fmt::format("  {:<16} {:.3f} ({}/{} rows)", c.type, c.recall, c.detected, c.rows));
    }
  }
  if (!s.type_recall.empty()) {
    line("recall by fault type:");
    for (const TypeRecall& t : s.type_recall) {
      line(fmt::format("  {:<16} {:.3f} ({}/{} rows)", t.type, t.recall, t.detected, t.rows));
    }
  }
  return out;
}

void AppendRecalls(std::string& out, std::string_view key, const std::vector<TypeRecall>& list,
                   std::string_view name_key) {
  AppendJsonKey(out, key);
  out.push_back('[');
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('{');
    AppendJsonKey(out, name_key, true);
    AppendJsonString(out, list[i].type);
    AppendJsonKey(out, "rows");
    AppendJsonInt(out, static_cast<std::int64_t>(list[i].rows));
    AppendJsonKey(out, "detected");
    AppendJsonInt(out, static_cast<std::int64_t>(list[i].detected));
    AppendJsonKey(out, "recall");
    AppendJsonNumber(out, list[i].recall);
    out.push_back('}');
  }
  out.push_back(']');
}

std::string Json(const Run& run) {
  const ReplayInput& in = run.input;
  const ReplayScore& s = run.score;
  std::string out = "{";
  auto str = [&out](std::string_view key, std::string_view v) {
    AppendJsonKey(out, key);
    AppendJsonString(out, v);
  };
  auto num = [&out](std::string_view key, double v) {
    AppendJsonKey(out, key);
    AppendJsonNumber(out, v);
  };
  auto integer = [&out](std::string_view key, std::size_t v) {
    AppendJsonKey(out, key);
    AppendJsonInt(out, static_cast<std::int64_t>(v));
  };
  AppendJsonKey(out, "input", true);
  AppendJsonString(out, run.options.input);
  str("time_column", in.time_column);
  str("time_format", in.time_format);
  str("profile", run.options.profile);
  str("predict", run.options.predict);
  integer("threshold_alerts", run.result.threshold_alerts);
  integer("threshold_rows", RowsInALevel(run.result));
  AppendJsonKey(out, "tuning");
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : TuningFields(run.tuning)) {
    AppendJsonKey(out, k, first);
    out += v;  // fmt's shortest round-trip form of a number is valid JSON
    first = false;
  }
  out.push_back('}');
  str("score_from", run.options.score_from);
  str("score_to", run.options.score_to);
  AppendJsonKey(out, "label_columns");
  out.push_back('[');
  for (std::size_t i = 0; i < in.label_columns.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(out, in.label_columns[i]);
  }
  out.push_back(']');
  AppendJsonKey(out, "parameters");
  out.push_back('[');
  for (std::size_t p = 0; p < in.params.size(); ++p) {
    const ParameterSpec& spec = in.params[p];
    if (p > 0) out.push_back(',');
    out.push_back('{');
    AppendJsonKey(out, "name", true);
    AppendJsonString(out, spec.name);
    num("resolution", spec.resolution);
    AppendJsonKey(out, "min_valid");
    if (spec.min_valid <= -kUnboundedLimit) {
      out += "null";
    } else {
      AppendJsonNumber(out, spec.min_valid);
    }
    AppendJsonKey(out, "max_valid");
    if (spec.max_valid >= kUnboundedLimit) {
      out += "null";
    } else {
      AppendJsonNumber(out, spec.max_valid);
    }
    AppendJsonKey(out, "water_quality");
    out += spec.water_quality ? "true" : "false";
    integer("missing", in.missing[p]);
    integer("unparsable", in.unparsable[p]);
    out.push_back('}');
  }
  out.push_back(']');
  integer("rows", s.rows);
  integer("skipped_rows", in.skipped_rows);
  integer("bad_label_cells", in.bad_label_cells);
  integer("non_increasing_times", in.non_increasing_times);
  AppendJsonKey(out, "labelled");
  out += s.labelled ? "true" : "false";
  integer("scored_rows", s.scored_rows);
  integer("positives", s.positives);
  integer("predicted", s.predicted);
  integer("true_positives", s.true_positives);
  num("precision", s.precision);
  num("recall", s.recall);
  num("f1", s.f1);
  integer("events", s.events);
  integer("events_detected", s.events_detected);
  num("event_recall", s.event_recall);
  num("median_delay_rows", s.median_delay_rows);
  num("mean_delay_rows", s.mean_delay_rows);
  num("median_spacing_s", static_cast<double>(s.median_spacing_ns) / 1e9);
  num("median_delay_minutes", s.median_delay_minutes);
  integer("false_alarms", s.false_alarms);
  num("scored_days", s.scored_days);
  num("false_alarms_per_day", s.false_alarms_per_day);
  integer("detected_runs", run.detected_runs);
  AppendRecalls(out, "label_column_recall", s.column_recall, "column");
  AppendRecalls(out, "type_recall", s.type_recall, "type");
  AppendJsonKey(out, "errors");
  out.push_back('[');
  for (std::size_t i = 0; i < in.errors.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('{');
    AppendJsonKey(out, "line", true);
    AppendJsonInt(out, in.errors[i].line);
    str("reason", in.errors[i].reason);
    out.push_back('}');
  }
  out += "]}\n";
  return out;
}

std::optional<std::int64_t> ParseBound(const std::string& text, std::string_view flag, bool& bad) {
  if (text.empty()) return std::nullopt;
  auto t = ParseRfc3339(text);
  if (!t.ok()) {
    std::fprintf(stderr, "replay: %s \"%s\": %s\n", std::string(flag).c_str(), text.c_str(),
                 t.status().message().c_str());
    bad = true;
    return std::nullopt;
  }
  return *t;
}

}  // namespace

const std::vector<std::string>& ReplayProfiles() {
  static const std::vector<std::string> kProfiles = [] {
    std::vector<std::string> names;
    for (const SiteProfile& p : kSiteProfiles) names.emplace_back(p.name);
    return names;
  }();
  return kProfiles;
}

int RunReplay(const ReplayCommandOptions& options) {
  // Options first: a typo in --set should not cost a 10 MB parse.
  const auto& profiles = ReplayProfiles();
  if (std::find(profiles.begin(), profiles.end(), options.profile) == profiles.end()) {
    std::fprintf(stderr, "replay: unknown profile \"%s\"\n", options.profile.c_str());
    return 2;
  }
  DetectorTuning tuning;
  for (const std::string& kv : options.set) {
    const std::size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "replay: --set wants key=value, got \"%s\"\n", kv.c_str());
      return 2;
    }
    Status s = SetTuningField(tuning, std::string_view(kv).substr(0, eq),
                              std::string_view(kv).substr(eq + 1));
    if (!s.ok()) {
      std::fprintf(stderr, "replay: --set %s: %s\n", kv.c_str(), s.message().c_str());
      return 2;
    }
  }
  bool bad = false;
  ReplayOptions replay_options;
  replay_options.score_from_ns = ParseBound(options.score_from, "--score-from", bad);
  replay_options.score_to_ns = ParseBound(options.score_to, "--score-to", bad);
  auto predict = ParsePredict(options.predict);
  if (!predict.ok()) {
    std::fprintf(stderr, "replay: --predict: %s\n", predict.status().message().c_str());
    bad = true;
  } else {
    replay_options.predict = *predict;
  }
  if (bad) return 2;
  CsvReadOptions csv;
  csv.time_column = options.time_column;
  csv.labels = SplitCommas(options.labels);
  csv.params = SplitCommas(options.params);
  if (options.date_order == "mdy") {
    csv.date_order = DateOrder::kMonthFirst;
  } else if (options.date_order == "dmy") {
    csv.date_order = DateOrder::kDayFirst;
  } else if (options.date_order != "auto") {
    std::fprintf(stderr, "replay: --date-order must be auto, mdy or dmy\n");
    return 2;
  }

  auto input = ReadReplayCsvFile(DefaultEnv(), options.input, csv);
  if (!input.ok()) {
    std::fprintf(stderr, "replay: %s\n", input.status().message().c_str());
    return 1;
  }
  const ReplayInput& in = *input;
  for (std::size_t i = 0; i < in.errors.size() && i < kPrintedErrors; ++i) {
    std::fprintf(stderr, "replay: %s:%u: skipped: %s\n", options.input.c_str(), in.errors[i].line,
                 in.errors[i].reason.c_str());
  }
  if (in.skipped_rows > kPrintedErrors) {
    std::fprintf(stderr, "replay: ... %zu rows skipped in all\n", in.skipped_rows);
  }

  auto detector = StationDetector::Create(in.params, tuning);
  if (!detector.ok()) {
    std::fprintf(stderr, "replay: detector: %s\n", detector.status().message().c_str());
    return 1;
  }
  const ProfileRules profile_rules = DefaultProfileRules();
  replay_options.rules = &profile_rules.For(*SiteProfileIndex(options.profile));
  const ReplayResult result = Replay(in, **detector, replay_options);
  const std::vector<DetectedEvent> events = DetectedEvents(in, result.verdicts);

  Run run{options, tuning, in, result, result.score, events.size()};
  std::fputs(Summary(run).c_str(), stdout);
  std::fflush(stdout);

  int rc = 0;
  auto write = [&rc](const std::string& path, std::string_view data) {
    if (path.empty()) return;
    Status s = WriteFile(path, data);
    if (!s.ok()) {
      std::fprintf(stderr, "replay: %s\n", s.message().c_str());
      rc = 1;
    }
  };
  if (!options.output.empty()) {
    write(options.output, FormatRowsCsv(in, result.verdicts, result.thresholds));
  }
  if (!options.events.empty()) write(options.events, FormatEventsCsv(in, events));
  if (!options.json.empty()) write(options.json, Json(run));
  return rc;
}

CLI::App* AddReplayCommand(CLI::App& parent, int* exit_code) {
  auto opts = std::make_shared<ReplayCommandOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "replay", "Run the station detector over a labelled CSV file, row by row, and score it");
  cmd->add_option("--input", opts->input, "CSV file; first row is the header")->required();
  cmd->add_option("--labels", opts->labels,
                  "Label column(s), comma-separated; a row is an event when any is TRUE/1 "
                  "(e.g. EVENT, or label_Tur,label_Cond,label_Level)")
      ->delimiter(',');
  cmd->add_option("--time-column", opts->time_column,
                  "Time column (RFC 3339 or MM/DD/YYYY HH:MM[:SS]); default: the first column");
  cmd->add_option("--date-order", opts->date_order,
                  "Day/month order of slash dates: auto (day first if a first field exceeds 12), "
                  "mdy or dmy")
      ->check(CLI::IsMember({"auto", "mdy", "dmy"}))
      ->capture_default_str();
  cmd->add_option("--params", opts->params,
                  "Parameter columns, comma-separated; default: all but time and label columns")
      ->delimiter(',');
  cmd->add_option("--profile", opts->profile,
                  "Site profile whose threshold rules apply to the columns with canonical "
                  "parameter names (defaults from public standards, docs/detection-v0.md)")
      ->check(CLI::IsMember(ReplayProfiles()))
      ->capture_default_str();
  cmd->add_option("--score-from", opts->score_from,
                  "Score rows at or after this RFC 3339 time (earlier rows still train the "
                  "detector)");
  cmd->add_option("--score-to", opts->score_to, "Score rows before this RFC 3339 time");
  cmd->add_option("--output", opts->output,
                  "Write per-row verdicts: time,event,probability,outliers,faults,spikes,"
                  "missing,after_gap,max_z[,label]");
  cmd->add_option("--events", opts->events,
                  "Write detected events: start,end,rows,max_probability,labelled");
  cmd->add_option("--set", opts->set,
                  "Override a DetectorTuning field, key=value (repeatable): baseline_alpha, "
                  "scale_alpha, resolution_floor, outlier_z, warmup_samples, window, "
                  "outlier_rate, event_probability, daily_days, strong_z, ramp_rows, "
                  "ramp_z, joint_p, joint_alpha, rebaseline_after, flat_samples, "
                  "flat_tolerance, flat_factor, drift_alpha, "
                  "drift_z, drift_samples, spike_filter, missing_samples, offline_after, "
                  "offline_min_seconds");
  cmd->add_option("--predict", opts->predict,
                  "What counts as a predicted row: events (water quality, GECCO), faults (QA/QC) "
                  "or any (both, for technical-anomaly labels such as Leigh 2019)")
      ->capture_default_str();
  cmd->add_option("--json", opts->json, "Write the summary as JSON");
  cmd->callback([opts, exit_code] {
    int rc = RunReplay(*opts);
    if (exit_code != nullptr) *exit_code = rc;
  });
  return cmd;
}

}  // namespace aquawatch
