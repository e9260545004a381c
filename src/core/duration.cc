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
  if (text == "0") return 0;  // what FormatDuration prints for zero
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
  // Whole seconds and the nanoseconds after them, rounding down (towards the past). Not via
  // secs * 10^9, which overflows for the earliest instants.
  std::int64_t secs = ns / 1'000'000'000;
  std::int64_t frac = ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  // In the first 0.776 ms that int64 nanoseconds hold (from 1677-09-21T00:12:43.145224192Z),
  // the millisecond that holds `ns` starts before the earliest representable instant: printed
  // as milliseconds such a time would not parse back, so it keeps all nine digits.
  constexpr std::int64_t kEarliestWholeMs =
      std::numeric_limits<std::int64_t>::min() / 1'000'000 * 1'000'000;
  const bool nanos = ns < kEarliestWholeMs;
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
  if (nanos) {
    return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:09d}Z", y, m, d, rem / 3600,
                       (rem / 60) % 60, rem % 60, frac);
  }
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", y, m, d, rem / 3600,
                     (rem / 60) % 60, rem % 60, frac / 1'000'000);
}

}  // namespace aquawatch
