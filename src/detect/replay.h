// Replay: runs a StationDetector over a labelled CSV file, row by row, and scores it the way the
// GECCO 2018 challenge did (row-level precision/recall/F1), plus what an operator feels: event
// recall, detection delay and false alarms per sensor-day. Backs `aquawatch replay`.
//
// Reading is strict but never aborts on a bad cell: unparsable numbers become NaN and are counted
// per column; a row whose time cannot be parsed is skipped, counted and reported with its line.
// Replay is causal: the detector sees rows in file order, once each, never a later row.
// Thread-safety: stateless functions; each call may run on any thread with its own arguments
// (the detector passed to Replay must not be used by another thread meanwhile).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/env.h"
#include "core/status.h"
#include "detect/rules.h"
#include "detect/station_detector.h"

namespace aquawatch {

// Order of day and month in `12/03/2017 0:42`-style times. CANARY files are month first, the
// Leigh 2019 files day first; kAuto decides from the file (a first field above 12 means day
// first) and falls back to month first when every date is ambiguous.
enum class DateOrder { kAuto, kMonthFirst, kDayFirst };

struct CsvReadOptions {
  std::string time_column;          // empty: the first column
  std::vector<std::string> labels;  // label columns; a row is labelled TRUE when any of them is
  std::vector<std::string> params;  // parameter columns, in this order; empty: all other columns
  DateOrder date_order = DateOrder::kAuto;
};

struct CsvRowError {
  std::uint32_t line = 0;  // 1-based line in the file
  std::string reason;
};

// Label value of one row: unknown (NA, empty or unparsable), false or true.
inline constexpr std::int8_t kLabelUnknown = -1;

// A CSV file parsed for replay. Plain data: tests build it by hand too.
struct ReplayInput {
  std::vector<ParameterSpec> params;  // one per parameter column, in column order
  std::vector<std::int64_t> time_ns;  // one per row
  std::vector<double> values;         // row-major: row r is values[r * params.size() ...]
  std::vector<std::uint32_t> lines;   // source line of each row (1-based), for messages

  // Combined label per row (kLabelUnknown, 0, 1); empty when the file has no label column.
  std::vector<std::int8_t> label;
  std::vector<std::string> label_columns;
  std::vector<std::vector<std::int8_t>> column_labels;  // per label column, per row
  // Fault types (Leigh `type_<X>` next to `label_<X>`): per label column, per row; "" where the
  // label column has no type column. Empty when no label column has one.
  std::vector<std::vector<std::string>> column_types;

  // What went wrong while reading. Never fatal for a cell.
  std::vector<std::size_t> missing;      // per parameter: NA or empty cells
  std::vector<std::size_t> unparsable;   // per parameter: cells that are not a number
  std::size_t bad_label_cells = 0;       // label cells that are not TRUE/FALSE/1/0/NA
  std::size_t skipped_rows = 0;          // rows with a bad time or the wrong number of fields
  std::size_t non_increasing_times = 0;  // rows not later than the row before (kept, in order)
  std::vector<CsvRowError> errors;       // the first kMaxReportedErrors skipped rows
  std::string time_column;               // the name actually used
  std::string time_format;               // "rfc3339", "mm/dd/yyyy", "dd/mm/yyyy" or "" (no rows)

  std::size_t rows() const { return time_ns.size(); }
  const double* row(std::size_t r) const { return values.data() + r * params.size(); }
};

// Parses `text` (the whole file). Only errors that make the file unusable fail: no header, a
// named column (time, label or parameter) that does not exist, or no parameter columns.
Result<ReplayInput> ReadReplayCsv(std::string_view text, const CsvReadOptions& options);
Result<ReplayInput> ReadReplayCsvFile(Env& env, const std::string& path,
                                      const CsvReadOptions& options);

// Times of the CSV files: RFC 3339, or `MM/DD/YYYY HH:MM[:SS]` (one- or two-digit fields; day
// first with kDayFirst). kAuto on a slash date means month first. Returns ns since the epoch, UTC.
Result<std::int64_t> ParseCsvTime(std::string_view text, DateOrder order = DateOrder::kAuto);

// The spec of a column: the built-in table (GECCO, Leigh, CANARY names) or, for other columns
// (and table entries without a resolution), resolution inferred from `values` (the column in
// file order; only the first 5000 are used), range unbounded, water quality.
ParameterSpec SpecForColumn(std::string_view name, std::span<const double> values);
// Smallest positive gap between distinct non-NaN values among the first 5000, rounded to six
// significant digits and floored at 1e-6 (1e-6 too when there is no gap at all).
double InferResolution(std::span<const double> values);

// Which verdicts count as a predicted row when scoring.
enum class Predict : std::uint8_t {
  kEvents,  // verdict.event: water-quality events (GECCO's labels)
  kFaults,  // a QA/QC fault on the row: bad or long-missing value, offline gap, or a spike
            // (confirmed on the next row, credited to the spike's own row)
  kEither,  // events, faults and threshold levels: every anomaly (Leigh 2019's technical ones)
};
// "events", "faults" or "any".
std::string_view PredictName(Predict p);
Result<Predict> ParsePredict(std::string_view text);

struct ReplayOptions {
  Predict predict = Predict::kEvents;
  // Threshold rules (a site profile's) applied to the columns with canonical parameter names,
  // the same way the server applies them (TrackThreshold). Null: none.
  const RuleSet* rules = nullptr;
  // Only rows with score_from_ns <= time < score_to_ns are scored; the detector still sees the
  // rows before, which is how a time split (tune on the past, score on the future) works.
  std::optional<std::int64_t> score_from_ns;
  std::optional<std::int64_t> score_to_ns;
};

struct TypeRecall {
  std::string type;  // fault type code, e.g. "E" (Leigh) or a name
  std::size_t rows = 0;
  std::size_t detected = 0;
  double recall = 0;
};

struct ReplayScore {
  bool labelled = false;        // false: only alarm counts mean anything
  std::size_t rows = 0;         // rows the detector saw
  std::size_t scored_rows = 0;  // rows in the score window with a known label
  std::size_t positives = 0;    // scored rows labelled TRUE
  std::size_t predicted = 0;    // scored rows predicted (ReplayOptions::predict)
  std::size_t true_positives = 0;
  double precision = 0;  // 0 when nothing is predicted
  double recall = 0;     // 0 when nothing is labelled
  double f1 = 0;

  // Events: maximal runs of TRUE rows in the scored sequence (rows outside the window or without
  // a label are not part of the sequence).
  std::size_t events = 0;
  std::size_t events_detected = 0;  // at least one predicted row inside the run
  double event_recall = 0;
  double median_delay_rows = 0;  // first predicted row - first TRUE row, over detected events
  double mean_delay_rows = 0;
  std::int64_t median_spacing_ns = 0;  // median positive gap between consecutive rows
  double median_delay_minutes = 0;     // median_delay_rows * median_spacing_ns

  // False alarms: maximal runs of predicted rows (scored sequence) that overlap no TRUE row.
  std::size_t false_alarms = 0;
  double scored_days = 0;  // last scored time - first scored time
  double false_alarms_per_day = 0;

  std::vector<TypeRecall> type_recall;    // by fault type, sorted by type; Leigh-style files
  std::vector<TypeRecall> column_recall;  // by label column (type = column name), >1 column
};

// A run of predicted rows over the whole file, for the events CSV.
struct DetectedEvent {
  std::size_t first_row = 0;
  std::size_t last_row = 0;
  double max_probability = 0;
  bool labelled = false;  // some row of the run is labelled TRUE
};

struct ReplayResult {
  std::vector<RowVerdict> verdicts;  // one per input row
  // Per row, bit i: column i was in a warn or critical level of ReplayOptions::rules.
  std::vector<std::uint32_t> thresholds;
  std::size_t threshold_alerts = 0;        // crossings that would have opened a threshold alert
  std::vector<std::string> ruled_columns;  // columns that have a rule
  ReplayScore score;
};

// Feeds every row to `detector` in file order and scores the verdicts.
// REQUIRES: detector.params().size() == input.params.size().
ReplayResult Replay(const ReplayInput& input, StationDetector& detector,
                    const ReplayOptions& options);
// REQUIRES: verdicts.size() == input.rows(); thresholds empty or one per row.
ReplayScore ScoreReplay(const ReplayInput& input, std::span<const RowVerdict> verdicts,
                        const ReplayOptions& options,
                        std::span<const std::uint32_t> thresholds = {});
std::vector<DetectedEvent> DetectedEvents(const ReplayInput& input,
                                          std::span<const RowVerdict> verdicts);

// `time,event,probability,outliers,faults,spikes,missing,after_gap,thresholds,max_z[,label]`, one
// line per row; outliers, faults, spikes and missing are the bit masks of RowVerdict, thresholds
// ReplayResult's (bit i = parameter i of input.params).
std::string FormatRowsCsv(const ReplayInput& input, std::span<const RowVerdict> verdicts,
                          std::span<const std::uint32_t> thresholds = {});
// `start,end,rows,max_probability,labelled`, one line per DetectedEvent.
std::string FormatEventsCsv(const ReplayInput& input, std::span<const DetectedEvent> events);

// Sets one DetectorTuning field by name (baseline_alpha, scale_alpha, resolution_floor,
// outlier_z, warmup_samples, window, ... : every DetectorTuning field), checking
// the value's type and range. InvalidArgument names the key and the problem.
Status SetTuningField(DetectorTuning& tuning, std::string_view key, std::string_view value);
// Every field as `name=value`, in the order above (the keys SetTuningField accepts).
std::vector<std::pair<std::string, std::string>> TuningFields(const DetectorTuning& tuning);
// The values a tuning field accepts, e.g. "in (0, 1]"; empty for an unknown key.
std::string_view TuningFieldRange(std::string_view key);

}  // namespace aquawatch
