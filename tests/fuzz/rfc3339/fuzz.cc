// Fuzz target for the RFC 3339 parser and formatter. Besides "no crash, no sanitizer report": a
// time that parses formats to a string that parses back to the same millisecond, and the
// query API's time parser (epoch milliseconds or RFC 3339) and step parser never accept what
// they cannot represent.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/readings_query.h"
#include "core/duration.h"
#include "ingest/decode/decode.h"

namespace {
void Check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = aquawatch::ParseRfc3339(text);
  if (t.ok()) {
    // FormatRfc3339 prints milliseconds: the round trip holds to the millisecond.
    const std::int64_t ms = *t >= 0 ? *t / 1'000'000 : -((-*t + 999'999) / 1'000'000);
    auto again = aquawatch::ParseRfc3339(aquawatch::FormatRfc3339(*t));
    if (*t >= 0) {
      Check(again.ok());
      Check(*again / 1'000'000 == ms);
    }
  } else {
    Check(!t.status().message().empty());
  }
  auto q = aquawatch::ParseQueryTime(text);
  if (q.ok()) Check(*q >= 0 || t.ok());
  auto step = aquawatch::ParseStep(text);
  if (step.ok()) Check(*step > 0);
  if (auto d = aquawatch::ParseDuration(text)) {
    Check(*d >= 0);
    Check(aquawatch::ParseDuration(aquawatch::FormatDuration(*d)) == d);
  }
  return 0;
}
