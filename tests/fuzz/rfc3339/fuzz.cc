// Fuzz target for RFC 3339 and durations (ParseRfc3339, FormatRfc3339, ParseDuration,
// FormatDuration) and the query API's time and step parsers built on them. Besides "no crash,
// no sanitizer report":
//  - a time that parses is the instant glibc's timegm() gives for the same fields (a second,
//    independent calendar), and formats to text that parses back to the same nanosecond,
//    rounded down to the millisecond FormatRfc3339 prints (exactly the same for a whole
//    millisecond);
//  - a duration that parses formats to text that parses back to the same duration;
//  - the query parsers accept only what they can represent.
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <limits>
#include <string>
#include <string_view>

#include "api/readings_query.h"
#include "core/duration.h"
#include "ingest/decode/decode.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

int Num(std::string_view s, std::size_t pos, std::size_t len) {
  int v = 0;
  for (std::size_t i = pos; i < pos + len; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

// The instant of a text ParseRfc3339 accepted, by fixed positions and timegm(), in 128 bits
// (the earliest representable instant's whole seconds alone overflow 64).
__int128 ByTimegm(std::string_view s) {
  std::tm tm{};
  tm.tm_year = Num(s, 0, 4) - 1900;
  tm.tm_mon = Num(s, 5, 2) - 1;
  tm.tm_mday = Num(s, 8, 2);
  tm.tm_hour = Num(s, 11, 2);
  tm.tm_min = Num(s, 14, 2);
  tm.tm_sec = Num(s, 17, 2);
  std::int64_t seconds = timegm(&tm);
  std::size_t pos = 19;
  std::int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    std::int64_t scale = 100'000'000;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, scale /= 10) {
      frac += (s[pos] - '0') * scale;
    }
  }
  if (s[pos] == '+' || s[pos] == '-') {
    const int offset = Num(s, pos + 1, 2) * 3600 + Num(s, pos + 4, 2) * 60;
    seconds -= s[pos] == '+' ? offset : -offset;
  }
  return static_cast<__int128>(seconds) * 1'000'000'000 + frac;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = aquawatch::ParseRfc3339(text);
  if (t.ok()) {
    Check(*t == ByTimegm(text));
    // FormatRfc3339 prints milliseconds, rounding down (towards the past), except where that
    // millisecond starts before int64's earliest nanosecond: then every digit.
    __int128 ms = *t / 1'000'000;
    if (*t % 1'000'000 < 0) --ms;
    const __int128 floor_ns = ms * 1'000'000;
    const __int128 want = floor_ns < std::numeric_limits<std::int64_t>::min() ? *t : floor_ns;
    const std::string formatted = aquawatch::FormatRfc3339(*t);
    auto again = aquawatch::ParseRfc3339(formatted);
    Check(again.ok());
    Check(*again == want);
    Check(aquawatch::FormatRfc3339(*again) == formatted);
  } else {
    Check(!t.status().message().empty());
  }
  auto q = aquawatch::ParseQueryTime(text);
  if (q.ok()) Check(*q >= 0 || t.ok());
  auto step = aquawatch::ParseStep(text);
  if (step.ok()) Check(*step > 0 && *step <= 366 * 86'400'000'000'000LL);
  if (auto d = aquawatch::ParseDuration(text)) {
    Check(*d >= 0);
    Check(aquawatch::ParseDuration(aquawatch::FormatDuration(*d)) == d);
  }
  return 0;
}
