// aquawatch's JSON batch decoder: see decode.h for the shape and README.md for the rules.
//
// simdjson's DOM API rather than On-Demand: DOM validates the whole document before we look at
// it, so a document with a syntax error anywhere (even inside a key we ignore) is rejected whole
// and never half-decoded. DOM keeps no byte positions, so the line of a rejected reading is found
// by a small scanner over the (by then known to be valid) text, paid only when an error is
// reported.
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/duration.h"
#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

namespace dom = simdjson::dom;

constexpr std::size_t kMaxQuotedBytes = 64;

// Quotes input text for an error message, bounded and with control bytes escaped.
std::string Quote(std::string_view s) {
  std::size_t n = std::min(s.size(), kMaxQuotedBytes);
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

std::string_view TypeName(dom::element_type t) {
  switch (t) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return "a number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

// Finds where the elements of one array (or the members of one object) of a valid JSON text
// start, and on which line. Moves forward only, so reporting errors for many readings of one
// document costs one pass over the text in total.
class Locator {
 public:
  explicit Locator(std::string_view text) : t_(text) {}

  // Positions the locator at the first element of the container starting at the first
  // non-whitespace byte (the whole document).
  void EnterRoot() { Enter(SkipWs(0)); }

  // Moves to the value of member `index` of the object the locator is in, then into that value.
  void EnterMember(std::size_t index) {
    SkipTo(index);
    // At a key: skip it and the colon.
    std::size_t i = SkipWs(SkipValue(pos_));
    if (i < t_.size() && t_[i] == ':') ++i;
    Enter(SkipWs(i));
  }

  // Line of the start of element `index` (>= the previous index asked for) of the current array.
  std::uint32_t LineOfElement(std::size_t index) {
    SkipTo(index);
    return LineAt(pos_);
  }

  std::uint32_t LineOfDocument() { return LineAt(SkipWs(0)); }

 private:
  // pos_ is at the opening bracket `at`; moves to its first element.
  void Enter(std::size_t at) {
    pos_ = SkipWs(at < t_.size() ? at + 1 : at);
    next_ = 0;
  }

  void SkipTo(std::size_t index) {
    while (next_ < index && pos_ < t_.size()) {
      std::size_t i = SkipValue(pos_);  // an element, or an object's key
      i = SkipWs(i);
      if (i < t_.size() && t_[i] == ':') i = SkipWs(SkipValue(SkipWs(i + 1)));
      if (i < t_.size() && t_[i] == ',') ++i;
      pos_ = SkipWs(i);
      ++next_;
    }
  }

  std::uint32_t LineAt(std::size_t pos) {
    pos = std::min(pos, t_.size());
    if (pos < counted_pos_) {  // not expected: callers move forward; recount from the start
      counted_pos_ = 0;
      counted_line_ = 1;
    }
    counted_line_ += static_cast<std::uint32_t>(
        std::count(t_.begin() + static_cast<std::ptrdiff_t>(counted_pos_),
                   t_.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
    counted_pos_ = pos;
    return counted_line_;
  }

  std::size_t SkipWs(std::size_t i) const {
    while (i < t_.size() && (t_[i] == ' ' || t_[i] == '\t' || t_[i] == '\n' || t_[i] == '\r')) {
      ++i;
    }
    return i;
  }

  std::size_t SkipString(std::size_t i) const {  // i at the opening quote
    ++i;
    while (i < t_.size() && t_[i] != '"') i += t_[i] == '\\' ? 2 : 1;
    return std::min(i + 1, t_.size());
  }

  std::size_t SkipValue(std::size_t i) const {
    if (i >= t_.size()) return i;
    char c = t_[i];
    if (c == '"') return SkipString(i);
    if (c == '{' || c == '[') {
      int depth = 0;
      while (i < t_.size()) {
        c = t_[i];
        if (c == '"') {
          i = SkipString(i);
          continue;
        }
        if (c == '{' || c == '[') ++depth;
        if ((c == '}' || c == ']') && --depth == 0) return i + 1;
        ++i;
      }
      return i;
    }
    while (i < t_.size() && t_[i] != ',' && t_[i] != '}' && t_[i] != ']' && t_[i] != ' ' &&
           t_[i] != '\t' && t_[i] != '\n' && t_[i] != '\r') {
      ++i;
    }
    return i;
  }

  std::string_view t_;
  std::size_t pos_ = 0;
  std::size_t next_ = 0;
  std::size_t counted_pos_ = 0;
  std::uint32_t counted_line_ = 1;
};

class ReadingDecoder {
 public:
  ReadingDecoder(const JsonOptions& options, ReadingBatch& out) : options_(options), out_(out) {}

  // Whether to build error messages: false once the caller's error list is full.
  void set_want_message(bool want) { want_message_ = want; }

  // Appends the reading to the batch and returns true, or leaves the batch as it was.
  // `ordinal`: the reading's 1-based position in the document (ReadingBatch::line for JSON).
  bool Decode(dom::element reading, std::uint32_t ordinal);

  const std::string& error_field() const { return error_field_; }
  std::string& error_reason() { return error_reason_; }
  Limit error_limit() const { return error_limit_; }

 private:
  template <typename MakeReason>
  bool Fail(std::string_view field, MakeReason&& make_reason) {
    if (want_message_) {
      error_field_ = field;
      error_reason_ = make_reason();
    }
    return false;
  }
  template <typename MakeReason>
  bool FailLimit(Limit limit, std::string_view field, MakeReason&& make_reason) {
    error_limit_ = limit;
    return Fail(field, make_reason);
  }
  bool CheckTime(std::int64_t time_ns);

  bool DecodeTime(dom::element time, std::int64_t& time_ns);
  bool DecodeValues(dom::element values);

  const JsonOptions& options_;
  ReadingBatch& out_;
  bool want_message_ = true;
  std::vector<std::string_view> custom_names_;  // reused between readings
  std::string error_field_;
  std::string error_reason_;
  Limit error_limit_ = Limit::kNone;
};

bool ReadingDecoder::Decode(dom::element reading, std::uint32_t ordinal) {
  error_limit_ = Limit::kNone;
  dom::object object;
  if (reading.get_object().get(object) != simdjson::SUCCESS) {
    return Fail("", [&] {
      return "reading is " + std::string(TypeName(reading.type())) + ", not an object";
    });
  }
  dom::element sensor_el, time_el, site_el, zone_el, values_el;
  bool has_sensor = false, has_time = false, has_site = false, has_zone = false, has_values = false;
  // One pass over the members; each key we know is looked for only here.
  struct Known {
    std::string_view name;
    dom::element* element;
    bool* seen;
  };
  const Known known[] = {{"sensor", &sensor_el, &has_sensor},
                         {"time", &time_el, &has_time},
                         {"site", &site_el, &has_site},
                         {"zone", &zone_el, &has_zone},
                         {"values", &values_el, &has_values}};
  for (dom::key_value_pair member : object) {
    std::string_view key = member.key;
    // Unknown keys are allowed, for forward compatibility.
    auto it = std::find_if(std::begin(known), std::end(known),
                           [&](const Known& k) { return k.name == key; });
    if (it == std::end(known)) continue;
    // JSON allows duplicate keys; which one wins differs between parsers, so refuse to guess.
    if (*it->seen) return Fail(key, [&] { return "duplicate key " + Quote(key); });
    *it->seen = true;
    *it->element = member.value;
  }

  if (!has_sensor) return Fail("sensor", [] { return std::string("missing \"sensor\""); });
  std::string_view sensor;
  if (sensor_el.get_string().get(sensor) != simdjson::SUCCESS) {
    return Fail("sensor", [&] {
      return "\"sensor\" is " + std::string(TypeName(sensor_el.type())) + ", not a string";
    });
  }
  if (std::string_view why = SensorIdError(sensor); !why.empty()) {
    return Fail("sensor", [&] { return "sensor id " + Quote(sensor) + " " + std::string(why); });
  }

  std::string_view tags[2];
  const dom::element* tag_els[2] = {&site_el, &zone_el};
  const bool has_tag[2] = {has_site, has_zone};
  constexpr std::string_view kTagNames[2] = {"site", "zone"};
  for (int i = 0; i < 2; ++i) {
    if (!has_tag[i] || tag_els[i]->is_null()) continue;
    if (tag_els[i]->get_string().get(tags[i]) != simdjson::SUCCESS) {
      return Fail(kTagNames[i], [&] {
        return Quote(kTagNames[i]) + " is " + std::string(TypeName(tag_els[i]->type())) +
               ", not a string";
      });
    }
    if (tags[i].size() > kMaxLabelBytes) {
      return Fail(kTagNames[i], [&] { return std::string("longer than 128 bytes"); });
    }
  }

  std::int64_t time_ns = options_.default_time_ns;
  if (has_time && !DecodeTime(time_el, time_ns)) return false;
  if (!CheckTime(time_ns)) return false;

  if (!has_values) return Fail("values", [] { return std::string("missing \"values\""); });
  out_.BeginReading(sensor, time_ns, tags[0], tags[1], ordinal);
  if (!DecodeValues(values_el)) {
    out_.CancelReading();
    return false;
  }
  return true;
}

bool ReadingDecoder::CheckTime(std::int64_t time_ns) {
  const ReadingLimits& limits = options_.limits;
  if (time_ns < limits.min_time_ns) {
    return FailLimit(Limit::kMinTime, "time", [&] {
      return fmt::format("time {} is before {} ({}): a probe whose clock was reset?",
                         FormatRfc3339(time_ns), FormatRfc3339(limits.min_time_ns),
                         LimitKey(Limit::kMinTime));
    });
  }
  if (time_ns > limits.max_time_ns) {
    return FailLimit(Limit::kFutureTime, "time", [&] {
      return fmt::format(
          "time {} is more than {} ahead of the server clock ({}); check the probe's "
          "clock",
          FormatRfc3339(time_ns), FormatDuration(limits.max_future_ns),
          LimitKey(Limit::kFutureTime));
    });
  }
  return true;
}

bool ReadingDecoder::DecodeTime(dom::element time, std::int64_t& time_ns) {
  switch (time.type()) {
    case dom::element_type::NULL_VALUE:
      return true;  // same as absent
    case dom::element_type::STRING: {
      std::string_view text = time.get_string().value_unsafe();
      Result<std::int64_t> parsed = ParseRfc3339(text);
      if (!parsed.ok()) return Fail("time", [&] { return parsed.status().message(); });
      time_ns = *parsed;
      return true;
    }
    case dom::element_type::INT64: {
      std::int64_t ms = time.get_int64().value_unsafe();
      if (__builtin_mul_overflow(ms, std::int64_t{1'000'000}, &time_ns)) break;
      return true;
    }
    case dom::element_type::DOUBLE: {
      double ms = time.get_double().value_unsafe();
      // int64 nanoseconds span about +-9.22e12 ms. Whole milliseconds are converted exactly and
      // only the fraction goes through floating point, which keeps sub-millisecond digits.
      if (!(ms > -9.3e12 && ms < 9.3e12)) break;
      double whole = std::floor(ms);
      auto frac_ns = static_cast<std::int64_t>(std::llround((ms - whole) * 1e6));
      if (__builtin_mul_overflow(static_cast<std::int64_t>(whole), std::int64_t{1'000'000},
                                 &time_ns) ||
          __builtin_add_overflow(time_ns, frac_ns, &time_ns)) {
        break;
      }
      return true;
    }
    case dom::element_type::UINT64:
      break;
    default:
      return Fail("time", [&] {
        return "\"time\" is " + std::string(TypeName(time.type())) +
               "; expected an RFC 3339 string or epoch milliseconds";
      });
  }
  return Fail("time",
              [&] { return "epoch milliseconds " + simdjson::minify(time) + " out of range"; });
}

bool ReadingDecoder::DecodeValues(dom::element values) {
  dom::object object;
  if (values.get_object().get(object) != simdjson::SUCCESS) {
    return Fail("values", [&] {
      return "\"values\" is " + std::string(TypeName(values.type())) + ", not an object";
    });
  }
  std::uint32_t canonical_seen = 0;
  custom_names_.clear();
  std::size_t added = 0;
  for (dom::key_value_pair member : object) {
    std::string_view key = member.key;
    dom::element v = member.value;
    double x = 0;
    switch (v.type()) {
      case dom::element_type::INT64:
        x = static_cast<double>(v.get_int64().value_unsafe());
        break;
      case dom::element_type::UINT64:
        x = static_cast<double>(v.get_uint64().value_unsafe());
        break;
      case dom::element_type::DOUBLE:
        x = v.get_double().value_unsafe();
        break;
      case dom::element_type::BOOL:
        x = v.get_bool().value_unsafe() ? 1.0 : 0.0;
        break;
      case dom::element_type::NULL_VALUE:
        continue;  // a sensor that has no value for this parameter right now
      default:
        return Fail(key, [&] {
          return "value of " + Quote(key) + " is " + std::string(TypeName(v.type())) +
                 ", not a number";
        });
    }
    if (added == options_.limits.max_fields) {
      return FailLimit(Limit::kFieldsPerLine, "values", [&] {
        return fmt::format("more than {} numeric values ({})", options_.limits.max_fields,
                           LimitKey(Limit::kFieldsPerLine));
      });
    }
    ParameterId id = ParameterFromName(key);
    if (id != ParameterId::kCustom) {
      std::uint32_t bit = 1u << static_cast<unsigned>(id);
      if (canonical_seen & bit) return Fail(key, [&] { return "duplicate field " + Quote(key); });
      canonical_seen |= bit;
      out_.AddField(id, x);
    } else {
      if (std::string_view why = FieldNameError(key); !why.empty()) {
        return Fail(key, [&] { return "field name " + Quote(key) + " " + std::string(why); });
      }
      // Pairwise is fine: custom names are at most 64 bytes and a reading has a few of them;
      // a hostile document is bounded by the request size limit upstream.
      for (std::string_view seen : custom_names_) {
        if (seen == key) return Fail(key, [&] { return "duplicate field " + Quote(key); });
      }
      custom_names_.push_back(key);
      out_.AddCustomField(key, x);
    }
    ++added;
  }
  if (added == 0) return Fail("values", [] { return std::string("no numeric value"); });
  return true;
}

// simdjson needs SIMDJSON_PADDING readable bytes after the text. A per-thread buffer (and parser)
// avoids allocating for every document once warm; documents above this size release them after
// use so one huge request does not pin memory on the thread.
constexpr std::size_t kKeepBufferBytes = std::size_t{4} << 20;

}  // namespace

DecodeOutcome DecodeJson(std::string_view text, const JsonOptions& options, ReadingBatch& out,
                         std::vector<DecodeError>& errors) {
  thread_local dom::parser parser;
  thread_local std::string buffer;
  DecodeOutcome outcome;

  auto reject_document = [&](std::uint32_t line, std::string_view field, std::string reason) {
    outcome.rejected = 1;
    if (errors.size() < kMaxReportedErrors) {
      errors.push_back(DecodeError{line, std::string(field), std::move(reason), Limit::kNone});
    }
  };

  buffer.assign(text);
  buffer.append(simdjson::SIMDJSON_PADDING, '\0');
  dom::element root;
  simdjson::error_code parse_error = parser.parse(buffer.data(), text.size(), false).get(root);
  struct Release {  // runs on every return path
    std::size_t size;
    ~Release() {
      if (size > kKeepBufferBytes) {
        std::string().swap(buffer);
        parser = dom::parser();
      }
    }
  } release{text.size()};

  if (parse_error != simdjson::SUCCESS) {
    reject_document(0, "", "invalid JSON: " + std::string(simdjson::error_message(parse_error)));
    return outcome;
  }

  Locator locator(text);
  dom::array readings;
  bool single = false;
  if (root.type() == dom::element_type::OBJECT) {
    dom::object object = root.get_object().value_unsafe();
    std::size_t index = 0, readings_index = 0;
    bool has_readings = false;
    for (dom::key_value_pair member : object) {
      if (member.key == "readings") {
        if (has_readings) {
          reject_document(locator.LineOfDocument(), "readings", "duplicate key \"readings\"");
          return outcome;
        }
        has_readings = true;
        readings_index = index;
        if (member.value.get_array().get(readings) != simdjson::SUCCESS) {
          reject_document(
              locator.LineOfDocument(), "readings",
              "\"readings\" is " + std::string(TypeName(member.value.type())) + ", not an array");
          return outcome;
        }
      }
      ++index;
    }
    if (has_readings) {
      locator.EnterRoot();
      locator.EnterMember(readings_index);
    } else {
      single = true;  // a bare reading object
    }
  } else if (root.get_array().get(readings) == simdjson::SUCCESS) {
    locator.EnterRoot();
  } else {
    reject_document(locator.LineOfDocument(), "",
                    "document is " + std::string(TypeName(root.type())) +
                        "; expected an object or an array of readings");
    return outcome;
  }

  ReadingDecoder decoder(options, out);
  auto decode_one = [&](dom::element reading, std::size_t index) {
    bool want_message = errors.size() < kMaxReportedErrors;
    decoder.set_want_message(want_message);
    if (decoder.Decode(reading, static_cast<std::uint32_t>(index + 1))) {
      ++outcome.accepted;
      return;
    }
    ++outcome.rejected;
    ++outcome.rejected_by_limit[static_cast<int>(decoder.error_limit())];
    if (want_message) {
      std::uint32_t line = single ? locator.LineOfDocument() : locator.LineOfElement(index);
      errors.push_back(DecodeError{line, decoder.error_field(), std::move(decoder.error_reason()),
                                   decoder.error_limit()});
    }
  };

  if (single) {
    decode_one(root, 0);
  } else {
    std::size_t index = 0;
    for (dom::element reading : readings) decode_one(reading, index++);
  }
  return outcome;
}

std::vector<std::uint32_t> JsonReadingLines(std::string_view text,
                                            const std::vector<std::uint32_t>& ordinals) {
  std::vector<std::uint32_t> lines(ordinals.size(), 0);
  dom::parser parser;
  dom::element root;
  if (parser.parse(text.data(), text.size(), true).get(root) != simdjson::SUCCESS) return lines;
  Locator locator(text);
  if (root.type() == dom::element_type::OBJECT) {
    std::size_t index = 0;
    bool found = false;
    dom::object object = root.get_object().value_unsafe();  // keep it: the loop borrows it
    for (dom::key_value_pair member : object) {
      if (member.key == "readings" && member.value.is_array()) {
        locator.EnterRoot();
        locator.EnterMember(index);
        found = true;
        break;
      }
      ++index;
    }
    if (!found) {  // a single reading: every ordinal is 1
      std::fill(lines.begin(), lines.end(), locator.LineOfDocument());
      return lines;
    }
  } else {
    locator.EnterRoot();
  }
  // The locator moves forward only: visit the ordinals in increasing order.
  std::vector<std::size_t> order(ordinals.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return ordinals[a] < ordinals[b]; });
  for (std::size_t i : order) {
    if (ordinals[i] > 0) lines[i] = locator.LineOfElement(ordinals[i] - 1);
  }
  return lines;
}

}  // namespace aquawatch
