// Fuzz target for the JSON decoder. Besides "no crash, no sanitizer report", it checks the
// decoder's contract: counts add up, only valid readings reach the batch, a reading already in
// the batch is never disturbed, a document that is not JSON is rejected whole, and errors point
// at lines of the input.
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
    for (std::size_t g = batch.field_begin(i); g < f; ++g) {
      Check(batch.field_name(g) != batch.field_name(f));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::size_t newlines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));

  aquawatch::JsonOptions options;
  options.default_time_ns = 1764237600000000000;
  ReadingBatch batch;
  batch.BeginReading("existing", 1, "site", "zone");
  batch.AddField(ParameterId::kPh, 7.0);
  std::vector<DecodeError> errors;
  DecodeOutcome out = aquawatch::DecodeJson(text, options, batch, errors);

  Check(batch.size() == 1 + out.accepted);
  Check(errors.size() == std::min(out.rejected, aquawatch::kMaxReportedErrors));
  Check(batch.sensor(0) == "existing" && batch.site(0) == "site" && batch.zone(0) == "zone");
  Check(batch.field_end(0) == 1 && batch.field_param(0) == ParameterId::kPh);
  Check(batch.field_value(0) == 7.0 && batch.time_ns(0) == 1);
  Check(batch.field_count() == batch.field_end(batch.size() - 1));
  for (std::size_t i = 1; i < batch.size(); ++i) CheckReading(batch, i);

  for (const DecodeError& e : errors) {
    Check(!e.reason.empty() && e.reason.size() < 512);
    Check(e.line <= newlines + 1);
    if (e.line == 0) {
      // Only a document that is not JSON has line 0, and then nothing else happened.
      Check(std::string_view(e.reason).substr(0, 14) == "invalid JSON: ");
      Check(out.accepted == 0 && out.rejected == 1 && errors.size() == 1);
    }
  }
  std::uint32_t last_line = 0;
  for (const DecodeError& e : errors) {  // readings are reported in document order
    Check(e.line >= last_line);
    last_line = e.line;
  }

  // Decoding is deterministic and the per-thread buffers carry nothing over.
  ReadingBatch again;
  std::vector<DecodeError> again_errors;
  DecodeOutcome o = aquawatch::DecodeJson(text, options, again, again_errors);
  Check(o.accepted == out.accepted && o.rejected == out.rejected);
  Check(again_errors.size() == errors.size());
  for (std::size_t i = 0; i < errors.size(); ++i) {
    Check(again_errors[i].line == errors[i].line && again_errors[i].reason == errors[i].reason);
  }
  return 0;
}
