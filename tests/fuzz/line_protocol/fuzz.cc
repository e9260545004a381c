// Fuzz target for the line protocol decoder. Besides "no crash, no sanitizer report", it checks
// the decoder's contract: counts add up, only valid readings reach the batch, a reading already
// in the batch is never disturbed, errors point at real lines, and decoding line by line gives
// the same result as decoding the whole input (no state leaks between lines).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ingest/decode/decode.h"

namespace {

using aquawatch::DecodeError;
using aquawatch::DecodeOutcome;
using aquawatch::ParameterId;
using aquawatch::ReadingBatch;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr aquawatch::Precision kPrecisions[] = {
    aquawatch::Precision::kNanoseconds,  aquawatch::Precision::kMicroseconds,
    aquawatch::Precision::kMilliseconds, aquawatch::Precision::kSeconds,
    aquawatch::Precision::kMinutes,      aquawatch::Precision::kHours};

void CheckReading(const ReadingBatch& batch, std::size_t i) {
  Check(aquawatch::SensorIdError(batch.sensor(i)).empty());
  Check(batch.field_end(i) > batch.field_begin(i));  // at least one field
  for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
    Check(std::isfinite(batch.field_value(f)));
    if (batch.field_param(f) == ParameterId::kCustom) {
      Check(aquawatch::FieldNameError(batch.field_name(f)).empty());
      Check(aquawatch::ParameterFromName(batch.field_name(f)) == ParameterId::kCustom);
    } else {
      Check(static_cast<int>(batch.field_param(f)) < aquawatch::kCanonicalParameterCount);
    }
    // No field name twice in one reading.
    for (std::size_t g = batch.field_begin(i); g < f; ++g) {
      Check(batch.field_name(g) != batch.field_name(f));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::size_t newlines = 0;
  for (char c : text) newlines += c == '\n';

  aquawatch::LineProtocolOptions options;
  options.precision = kPrecisions[size % 6];  // vary precision without stealing input bytes
  options.default_time_ns = 1764237600000000000;
  options.first_line = 1;

  ReadingBatch batch;
  batch.BeginReading("existing", 1, "site", "zone");
  batch.AddCustomField("kept_field", 2.5);
  std::vector<DecodeError> errors;
  DecodeOutcome out = aquawatch::DecodeLineProtocol(text, options, batch, errors);

  Check(batch.size() == 1 + out.accepted);
  Check(out.accepted + out.rejected <= newlines + 1);
  Check(errors.size() == std::min(out.rejected, aquawatch::kMaxReportedErrors));
  Check(batch.sensor(0) == "existing" && batch.site(0) == "site" && batch.zone(0) == "zone");
  Check(batch.field_end(0) == 1 && batch.field_name(0) == "kept_field");
  Check(batch.field_value(0) == 2.5 && batch.time_ns(0) == 1);
  Check(batch.field_count() == batch.field_end(batch.size() - 1));
  for (std::size_t i = 1; i < batch.size(); ++i) CheckReading(batch, i);
  std::uint32_t last_line = 0;
  for (const DecodeError& e : errors) {
    Check(e.line >= 1 && e.line <= newlines + 1);
    Check(e.line > last_line);  // one error per line, in order
    last_line = e.line;
    Check(!e.reason.empty());
    Check(e.reason.size() < 512);  // messages quote bounded excerpts
  }

  // Line by line, with first_line carried along, the outcome is the same.
  ReadingBatch one;
  std::vector<DecodeError> one_errors;
  std::size_t accepted = 0, rejected = 0, pos = 0;
  std::uint32_t line = 1;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    options.first_line = line++;
    one_errors.clear();
    DecodeOutcome o =
        aquawatch::DecodeLineProtocol(text.substr(pos, end - pos), options, one, one_errors);
    accepted += o.accepted;
    rejected += o.rejected;
    for (const DecodeError& e : one_errors) Check(e.line == options.first_line);
    if (nl == std::string_view::npos) break;
    pos = end;
  }
  Check(accepted == out.accepted && rejected == out.rejected);
  Check(one.size() == out.accepted);
  for (std::size_t i = 0; i < one.size(); ++i) {
    Check(one.sensor(i) == batch.sensor(i + 1) && one.time_ns(i) == batch.time_ns(i + 1));
    Check(one.field_end(i) - one.field_begin(i) ==
          batch.field_end(i + 1) - batch.field_begin(i + 1));
  }
  return 0;
}
