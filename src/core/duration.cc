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

}  // namespace aquawatch
