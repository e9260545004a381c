// InfluxDB line protocol decoder: see decode.h for the contract and README.md for our dialect.
//
// The decoder walks each line once, left to right. Tags and field keys are string_views into the
// input unless they contain a backslash escape; only then are they unescaped into a scratch buffer
// reused across lines. Fields are collected into a reused vector and only appended to the batch
// once the whole line has been validated, so a rejected line never touches the batch.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "core/duration.h"
#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

// Bytes of offending input quoted in an error message; a hostile line must not make the error
// report (which goes back to the client and into logs) large.
constexpr std::size_t kMaxQuotedBytes = 64;

// Quotes input text for an error message, bounded and with control bytes escaped.
std::string Quote(std::string_view s) {
  std::size_t n = std::min(s.size(), kMaxQuotedBytes);
  // Do not cut a UTF-8 sequence in half.
  while (n < s.size() && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  std::string q = "\"";
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      q += '\\';
      q += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      q += buf;
    } else {
      q += static_cast<char>(c);
    }
  }
  if (n < s.size()) q += "...";
  q += '"';
  return q;
}

std::string_view PrecisionName(Precision p) {
  switch (p) {
    case Precision::kNanoseconds:
      return "ns";
    case Precision::kMicroseconds:
      return "us";
    case Precision::kMilliseconds:
      return "ms";
    case Precision::kSeconds:
      return "s";
    case Precision::kMinutes:
      return "m";
    case Precision::kHours:
      return "h";
  }
  return "?";
}

// Characters that end or escape a tag key, tag value or field key. A table keeps the hot scanning
// loop to one load and one branch per byte.
constexpr std::array<bool, 256> MakeNameStops() {
  std::array<bool, 256> t{};
  t[static_cast<unsigned char>(',')] = true;
  t[static_cast<unsigned char>('=')] = true;
  t[static_cast<unsigned char>(' ')] = true;
  t[static_cast<unsigned char>('\\')] = true;
  return t;
}
constexpr std::array<bool, 256> kNameStops = MakeNameStops();

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// InfluxDB's boolean spellings.
std::optional<bool> ParseBool(std::string_view t) {
  if (t == "t" || t == "T" || t == "true" || t == "True" || t == "TRUE") return true;
  if (t == "f" || t == "F" || t == "false" || t == "False" || t == "FALSE") return false;
  return std::nullopt;
}

struct Field {
  std::string_view key;
  ParameterId id;
  bool numeric;
  double value;
};

// Reused between lines and calls so that steady-state decoding does not allocate.
struct Scratch {
  std::string unescaped;
  std::vector<Field> fields;
  std::vector<std::string_view> names;  // custom field names, for the duplicate check
};

// Parses one line (without its newline). On failure sets error_field / error_reason (the reason
// only when `want_message`, so an error flood costs no string building).
class LineParser {
 public:
  LineParser(std::string_view line, const LineProtocolOptions& options, Scratch& scratch,
             bool want_message)
      : p_(line.data()),
        n_(line.size()),
        options_(options),
        scratch_(scratch),
        want_message_(want_message) {}

  // Returns true and appends the reading to `out` (as from line `line`) when the line is valid.
  bool Parse(ReadingBatch& out, std::uint32_t line);

  std::string_view error_field() const { return error_field_; }
  std::string& error_reason() { return error_reason_; }
  Limit error_limit() const { return error_limit_; }

 private:
  template <typename MakeReason>
  bool Fail(std::string_view field, MakeReason&& make_reason) {
    error_field_ = field;
    if (want_message_) error_reason_ = make_reason();
    return false;
  }
  template <typename MakeReason>
  bool FailLimit(Limit limit, std::string_view field, MakeReason&& make_reason) {
    error_limit_ = limit;
    return Fail(field, make_reason);
  }

  // Reads a tag key, tag value or field key from pos_ up to the first unescaped `,` `=` or space.
  std::string_view ReadName();
  std::string_view Unescape(std::size_t begin, std::size_t end);
  bool ParseTags();
  bool ParseFields();
  bool ParseValue(std::string_view key, std::string_view token, double& value);
  bool AddField(std::string_view key, bool numeric, double value);
  bool CheckCustomDuplicates();
  bool ParseTimestamp(std::int64_t& time_ns);
  bool CheckTime(const ReadingLimits& limits, std::int64_t time_ns);
  void SkipSpaces() {
    while (pos_ < n_ && p_[pos_] == ' ') ++pos_;
  }

  const char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  const LineProtocolOptions& options_;
  Scratch& scratch_;
  bool want_message_;

  std::string_view sensor_, site_, zone_;
  bool has_sensor_ = false, has_site_ = false, has_zone_ = false;
  std::uint32_t canonical_seen_ = 0;  // bit per canonical ParameterId
  std::size_t numeric_count_ = 0;

  std::string_view error_field_;
  std::string error_reason_;
  Limit error_limit_ = Limit::kNone;
};

std::string_view LineParser::Unescape(std::size_t begin, std::size_t end) {
  std::string& s = scratch_.unescaped;
  // Unescaped tokens of one line never exceed the line, so reserving the line once keeps every
  // view into the buffer valid until the next line.
  if (s.capacity() < n_) s.reserve(n_);
  std::size_t start = s.size();
  for (std::size_t i = begin; i < end; ++i) {
    char c = p_[i];
    if (c == '\\' && i + 1 < end) {
      char next = p_[i + 1];
      if (next == ',' || next == '=' || next == ' ') {
        s.push_back(next);
        ++i;
        continue;
      }
    }
    s.push_back(c);
  }
  return {s.data() + start, s.size() - start};
}

std::string_view LineParser::ReadName() {
  std::size_t begin = pos_;
  bool escaped = false;
  while (pos_ < n_) {
    char c = p_[pos_];
    if (!kNameStops[static_cast<unsigned char>(c)]) {
      ++pos_;
      continue;
    }
    if (c != '\\') break;
    if (pos_ + 1 < n_) {
      char next = p_[pos_ + 1];
      if (next == ',' || next == '=' || next == ' ') {
        escaped = true;
        pos_ += 2;
        continue;
      }
    }
    ++pos_;  // a backslash before anything else is a literal backslash
  }
  if (!escaped) return {p_ + begin, pos_ - begin};
  return Unescape(begin, pos_);
}

bool LineParser::Parse(ReadingBatch& out, std::uint32_t line) {
  // Measurement: any non-empty text; only `\,` and `\ ` are escapes in it. We do not keep it.
  while (pos_ < n_) {
    char c = p_[pos_];
    if (c == ',' || c == ' ') break;
    if (c == '\\' && pos_ + 1 < n_ && (p_[pos_ + 1] == ',' || p_[pos_ + 1] == ' ')) {
      pos_ += 2;
    } else {
      ++pos_;
    }
  }
  if (pos_ == 0) return Fail("", [] { return std::string("missing measurement"); });
  if (!ParseTags()) return false;
  if (!has_sensor_) return Fail("sensor", [] { return std::string("missing tag \"sensor\""); });
  if (std::string_view why = SensorIdError(sensor_); !why.empty()) {
    return Fail("sensor", [&] { return "sensor id " + Quote(sensor_) + " " + std::string(why); });
  }
  if (pos_ >= n_) return Fail("", [] { return std::string("missing field set"); });
  SkipSpaces();  // pos_ was at a space: ParseTags stops only at a space or the end
  if (pos_ >= n_) return Fail("", [] { return std::string("missing field set"); });
  if (!ParseFields()) return false;
  std::int64_t time_ns = options_.default_time_ns;
  if (!ParseTimestamp(time_ns)) return false;
  if (numeric_count_ == 0) return Fail("", [] { return std::string("no numeric field"); });
  if (!CheckTime(options_.limits, time_ns)) return false;

  out.BeginReading(sensor_, time_ns, site_, zone_, line);
  for (const Field& f : scratch_.fields) {
    if (!f.numeric) continue;
    if (f.id == ParameterId::kCustom) {
      out.AddCustomField(f.key, f.value);
    } else {
      out.AddField(f.id, f.value);
    }
  }
  return true;
}

bool LineParser::ParseTags() {
  while (pos_ < n_ && p_[pos_] == ',') {
    ++pos_;
    std::string_view key = ReadName();
    if (key.empty()) return Fail("", [] { return std::string("empty tag key"); });
    if (pos_ >= n_ || p_[pos_] != '=') {
      return Fail(key, [&] { return "missing '=' after tag key " + Quote(key); });
    }
    ++pos_;
    std::string_view value = ReadName();
    if (pos_ < n_ && p_[pos_] == '=') {
      return Fail(key, [&] { return "unescaped '=' in value of tag " + Quote(key); });
    }
    if (value.empty()) return Fail(key, [&] { return "empty value for tag " + Quote(key); });
    std::string_view* slot = nullptr;
    bool* seen = nullptr;
    if (key == "sensor") {
      slot = &sensor_;
      seen = &has_sensor_;
    } else if (key == "site") {
      slot = &site_;
      seen = &has_site_;
    } else if (key == "zone") {
      slot = &zone_;
      seen = &has_zone_;
    } else {
      continue;  // other tags are allowed and ignored
    }
    if (*seen) return Fail(key, [&] { return "duplicate tag " + Quote(key); });
    if (slot != &sensor_ && value.size() > kMaxLabelBytes) {
      return Fail(key, [] { return std::string("tag value longer than 128 bytes"); });
    }
    *seen = true;
    *slot = value;
  }
  return true;
}

bool LineParser::ParseFields() {
  std::size_t prev_value_begin = 0;  // of the previous field, when it was a plain float
  std::string_view prev_key;
  bool prev_plain_float = false;
  for (;;) {
    std::size_t key_begin = pos_;
    std::string_view key = ReadName();
    if (pos_ >= n_ || p_[pos_] != '=') {
      // "ph=7,2" splits into ph=7 and a key "2": report the decimal comma on the float.
      if (prev_plain_float && !key.empty() && IsDigit(key.front())) {
        std::string_view text(p_ + prev_value_begin, pos_ - prev_value_begin);
        return Fail(prev_key, [&] { return "invalid float value " + Quote(text); });
      }
      if (key.empty()) {
        if (key_begin > 0 && p_[key_begin - 1] == ',') {
          return Fail("", [] { return std::string("missing field after ','"); });
        }
        return Fail("", [] { return std::string("missing field set"); });
      }
      return Fail(key, [&] { return "missing '=' after field key " + Quote(key); });
    }
    if (key.empty()) return Fail("", [] { return std::string("empty field key"); });
    ++pos_;  // '='
    prev_plain_float = false;
    if (pos_ < n_ && p_[pos_] == '"') {
      // String field: skipped, but it must be well formed. `\"` and `\\` are its escapes; a
      // backslash before anything else is literal, so stepping over two bytes is right either way.
      ++pos_;
      while (pos_ < n_ && p_[pos_] != '"') pos_ += (p_[pos_] == '\\' && pos_ + 1 < n_) ? 2 : 1;
      if (pos_ >= n_) return Fail(key, [] { return std::string("unterminated string"); });
      ++pos_;
      if (pos_ < n_ && p_[pos_] != ',' && p_[pos_] != ' ') {
        return Fail(key, [&] {
          return "unexpected text after string value: " + Quote({p_ + pos_, n_ - pos_});
        });
      }
      if (!AddField(key, false, 0)) return false;
    } else {
      std::size_t begin = pos_;
      while (pos_ < n_ && p_[pos_] != ',' && p_[pos_] != ' ') ++pos_;
      std::string_view token(p_ + begin, pos_ - begin);
      double value = 0;
      if (!ParseValue(key, token, value)) return false;
      if (!AddField(key, true, value)) return false;
      char last = token.back();
      prev_plain_float = last != 'i' && last != 'u' && (IsDigit(last) || last == '.');
      prev_value_begin = begin;
      prev_key = key;
    }
    if (pos_ >= n_ || p_[pos_] == ' ') break;
    ++pos_;  // ','
  }
  return CheckCustomDuplicates();
}

bool LineParser::ParseValue(std::string_view key, std::string_view token, double& value) {
  if (token.empty()) return Fail(key, [&] { return "missing value for field " + Quote(key); });
  const char* first = token.data();
  const char* last = token.data() + token.size();
  // from_chars would accept "nan", "inf" and "infinity"; InfluxDB does not, nor do we. Anything
  // that does not start like a number is a boolean or a mistake (a typo such as "tru", or a
  // string without quotes).
  char lead = (token.front() == '-' && token.size() > 1) ? token[1] : token.front();
  if (!IsDigit(lead) && lead != '.') {
    if (std::optional<bool> b = ParseBool(token)) {
      value = *b ? 1.0 : 0.0;
      return true;
    }
    return Fail(key, [&] {
      return "invalid value " + Quote(token) + ": not a number, boolean or quoted string";
    });
  }
  switch (token.back()) {
    case 'i': {
      std::int64_t v = 0;
      auto [ptr, ec] = std::from_chars(first, last - 1, v);
      if (ec == std::errc::result_out_of_range) {
        return Fail(key, [&] { return "integer out of range: " + Quote(token); });
      }
      if (ec != std::errc() || ptr != last - 1) {
        return Fail(key, [&] { return "invalid integer value " + Quote(token); });
      }
      value = static_cast<double>(v);
      return true;
    }
    case 'u': {
      std::uint64_t v = 0;
      auto [ptr, ec] = std::from_chars(first, last - 1, v);
      if (ec == std::errc::result_out_of_range) {
        return Fail(key, [&] { return "unsigned integer out of range: " + Quote(token); });
      }
      if (ec != std::errc() || ptr != last - 1) {
        return Fail(key, [&] { return "invalid unsigned value " + Quote(token); });
      }
      value = static_cast<double>(v);
      return true;
    }
    default:
      break;
  }
  // A leading '+' is rejected by from_chars, as by InfluxDB.
  auto [ptr, ec] = std::from_chars(first, last, value, std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    return Fail(key, [&] { return "float out of range: " + Quote(token); });
  }
  if (ec != std::errc() || ptr != last || !std::isfinite(value)) {
    return Fail(key, [&] { return "invalid float value " + Quote(token); });
  }
  return true;
}

bool LineParser::AddField(std::string_view key, bool numeric, double value) {
  ParameterId id = ParameterFromName(key);
  if (id != ParameterId::kCustom) {
    std::uint32_t bit = 1u << static_cast<unsigned>(id);
    if (canonical_seen_ & bit) return Fail(key, [&] { return "duplicate field " + Quote(key); });
    canonical_seen_ |= bit;
  } else {
    // Names of skipped string fields are not ours to judge; only kept fields must be valid.
    if (numeric) {
      if (std::string_view why = FieldNameError(key); !why.empty()) {
        return Fail(key, [&] { return "field name " + Quote(key) + " " + std::string(why); });
      }
    }
    scratch_.names.push_back(key);
  }
  if (numeric && ++numeric_count_ > options_.limits.max_fields) {
    // Checked as the fields come, so a line with 100,000 of them costs no more than the limit.
    return FailLimit(Limit::kFieldsPerLine, "", [&] {
      return fmt::format("more than {} numeric fields ({})", options_.limits.max_fields,
                         LimitKey(Limit::kFieldsPerLine));
    });
  }
  scratch_.fields.push_back({key, id, numeric, value});
  return true;
}

bool LineParser::CheckTime(const ReadingLimits& limits, std::int64_t time_ns) {
  if (time_ns < limits.min_time_ns) {
    return FailLimit(Limit::kMinTime, "timestamp", [&] {
      return fmt::format("time {} is before {} ({}): a probe whose clock was reset?",
                         FormatRfc3339(time_ns), FormatRfc3339(limits.min_time_ns),
                         LimitKey(Limit::kMinTime));
    });
  }
  if (time_ns > limits.max_time_ns) {
    return FailLimit(Limit::kFutureTime, "timestamp", [&] {
      return fmt::format(
          "time {} is more than {} ahead of the server clock ({}); check the probe's clock and "
          "the write's precision",
          FormatRfc3339(time_ns), FormatDuration(limits.max_future_ns),
          LimitKey(Limit::kFutureTime));
    });
  }
  return true;
}

bool LineParser::CheckCustomDuplicates() {
  std::vector<std::string_view>& names = scratch_.names;
  if (names.size() < 2) return true;
  // Typical lines have a handful of custom fields: compare pairwise. Sort only when a line has
  // many, so a hostile line cannot make this quadratic.
  constexpr std::size_t kPairwiseLimit = 16;
  if (names.size() <= kPairwiseLimit) {
    for (std::size_t i = 1; i < names.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (names[i] == names[j]) {
          return Fail(names[i], [&] { return "duplicate field " + Quote(names[i]); });
        }
      }
    }
    return true;
  }
  std::sort(names.begin(), names.end());
  auto dup = std::adjacent_find(names.begin(), names.end());
  if (dup == names.end()) return true;
  return Fail(*dup, [&] { return "duplicate field " + Quote(*dup); });
}

bool LineParser::ParseTimestamp(std::int64_t& time_ns) {
  SkipSpaces();
  if (pos_ >= n_) return true;  // no timestamp
  std::size_t begin = pos_;
  while (pos_ < n_ && p_[pos_] != ' ') ++pos_;
  std::string_view token(p_ + begin, pos_ - begin);
  std::int64_t t = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), t);
  if (ec == std::errc::result_out_of_range) {
    return Fail("timestamp", [&] { return "timestamp out of range: " + Quote(token); });
  }
  if (ec != std::errc() || ptr != token.data() + token.size()) {
    return Fail("timestamp", [&] { return "invalid timestamp " + Quote(token); });
  }
  if (__builtin_mul_overflow(t, static_cast<std::int64_t>(options_.precision), &time_ns)) {
    return Fail("timestamp", [&] {
      return "timestamp " + Quote(token) + " out of range for precision " +
             std::string(PrecisionName(options_.precision));
    });
  }
  SkipSpaces();
  if (pos_ < n_) {
    return Fail("", [&] {
      return "unexpected text after timestamp: " + Quote({p_ + pos_, n_ - pos_});
    });
  }
  return true;
}

}  // namespace

Result<Precision> ParsePrecision(std::string_view text) {
  if (text.empty() || text == "n" || text == "ns") return Precision::kNanoseconds;
  if (text == "u" || text == "us" || text == "\xC2\xB5" || text == "\xC2\xB5s") {
    return Precision::kMicroseconds;
  }
  if (text == "ms") return Precision::kMilliseconds;
  if (text == "s") return Precision::kSeconds;
  if (text == "m") return Precision::kMinutes;
  if (text == "h") return Precision::kHours;
  return Status::InvalidArgument("unknown precision " + Quote(text) +
                                 "; expected ns, us, ms, s, m or h");
}

DecodeOutcome DecodeLineProtocol(std::string_view text, const LineProtocolOptions& options,
                                 ReadingBatch& out, std::vector<DecodeError>& errors) {
  thread_local Scratch scratch;
  DecodeOutcome outcome;
  std::uint32_t line_no = options.first_line;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const char* nl =
        static_cast<const char*>(std::memchr(text.data() + pos, '\n', text.size() - pos));
    std::size_t end = nl ? static_cast<std::size_t>(nl - text.data()) : text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    std::uint32_t this_line = line_no++;

    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t lead = 0;
    while (lead < line.size() && (line[lead] == ' ' || line[lead] == '\t')) ++lead;
    line.remove_prefix(lead);
    if (line.empty() || line.front() == '#') continue;

    scratch.unescaped.clear();
    scratch.fields.clear();
    scratch.names.clear();
    bool want_message = errors.size() < kMaxReportedErrors;
    LineParser parser(line, options, scratch, want_message);
    if (parser.Parse(out, this_line)) {
      ++outcome.accepted;
      continue;
    }
    ++outcome.rejected;
    ++outcome.rejected_by_limit[static_cast<int>(parser.error_limit())];
    if (want_message) {
      errors.push_back(DecodeError{this_line, std::string(parser.error_field()),
                                   std::move(parser.error_reason()), parser.error_limit()});
    }
  }
  // A single huge line must not pin its scratch memory on this thread for good.
  constexpr std::size_t kKeepScratchBytes = std::size_t{64} << 10;
  if (scratch.unescaped.capacity() > kKeepScratchBytes) std::string().swap(scratch.unescaped);
  if (scratch.fields.capacity() > kKeepScratchBytes / sizeof(Field)) {
    std::vector<Field>().swap(scratch.fields);
    std::vector<std::string_view>().swap(scratch.names);
  }
  return outcome;
}

}  // namespace aquawatch
