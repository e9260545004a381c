#include "api/readings_query.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <string>
#include <vector>

#include "api/json_writer.h"
#include "core/duration.h"
#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

constexpr std::int64_t kMsNs = 1'000'000;
constexpr std::size_t kMaxPointsPerSeries = 100'000;
constexpr std::size_t kMaxParameters = 32;

const char* QualityName(Quality q) {
  switch (q) {
    case Quality::kGood:
      return "good";
    case Quality::kSuspect:
      return "suspect";
    case Quality::kBad:
      return "bad";
    case Quality::kMissing:
      return "missing";
  }
  return "good";
}

HttpResponse BadRequest(std::string message) {
  HttpResponse r;
  r.status = 400;
  r.body = "{";
  AppendJsonKey(r.body, "error", true);
  AppendJsonString(r.body, message);
  r.body += "}";
  return r;
}

HttpResponse NotFound(std::string message) {
  HttpResponse r = BadRequest(std::move(message));
  r.status = 404;
  return r;
}

// Every `parameter` value, split at commas, without duplicates, in the order given.
std::vector<std::string> RequestedParameters(const HttpRequest& req) {
  std::vector<std::string> out;
  for (const auto& [key, value] : req.query) {
    if (key != "parameter") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      std::size_t comma = rest.find(',');
      std::string name(rest.substr(0, comma));
      if (!name.empty() && std::find(out.begin(), out.end(), name) == out.end()) {
        out.push_back(std::move(name));
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

// Appends FormatRfc3339(ns) for many points in a row: the date part is formatted once per day,
// the time of day by hand. Answers hold up to 100,000 points; this keeps formatting their times
// to a few nanoseconds each.
class TimeFormatter {
 public:
  void Append(std::string& out, std::int64_t ns) {
    std::int64_t ms = ns / 1'000'000;
    if (ns < 0 && ns % 1'000'000 != 0) --ms;
    std::int64_t day = ms / 86'400'000;
    if (ms % 86'400'000 < 0) --day;
    if (day != day_ || prefix_.empty()) {
      day_ = day;
      prefix_ = FormatRfc3339(day * 86'400'000 * 1'000'000).substr(0, 11);  // "YYYY-MM-DDT"
    }
    const auto in_day = static_cast<unsigned>(ms - day * 86'400'000);
    char buf[16];
    const unsigned secs = in_day / 1000, millis = in_day % 1000;
    const unsigned h = secs / 3600, m = (secs / 60) % 60, s = secs % 60;
    buf[0] = static_cast<char>('0' + h / 10);
    buf[1] = static_cast<char>('0' + h % 10);
    buf[2] = ':';
    buf[3] = static_cast<char>('0' + m / 10);
    buf[4] = static_cast<char>('0' + m % 10);
    buf[5] = ':';
    buf[6] = static_cast<char>('0' + s / 10);
    buf[7] = static_cast<char>('0' + s % 10);
    buf[8] = '.';
    buf[9] = static_cast<char>('0' + millis / 100);
    buf[10] = static_cast<char>('0' + (millis / 10) % 10);
    buf[11] = static_cast<char>('0' + millis % 10);
    buf[12] = 'Z';
    out += prefix_;
    out.append(buf, 13);
  }

 private:
  std::int64_t day_ = 0;
  std::string prefix_;
};

}  // namespace

Result<std::int64_t> ParseQueryTime(std::string_view text) {
  std::int64_t ms = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec == std::errc() && end == text.data() + text.size()) {
    if (ms < 0 || ms > std::numeric_limits<std::int64_t>::max() / kMsNs) {
      return Status::InvalidArgument(fmt::format("epoch milliseconds {} out of range", text));
    }
    return ms * kMsNs;
  }
  auto t = ParseRfc3339(text);
  if (!t.ok()) {
    return Status::InvalidArgument(fmt::format(
        "\"{}\" is neither RFC 3339 (2026-11-27T10:00:00Z) nor epoch milliseconds", text));
  }
  return *t;
}

Result<std::int64_t> ParseStep(std::string_view text) {
  constexpr std::int64_t kMaxStep = 366 * 86'400'000'000'000LL;
  std::optional<std::int64_t> ns = ParseDuration(text);
  if (ns && *ns > 0 && *ns <= kMaxStep) return *ns;
  return Status::InvalidArgument(fmt::format(
      "step \"{}\" must be a positive count and a unit (ms, s, m, h, d) of at most 366d, e.g. "
      "1m",
      text));
}

HttpResponse QueryReadings(const Pipeline& pipeline, std::string_view sensor,
                           const HttpRequest& req, std::int64_t now_ns) {
  auto snapshot = pipeline.Latest(sensor);
  if (!snapshot) return NotFound(fmt::format("sensor \"{}\" has sent no readings", sensor));

  SeriesRead read;
  read.sensor = sensor;
  read.to_ns = now_ns;
  if (const std::string* to = req.Query("to")) {
    auto t = ParseQueryTime(*to);
    if (!t.ok()) return BadRequest("to: " + t.status().message());
    read.to_ns = *t;
  }
  read.from_ns = read.to_ns - 3'600'000'000'000LL;
  if (const std::string* from = req.Query("from")) {
    auto t = ParseQueryTime(*from);
    if (!t.ok()) return BadRequest("from: " + t.status().message());
    read.from_ns = *t;
  }
  if (read.from_ns > read.to_ns) {
    return BadRequest(fmt::format("from ({}) is after to ({})", FormatRfc3339(read.from_ns),
                                  FormatRfc3339(read.to_ns)));
  }
  if (const std::string* step = req.Query("step")) {
    auto s = ParseStep(*step);
    if (!s.ok()) return BadRequest(s.status().message());
    read.step_ns = *s;
  }
  if (const std::string* agg = req.Query("agg")) {
    if (read.step_ns == 0) return BadRequest("agg needs a step (e.g. step=1m&agg=avg)");
    auto parsed = ParseAggregation(*agg);
    if (!parsed) {
      return BadRequest(
          fmt::format("agg \"{}\" must be one of avg, min, max, last, count, sum", *agg));
    }
    read.agg = *parsed;
  }
  read.max_points = kMaxPointsPerSeries;

  std::vector<std::string> known;
  for (const auto& [name, value] : snapshot->values) known.push_back(name);
  std::vector<std::string> parameters = RequestedParameters(req);
  if (parameters.empty()) parameters = known;
  if (parameters.size() > kMaxParameters) {
    return BadRequest(fmt::format("at most {} parameters per request", kMaxParameters));
  }
  for (const std::string& p : parameters) {
    if (std::find(known.begin(), known.end(), p) == known.end()) {
      return BadRequest(fmt::format("unknown parameter \"{}\" for sensor \"{}\"; it reports: {}", p,
                                    sensor, fmt::join(known, ", ")));
    }
  }

  std::vector<std::vector<SeriesPoint>> results(parameters.size());
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    read.parameter = parameters[i];
    Status s = pipeline.ReadSeries(read, results[i]);
    if (s.code() == StatusCode::kInvalidArgument) return BadRequest(s.message());
    if (s.code() == StatusCode::kNotFound) return NotFound(s.message());
    if (!s.ok()) {
      HttpResponse r = BadRequest("reading the store failed: " + s.message());
      r.status = 500;
      return r;
    }
  }

  const bool csv = (req.Query("format") != nullptr && *req.Query("format") == "csv") ||
                   req.accept.find("text/csv") != std::string::npos;
  const bool raw = read.step_ns == 0;
  TimeFormatter times;
  HttpResponse r;
  std::size_t total_points = 0;
  for (const auto& points : results) total_points += points.size();
  r.body.reserve(256 + total_points * 64);
  if (csv) {
    r.content_type = "text/csv";
    r.body = raw ? "parameter,time,value,quality\n" : "parameter,time,value,count\n";
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      for (const SeriesPoint& p : results[i]) {
        r.body += parameters[i];
        r.body += ',';
        times.Append(r.body, p.t_ns);
        r.body += ',';
        AppendJsonNumber(r.body, p.value);  // "null" for NaN, as in JSON
        r.body += ',';
        if (raw) {
          r.body += QualityName(p.quality);
        } else {
          AppendJsonInt(r.body, p.count);
        }
        r.body += '\n';
      }
    }
    return r;
  }
  std::string& b = r.body;
  b = "{";
  AppendJsonKey(b, "sensor", true);
  AppendJsonString(b, sensor);
  AppendJsonKey(b, "from");
  AppendJsonString(b, FormatRfc3339(read.from_ns));
  AppendJsonKey(b, "to");
  AppendJsonString(b, FormatRfc3339(read.to_ns));
  AppendJsonKey(b, "step");
  if (raw) {
    b += "null";
  } else {
    AppendJsonString(b, FormatDuration(read.step_ns));
  }
  AppendJsonKey(b, "agg");
  if (raw) {
    b += "null";
  } else {
    AppendJsonString(b, AggregationName(read.agg));
  }
  AppendJsonKey(b, "series");
  b += "[";
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    if (i > 0) b += ",";
    b += "{";
    AppendJsonKey(b, "parameter", true);
    AppendJsonString(b, parameters[i]);
    AppendJsonKey(b, "points");
    b += "[";
    for (std::size_t j = 0; j < results[i].size(); ++j) {
      const SeriesPoint& p = results[i][j];
      if (j > 0) b += ",";
      b += "{";
      AppendJsonKey(b, "time", true);
      b += '"';
      times.Append(b, p.t_ns);
      b += '"';
      AppendJsonKey(b, "value");
      AppendJsonNumber(b, p.value);
      if (raw) {
        AppendJsonKey(b, "quality");
        AppendJsonString(b, QualityName(p.quality));
      } else {
        AppendJsonKey(b, "count");
        AppendJsonInt(b, p.count);
      }
      b += "}";
    }
    b += "]}";
  }
  b += "]}";
  return r;
}

}  // namespace aquawatch
