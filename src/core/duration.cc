#include "core/duration.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <utility>

namespace aquawatch {
namespace {

// Largest first, for formatting; parsing matches the whole suffix, so order does not matter.
constexpr std::pair<std::string_view, std::int64_t> kUnits[] = {{"d", 86'400'000'000'000LL},
                                                                {"h", 3'600'000'000'000LL},
                                                                {"m", 60'000'000'000LL},
                                                                {"s", 1'000'000'000LL},
                                                                {"ms", 1'000'000LL}};

}  // namespace

std::optional<std::int64_t> ParseDuration(std::string_view text) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || n < 0) return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  for (auto [name, size] : kUnits) {
    if (unit == name && n <= std::numeric_limits<std::int64_t>::max() / size) return n * size;
  }
  return std::nullopt;
}

std::string FormatDuration(std::int64_t ns) {
  if (ns == 0) return "0";
  for (auto [name, size] : kUnits) {
    if (ns % size == 0) return fmt::format("{}{}", ns / size, name);
  }
  return fmt::format("{}ns", ns);
}

std::string FormatRfc3339(std::int64_t ns) {
  std::int64_t ms = ns / 1'000'000;
  if (ns < 0 && ns % 1'000'000 != 0) --ms;
  std::int64_t secs = ms / 1000;
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // Civil-from-days (proleptic Gregorian), Howard Hinnant's algorithm.
  days += 719468;
  std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  auto doe = static_cast<unsigned>(days - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", y, m, d, rem / 3600,
                     (rem / 60) % 60, rem % 60, millis);
}


}  // namespace aquawatch
