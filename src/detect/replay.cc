#include "detect/replay.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cmath>
#include <map>

#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

constexpr double kUnbounded = 1e300;
constexpr std::size_t kResolutionRows = 5000;
constexpr double kMinResolution = 1e-6;
constexpr std::int64_t kNsPerSecond = 1'000'000'000;
constexpr double kNsPerDay = 86400.0 * 1e9;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

// Splits one CSV line into trimmed fields. Double-quoted fields may hold commas; their quotes are
// dropped (a doubled quote inside stays doubled: no numeric or label cell contains one).
void SplitFields(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t i = 0;
  while (true) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i < line.size() && line[i] == '"') {
      std::size_t close = i + 1;
      while (close < line.size()) {
        if (line[close] == '"') {
          if (close + 1 < line.size() && line[close + 1] == '"') {
            close += 2;
            continue;
          }
          break;
        }
        ++close;
      }
      out.push_back(line.substr(i + 1, close - i - 1));
      std::size_t comma = line.find(',', std::min(close, line.size()));
      if (comma == std::string_view::npos) return;
      i = comma + 1;
      continue;
    }
    std::size_t comma = line.find(',', i);
    if (comma == std::string_view::npos) {
      out.push_back(Trim(line.substr(std::min(i, line.size()))));
      return;
    }
    out.push_back(Trim(line.substr(i, comma - i)));
    i = comma + 1;
  }
}

bool IsMissing(std::string_view s) {
  return s.empty() || s == "NA" || s == "N/A" || s == "NaN" || s == "nan" || s == "null";
}

// Strict: the whole cell must be a finite number.
bool ParseNumber(std::string_view s, double& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(out);
}

bool ParseInt(std::string_view s, long long& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::int8_t ParseLabel(std::string_view s, bool& bad) {
  if (IsMissing(s)) return kLabelUnknown;
  if (s == "1" || EqualsIgnoreCase(s, "true")) return 1;
  if (s == "0" || EqualsIgnoreCase(s, "false")) return 0;
  bad = true;
  return kLabelUnknown;
}

bool IsNoType(std::string_view s) { return s.empty() || s == "0" || s == "NA"; }

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

unsigned DaysInMonth(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) return 29;
  return kDays[m - 1];
}

// Reads digits up to `max_digits` (at least one) and the separator after them (if any).
bool TakeNumber(std::string_view& s, std::size_t max_digits, long long& out) {
  std::size_t n = 0;
  while (n < s.size() && n < max_digits && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0) return false;
  if (!ParseInt(s.substr(0, n), out)) return false;
  s.remove_prefix(n);
  return true;
}

bool TakeChar(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

// The two leading fields of a slash date, for deciding day/month order.
bool SlashDateFields(std::string_view s, long long& a, long long& b) {
  return TakeNumber(s, 2, a) && TakeChar(s, '/') && TakeNumber(s, 2, b) && TakeChar(s, '/');
}

Result<std::int64_t> ParseSlashTime(std::string_view text, DateOrder order) {
  std::string_view s = text;
  long long a = 0, b = 0, y = 0, h = 0, mi = 0, sec = 0;
  bool ok = TakeNumber(s, 2, a) && TakeChar(s, '/') && TakeNumber(s, 2, b) && TakeChar(s, '/') &&
            TakeNumber(s, 4, y) && TakeChar(s, ' ');
  while (ok && TakeChar(s, ' ')) {
  }
  ok = ok && TakeNumber(s, 2, h) && TakeChar(s, ':') && TakeNumber(s, 2, mi);
  if (ok && !s.empty()) ok = TakeChar(s, ':') && TakeNumber(s, 2, sec) && s.empty();
  if (!ok) {
    return Status::InvalidArgument(fmt::format("invalid time \"{}\"", text));
  }
  const long long month = order == DateOrder::kDayFirst ? b : a;
  const long long day = order == DateOrder::kDayFirst ? a : b;
  if (y < 1900 || month < 1 || month > 12 || day < 1 ||
      day > DaysInMonth(y, static_cast<unsigned>(month)) || h > 23 || mi > 59 || sec > 59) {
    return Status::InvalidArgument(fmt::format("time out of range \"{}\"", text));
  }
  const std::int64_t days =
      DaysFromCivil(y, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return ((days * 24 + h) * 60 + mi) * 60 * kNsPerSecond + sec * kNsPerSecond;
}

bool LooksRfc3339(std::string_view s) { return s.size() >= 10 && s[4] == '-'; }

struct KnownSpec {
  std::string_view name;
  double resolution;  // 0: infer from the data
  double min_valid;
  double max_valid;
  bool water_quality;
};

// GECCO 2017/2018 (Thüringer Fernwasserversorgung) and Leigh 2019 (oddwater) column names.
constexpr KnownSpec kKnownSpecs[] = {
    {"Tp", 0.1, -5, 50, true},                        // temperature, °C
    {"Cl", 0.01, 0, 10, true},                        // chlorine dioxide, mg/L
    {"pH", 0.01, 0, 14, true},                        //
    {"Redox", 1, -1000, 1500, true},                  // mV
    {"Leit", 1, 0, 10000, true},                      // conductivity, µS/cm
    {"Trueb", 0.001, 0, 1000, true},                  // turbidity, NTU
    {"Cl_2", 0.001, 0, 10, true},                     // second chlorine dioxide sensor, mg/L
    {"Fm", 1, 0, 100000, false},                      // flow, m³/h: context, not water quality
    {"Fm_2", 1, 0, 100000, false},                    //
    {"Level", 0.001, -kUnbounded, kUnbounded, true},  // river level, m (datum-relative)
    {"Cond", 0.01, 0, 200000, true},                  // conductivity, µS/cm
    {"Tur", 0.01, 0, 10000, true},                    // turbidity, NTU
};

// CANARY `<station>_<KIND>_VAL` columns, by KIND. The tutorial's temperatures (~56) are °F.
constexpr KnownSpec kCanaryKinds[] = {
    {"CL2", 0.01, 0, 10, true},   {"TURB", 0.001, 0, 1000, true}, {"PH", 0.01, 0, 14, true},
    {"TOC", 0.01, 0, 1000, true}, {"COND", 0.1, 0, 10000, true},  {"TEMP", 0.1, -10, 130, true},
};

std::optional<KnownSpec> LookUpSpec(std::string_view name) {
  for (const KnownSpec& k : kKnownSpecs) {
    if (k.name == name) return k;
  }
  if (name.ends_with("_VAL")) {
    std::string_view stem = name.substr(0, name.size() - 4);
    std::size_t underscore = stem.rfind('_');
    std::string_view kind =
        underscore == std::string_view::npos ? stem : stem.substr(underscore + 1);
    for (const KnownSpec& k : kCanaryKinds) {
      if (k.name == kind) return k;
    }
  }
  // CANARY operational signals (pressure, flow): context only.
  if (name.ends_with("_OP")) return KnownSpec{name, 0, -kUnbounded, kUnbounded, false};
  return std::nullopt;
}

// Columns never used as parameters unless named in `params`: they would leak the answer.
bool IsLabelLike(std::string_view name) {
  return name.starts_with("label_") || name.starts_with("type_") || EqualsIgnoreCase(name, "EVENT");
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string FormatTime(std::int64_t ns) {
  std::int64_t secs = ns / kNsPerSecond;
  if (ns < 0 && ns % kNsPerSecond != 0) --secs;
  std::chrono::sys_seconds t{std::chrono::seconds(secs)};
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", t);
}

}  // namespace

Result<std::int64_t> ParseCsvTime(std::string_view text, DateOrder order) {
  text = Trim(text);
  if (LooksRfc3339(text)) {
    auto t = ParseRfc3339(text);
    if (t.ok()) return t;
    return Status::InvalidArgument(
        fmt::format("invalid time \"{}\": {}", text, t.status().message()));
  }
  if (text.find('/') != std::string_view::npos) return ParseSlashTime(text, order);
  return Status::InvalidArgument(
      fmt::format("invalid time \"{}\" (want RFC 3339 or MM/DD/YYYY HH:MM[:SS])", text));
}

double InferResolution(std::span<const double> values) {
  std::vector<double> v;
  v.reserve(std::min(values.size(), kResolutionRows));
  for (std::size_t i = 0; i < values.size() && i < kResolutionRows; ++i) {
    if (!std::isnan(values[i])) v.push_back(values[i]);
  }
  std::sort(v.begin(), v.end());
  double best = 0;
  for (std::size_t i = 1; i < v.size(); ++i) {
    const double gap = v[i] - v[i - 1];
    if (gap > 0 && (best == 0 || gap < best)) best = gap;
  }
  if (best <= 0) return kMinResolution;
  // Differences of decimal values carry binary noise (0.09999999999999787 for a 0.1 step); keep
  // six significant digits. Dividing by an exact power of ten rounds correctly.
  const double scale = std::pow(10.0, 5 - std::floor(std::log10(best)));
  best = std::round(best * scale) / scale;
  return std::max(best, kMinResolution);
}

ParameterSpec SpecForColumn(std::string_view name, std::span<const double> values) {
  // aquawatch's own names mean what they mean in the server, so replay and live agree.
  if (ParameterId id = ParameterFromName(name); id != ParameterId::kCustom) {
    return CanonicalSpec(id);
  }
  ParameterSpec spec;
  spec.name = std::string(name);
  std::optional<KnownSpec> known = LookUpSpec(name);
  if (known) {
    spec.min_valid = known->min_valid;
    spec.max_valid = known->max_valid;
    spec.water_quality = known->water_quality;
  } else {
    spec.min_valid = -kUnbounded;
    spec.max_valid = kUnbounded;
    spec.water_quality = true;
  }
  spec.resolution = known && known->resolution > 0 ? known->resolution : InferResolution(values);
  return spec;
}

Result<ReplayInput> ReadReplayCsv(std::string_view text, const CsvReadOptions& options) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte order mark
  std::uint32_t line_no = 0;
  std::size_t pos = 0;
  auto next_line = [&](std::string_view& line) {
    if (pos >= text.size()) return false;
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    ++line_no;
    return true;
  };

  std::string_view line;
  std::vector<std::string_view> fields;
  bool have_header = false;
  while (next_line(line)) {
    if (!Trim(line).empty()) {
      have_header = true;
      break;
    }
  }
  if (!have_header) return Status::InvalidArgument("empty file: no header row");
  std::vector<std::string> header;
  SplitFields(line, fields);
  for (std::string_view f : fields) header.emplace_back(f);
  const std::size_t columns = header.size();
  auto find_column = [&](std::string_view name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < columns; ++i) {
      if (header[i] == name) return i;
    }
    return std::nullopt;
  };
  auto no_such_column = [&](std::string_view what, std::string_view name) {
    std::string known;
    for (const std::string& h : header) known += (known.empty() ? "" : ", ") + h;
    return Status::InvalidArgument(
        fmt::format("no {} column \"{}\" (columns: {})", what, name, known));
  };

  ReplayInput in;
  std::size_t time_col = 0;
  if (!options.time_column.empty()) {
    auto c = find_column(options.time_column);
    if (!c) return no_such_column("time", options.time_column);
    time_col = *c;
  }
  in.time_column = header[time_col];

  std::vector<std::size_t> label_cols;
  std::vector<std::optional<std::size_t>> type_cols;
  bool any_type = false;
  for (const std::string& name : options.labels) {
    auto c = find_column(name);
    if (!c) return no_such_column("label", name);
    if (*c == time_col)
      return Status::InvalidArgument(fmt::format("\"{}\" is the time column", name));
    label_cols.push_back(*c);
    in.label_columns.push_back(name);
    std::optional<std::size_t> type_col;
    if (name.starts_with("label_")) type_col = find_column("type_" + name.substr(6));
    any_type = any_type || type_col.has_value();
    type_cols.push_back(type_col);
  }

  std::vector<std::size_t> param_cols;
  if (!options.params.empty()) {
    for (const std::string& name : options.params) {
      auto c = find_column(name);
      if (!c) return no_such_column("parameter", name);
      if (*c == time_col ||
          std::find(label_cols.begin(), label_cols.end(), *c) != label_cols.end()) {
        return Status::InvalidArgument(
            fmt::format("\"{}\" is the time or a label column, not a parameter", name));
      }
      param_cols.push_back(*c);
    }
  } else {
    for (std::size_t i = 0; i < columns; ++i) {
      if (i == time_col || IsLabelLike(header[i]) ||
          std::find(label_cols.begin(), label_cols.end(), i) != label_cols.end()) {
        continue;
      }
      param_cols.push_back(i);
    }
  }
  if (param_cols.empty()) return Status::InvalidArgument("no parameter columns");
  if (param_cols.size() > 32) {
    return Status::InvalidArgument(fmt::format(
        "{} parameter columns; at most 32 (the verdict's bit masks); choose with params",
        param_cols.size()));
  }
  const std::size_t np = param_cols.size();

  // Day/month order of slash dates is a property of the file, so look at every time first.
  DateOrder order = options.date_order;
  const std::size_t body = pos;
  const std::uint32_t body_line = line_no;
  bool saw_slash = false, saw_rfc = false;
  if (order == DateOrder::kAuto) {
    bool day_first = false, month_first = false;
    while (next_line(line)) {
      if (Trim(line).empty()) continue;
      SplitFields(line, fields);
      if (time_col >= fields.size()) continue;
      long long a = 0, b = 0;
      if (SlashDateFields(fields[time_col], a, b)) {
        saw_slash = true;
        day_first = day_first || a > 12;
        month_first = month_first || b > 12;
      } else {
        saw_rfc = saw_rfc || LooksRfc3339(fields[time_col]);
      }
    }
    order = day_first && !month_first ? DateOrder::kDayFirst : DateOrder::kMonthFirst;
    pos = body;
    line_no = body_line;
  }

  in.missing.assign(np, 0);
  in.unparsable.assign(np, 0);
  in.column_labels.resize(label_cols.size());
  if (any_type) in.column_types.resize(label_cols.size());
  in.values.reserve(text.size() / 8);
  auto reject = [&](std::string reason) {
    ++in.skipped_rows;
    if (in.errors.size() < kMaxReportedErrors) in.errors.push_back({line_no, std::move(reason)});
  };

  while (next_line(line)) {
    if (Trim(line).empty()) continue;
    SplitFields(line, fields);
    if (fields.size() != columns) {
      reject(fmt::format("{} fields, the header has {}", fields.size(), columns));
      continue;
    }
    auto t = ParseCsvTime(fields[time_col], order);
    if (!t.ok()) {
      reject(fmt::format("{}: {}", in.time_column, t.status().message()));
      continue;
    }
    if (LooksRfc3339(Trim(fields[time_col]))) {
      saw_rfc = true;
    } else {
      saw_slash = true;
    }
    if (!in.time_ns.empty() && *t <= in.time_ns.back()) ++in.non_increasing_times;
    in.time_ns.push_back(*t);
    in.lines.push_back(line_no);
    for (std::size_t p = 0; p < np; ++p) {
      std::string_view cell = fields[param_cols[p]];
      double v = std::nan("");
      if (IsMissing(cell)) {
        ++in.missing[p];
      } else if (!ParseNumber(cell, v)) {
        ++in.unparsable[p];
        v = std::nan("");
      }
      in.values.push_back(v);
    }
    if (!label_cols.empty()) {
      std::int8_t combined = 0;
      bool unknown = false;
      for (std::size_t c = 0; c < label_cols.size(); ++c) {
        bool bad = false;
        std::int8_t l = ParseLabel(fields[label_cols[c]], bad);
        if (bad) ++in.bad_label_cells;
        in.column_labels[c].push_back(l);
        if (l == 1) combined = 1;
        if (l == kLabelUnknown) unknown = true;
        if (any_type) {
          in.column_types[c].emplace_back(type_cols[c] ? fields[*type_cols[c]]
                                                       : std::string_view());
        }
      }
      in.label.push_back(combined == 0 && unknown ? kLabelUnknown : combined);
    }
  }

  if (saw_slash) {
    in.time_format = order == DateOrder::kDayFirst ? "dd/mm/yyyy" : "mm/dd/yyyy";
    if (saw_rfc) in.time_format += "+rfc3339";
  } else if (saw_rfc) {
    in.time_format = "rfc3339";
  }

  std::vector<double> column;
  for (std::size_t p = 0; p < np; ++p) {
    column.clear();
    const std::size_t n = std::min(in.rows(), kResolutionRows);
    for (std::size_t r = 0; r < n; ++r) column.push_back(in.values[r * np + p]);
    in.params.push_back(SpecForColumn(header[param_cols[p]], column));
  }
  return in;
}

Result<ReplayInput> ReadReplayCsvFile(Env& env, const std::string& path,
                                      const CsvReadOptions& options) {
  auto text = env.ReadWholeFile(path);
  if (!text.ok()) return text.status();
  auto in = ReadReplayCsv(*text, options);
  if (!in.ok()) return Status::InvalidArgument(fmt::format("{}: {}", path, in.status().message()));
  return in;
}

namespace {

// The server's threshold rules on the columns named like canonical parameters.
void ApplyRules(const ReplayInput& input, const RuleSet& rules, ReplayResult& result) {
  struct Column {
    std::size_t index;
    const ThresholdRule* rule;
    Level level = Level::kNormal;
    std::int64_t pending_since = kNotPending;
  };
  std::vector<Column> columns;
  for (std::size_t c = 0; c < input.params.size() && c < 32; ++c) {
    const ParameterId id = ParameterFromName(input.params[c].name);
    if (id == ParameterId::kCustom || !rules.For(id).enabled) continue;
    columns.push_back({c, &rules.For(id)});
    result.ruled_columns.push_back(input.params[c].name);
  }
  result.thresholds.assign(input.rows(), 0);
  for (std::size_t r = 0; r < input.rows(); ++r) {
    for (Column& col : columns) {
      const Level next = TrackThreshold(*col.rule, col.level, col.pending_since, input.time_ns[r],
                                        input.row(r)[col.index]);
      if (col.level == Level::kNormal && next != Level::kNormal) ++result.threshold_alerts;
      col.level = next;
      if (next != Level::kNormal) result.thresholds[r] |= 1u << col.index;
    }
  }
}

}  // namespace

ReplayResult Replay(const ReplayInput& input, StationDetector& detector,
                    const ReplayOptions& options) {
  assert(detector.params().size() == input.params.size());
  ReplayResult result;
  result.verdicts.reserve(input.rows());
  for (std::size_t r = 0; r < input.rows(); ++r) {
    result.verdicts.push_back(detector.Process(input.time_ns[r], input.row(r)));
  }
  if (options.rules != nullptr) ApplyRules(input, *options.rules, result);
  result.score = ScoreReplay(input, result.verdicts, options, result.thresholds);
  return result;
}

std::string_view PredictName(Predict p) {
  switch (p) {
    case Predict::kEvents:
      return "events";
    case Predict::kFaults:
      return "faults";
    case Predict::kEither:
      return "any";
  }
  return "unknown";
}

Result<Predict> ParsePredict(std::string_view text) {
  for (Predict p : {Predict::kEvents, Predict::kFaults, Predict::kEither}) {
    if (text == PredictName(p)) return p;
  }
  return Status::InvalidArgument(
      fmt::format("predict must be events, faults or any, got \"{}\"", text));
}

namespace {

// Row r is predicted under `mode`. A spike is confirmed on the row after it; it is credited to
// the spike's own row, one row late, as an operator would see it.
std::vector<bool> Predictions(std::span<const RowVerdict> verdicts, Predict mode,
                              std::span<const std::uint32_t> thresholds) {
  std::vector<bool> out(verdicts.size());
  for (std::size_t r = 0; r < verdicts.size(); ++r) {
    const RowVerdict& v = verdicts[r];
    const bool fault = v.faults != 0 || v.missing != 0 || v.after_gap ||
                       (r + 1 < verdicts.size() && verdicts[r + 1].spikes != 0);
    const bool threshold = r < thresholds.size() && thresholds[r] != 0;
    out[r] = mode == Predict::kEvents   ? v.event
             : mode == Predict::kFaults ? fault
                                        : v.event || fault || threshold;
  }
  return out;
}

}  // namespace

ReplayScore ScoreReplay(const ReplayInput& input, std::span<const RowVerdict> verdicts,
                        const ReplayOptions& options, std::span<const std::uint32_t> thresholds) {
  assert(verdicts.size() == input.rows());
  const std::vector<bool> predicted = Predictions(verdicts, options.predict, thresholds);
  ReplayScore s;
  s.rows = input.rows();
  s.labelled = !input.label.empty();

  std::vector<std::int64_t> gaps;
  for (std::size_t r = 1; r < input.rows(); ++r) {
    if (input.time_ns[r] > input.time_ns[r - 1])
      gaps.push_back(input.time_ns[r] - input.time_ns[r - 1]);
  }
  if (!gaps.empty()) {
    std::nth_element(gaps.begin(), gaps.begin() + static_cast<std::ptrdiff_t>(gaps.size() / 2),
                     gaps.end());
    s.median_spacing_ns = gaps[gaps.size() / 2];
  }

  // The scored sequence: rows in the window with a known label (every row when unlabelled).
  std::vector<std::size_t> seq;
  for (std::size_t r = 0; r < input.rows(); ++r) {
    const std::int64_t t = input.time_ns[r];
    if (options.score_from_ns && t < *options.score_from_ns) continue;
    if (options.score_to_ns && t >= *options.score_to_ns) continue;
    if (s.labelled && input.label[r] == kLabelUnknown) continue;
    seq.push_back(r);
  }
  s.scored_rows = seq.size();

  std::vector<double> delays;
  bool in_event = false, event_detected = false;
  std::size_t event_start = 0;
  bool in_run = false, run_overlaps = false;
  for (std::size_t k = 0; k < seq.size(); ++k) {
    const std::size_t r = seq[k];
    const bool pos = s.labelled && input.label[r] == 1;
    const bool pred = predicted[r];
    s.positives += pos;
    s.predicted += pred;
    s.true_positives += pos && pred;

    if (pos && !in_event) {
      in_event = true;
      event_detected = false;
      event_start = k;
      ++s.events;
    } else if (!pos) {
      in_event = false;
    }
    if (pos && pred && !event_detected) {
      event_detected = true;
      ++s.events_detected;
      delays.push_back(static_cast<double>(k - event_start));
    }

    if (pred && !in_run) {
      in_run = true;
      run_overlaps = false;
    }
    if (in_run && !pred) {
      in_run = false;
      s.false_alarms += !run_overlaps;
    }
    run_overlaps = run_overlaps || (pred && pos);
  }
  if (in_run) s.false_alarms += !run_overlaps;

  s.precision = s.predicted > 0 ? static_cast<double>(s.true_positives) / s.predicted : 0;
  s.recall = s.positives > 0 ? static_cast<double>(s.true_positives) / s.positives : 0;
  s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0;
  s.event_recall = s.events > 0 ? static_cast<double>(s.events_detected) / s.events : 0;
  if (!delays.empty()) {
    double sum = 0;
    for (double d : delays) sum += d;
    s.mean_delay_rows = sum / static_cast<double>(delays.size());
    s.median_delay_rows = Median(delays);
    s.median_delay_minutes =
        s.median_delay_rows * static_cast<double>(s.median_spacing_ns) / (60.0 * 1e9);
  }
  if (seq.size() >= 2) {
    s.scored_days =
        static_cast<double>(input.time_ns[seq.back()] - input.time_ns[seq.front()]) / kNsPerDay;
  }
  s.false_alarms_per_day =
      s.scored_days > 0 ? static_cast<double>(s.false_alarms) / s.scored_days : 0;

  // Per fault type: a row counts once per distinct type among its label columns.
  if (!input.column_types.empty()) {
    std::map<std::string, TypeRecall> by_type;
    std::vector<std::string_view> row_types;
    for (std::size_t r : seq) {
      row_types.clear();
      for (const auto& types : input.column_types) {
        if (r < types.size() && !IsNoType(types[r])) row_types.push_back(types[r]);
      }
      std::sort(row_types.begin(), row_types.end());
      row_types.erase(std::unique(row_types.begin(), row_types.end()), row_types.end());
      for (std::string_view t : row_types) {
        TypeRecall& tr = by_type[std::string(t)];
        tr.type = std::string(t);
        ++tr.rows;
        tr.detected += predicted[r];
      }
    }
    for (auto& [type, tr] : by_type) {
      tr.recall = static_cast<double>(tr.detected) / static_cast<double>(tr.rows);
      s.type_recall.push_back(tr);
    }
  }
  if (input.column_labels.size() > 1) {
    for (std::size_t c = 0; c < input.column_labels.size(); ++c) {
      TypeRecall cr;
      cr.type = c < input.label_columns.size() ? input.label_columns[c] : fmt::format("{}", c);
      for (std::size_t r : seq) {
        if (input.column_labels[c][r] != 1) continue;
        ++cr.rows;
        cr.detected += predicted[r];
      }
      cr.recall = cr.rows > 0 ? static_cast<double>(cr.detected) / static_cast<double>(cr.rows) : 0;
      s.column_recall.push_back(cr);
    }
  }
  return s;
}

std::vector<DetectedEvent> DetectedEvents(const ReplayInput& input,
                                          std::span<const RowVerdict> verdicts) {
  std::vector<DetectedEvent> events;
  bool open = false;
  for (std::size_t r = 0; r < verdicts.size(); ++r) {
    const RowVerdict& v = verdicts[r];
    if (!v.event) {
      open = false;
      continue;
    }
    if (!open) {
      events.push_back({r, r, v.probability, false});
      open = true;
    }
    DetectedEvent& e = events.back();
    e.last_row = r;
    e.max_probability = std::max(e.max_probability, v.probability);
    e.labelled = e.labelled || (r < input.label.size() && input.label[r] == 1);
  }
  return events;
}

std::string FormatRowsCsv(const ReplayInput& input, std::span<const RowVerdict> verdicts,
                          std::span<const std::uint32_t> thresholds) {
  const bool labelled = !input.label.empty();
  std::string out =
      "time,event,probability,outliers,faults,spikes,missing,after_gap,thresholds,max_z";
  out += labelled ? ",label\n" : "\n";
  out.reserve(verdicts.size() * 56);
  for (std::size_t r = 0; r < verdicts.size() && r < input.rows(); ++r) {
    const RowVerdict& v = verdicts[r];
    fmt::format_to(std::back_inserter(out), "{},{},{:.6g},{},{},{},{},{},{},{:.4g}",
                   FormatTime(input.time_ns[r]), v.event ? 1 : 0, v.probability, v.outliers,
                   v.faults, v.spikes, v.missing, v.after_gap ? 1 : 0,
                   r < thresholds.size() ? thresholds[r] : 0, v.max_z);
    if (labelled) {
      out += input.label[r] == kLabelUnknown ? "," : (input.label[r] == 1 ? ",1" : ",0");
    }
    out.push_back('\n');
  }
  return out;
}

std::string FormatEventsCsv(const ReplayInput& input, std::span<const DetectedEvent> events) {
  std::string out = "start,end,rows,max_probability,labelled\n";
  for (const DetectedEvent& e : events) {
    fmt::format_to(std::back_inserter(out), "{},{},{},{:.6g},{}\n",
                   FormatTime(input.time_ns[e.first_row]), FormatTime(input.time_ns[e.last_row]),
                   e.last_row - e.first_row + 1, e.max_probability, e.labelled ? 1 : 0);
  }
  return out;
}

namespace {

struct TuningField {
  std::string_view name;
  double DetectorTuning::*real = nullptr;
  int DetectorTuning::*integer = nullptr;
  double min;  // inclusive
  double max;  // inclusive
  std::string_view range;
  bool DetectorTuning::*flag = nullptr;  // set as 0 or 1
};

constexpr TuningField kTuningFields[] = {
    {"baseline_alpha", &DetectorTuning::baseline_alpha, nullptr, 1e-9, 1, "in (0, 1]"},
    {"scale_alpha", &DetectorTuning::scale_alpha, nullptr, 1e-9, 1, "in (0, 1]"},
    {"resolution_floor", &DetectorTuning::resolution_floor, nullptr, 0, 1e6, ">= 0"},
    {"outlier_z", &DetectorTuning::outlier_z, nullptr, 1e-9, 1e6, "> 0"},
    {"warmup_samples", nullptr, &DetectorTuning::warmup_samples, 0, 1e8, "an integer >= 0"},
    {"window", nullptr, &DetectorTuning::window, 1, 1e6, "an integer >= 1"},
    {"outlier_rate", &DetectorTuning::outlier_rate, nullptr, 1e-9, 1 - 1e-9, "in (0, 1)"},
    {"event_probability", &DetectorTuning::event_probability, nullptr, 1e-9, 1 - 1e-9, "in (0, 1)"},
    {"daily_days", &DetectorTuning::daily_days, nullptr, 0, 1e4, ">= 0 (0 = off)"},
    {"strong_z", &DetectorTuning::strong_z, nullptr, 0, 1e9, ">= 0 (0 = off)"},
    {"ramp_rows", nullptr, &DetectorTuning::ramp_rows, 0, 30000, "an integer 0 to 30000 (0 = off)"},
    {"ramp_z", &DetectorTuning::ramp_z, nullptr, 0, 1e6, ">= 0"},
    {"joint_p", &DetectorTuning::joint_p, nullptr, 0, 0.499, "in [0, 0.5) (0 = off)"},
    {"joint_alpha", &DetectorTuning::joint_alpha, nullptr, 1e-9, 1, "in (0, 1]"},
    {"rebaseline_after", nullptr, &DetectorTuning::rebaseline_after, 0, 1e8,
     "an integer >= 0 (0 = off)"},
    {"flat_samples", nullptr, &DetectorTuning::flat_samples, 0, 65535,
     "an integer 0 to 65535 (0 = off)"},
    {"flat_tolerance", &DetectorTuning::flat_tolerance, nullptr, 0, 1e6, ">= 0"},
    {"flat_factor", &DetectorTuning::flat_factor, nullptr, 0, 1e6, ">= 0"},
    {"drift_alpha", &DetectorTuning::drift_alpha, nullptr, 1e-9, 1, "in (0, 1]"},
    {"drift_z", &DetectorTuning::drift_z, nullptr, 1e-9, 1e6, "> 0"},
    {"drift_samples", nullptr, &DetectorTuning::drift_samples, 0, 65535,
     "an integer 0 to 65535 (0 = off)"},
    {"spike_filter", nullptr, nullptr, 0, 1, "0 or 1", &DetectorTuning::spike_filter},
    {"missing_samples", nullptr, &DetectorTuning::missing_samples, 0, 65535,
     "an integer 0 to 65535 (0 = off)"},
    {"offline_after", &DetectorTuning::offline_after, nullptr, 0, 1e6, ">= 0 (0 = off)"},
    {"offline_min_seconds", &DetectorTuning::offline_min_seconds, nullptr, 0, 1e9, ">= 0"},
};

}  // namespace

Status SetTuningField(DetectorTuning& tuning, std::string_view key, std::string_view value) {
  value = Trim(value);
  for (const TuningField& f : kTuningFields) {
    if (f.name != key) continue;
    if (f.real != nullptr) {
      double v = 0;
      if (!ParseNumber(value, v) || v < f.min || v > f.max) {
        return Status::InvalidArgument(
            fmt::format("tuning {}: \"{}\" is not a number {}", key, value, f.range));
      }
      tuning.*f.real = v;
    } else {
      long long v = 0;
      if (!ParseInt(value, v) || static_cast<double>(v) < f.min || static_cast<double>(v) > f.max) {
        return Status::InvalidArgument(
            fmt::format("tuning {}: \"{}\" is not {}", key, value, f.range));
      }
      if (f.flag != nullptr) {
        tuning.*f.flag = v != 0;
      } else {
        tuning.*f.integer = static_cast<int>(v);
      }
    }
    return Status::Ok();
  }
  std::string known;
  for (const TuningField& f : kTuningFields) {
    known += fmt::format("{}{}", known.empty() ? "" : ", ", f.name);
  }
  return Status::InvalidArgument(fmt::format("unknown tuning key \"{}\" (known: {})", key, known));
}

std::string_view TuningFieldRange(std::string_view key) {
  for (const TuningField& f : kTuningFields) {
    if (f.name == key) return f.range;
  }
  return {};
}

std::vector<std::pair<std::string, std::string>> TuningFields(const DetectorTuning& tuning) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const TuningField& f : kTuningFields) {
    std::string value = f.real != nullptr   ? fmt::format("{}", tuning.*f.real)
                        : f.flag != nullptr ? fmt::format("{}", tuning.*f.flag ? 1 : 0)
                                            : fmt::format("{}", tuning.*f.integer);
    out.emplace_back(std::string(f.name), std::move(value));
  }
  return out;
}

}  // namespace aquawatch
