// Durations written as a count and a unit (500ms, 10s, 20m, 1h, 30d), and instants as RFC 3339,
// shared by the configuration, the decoders and the query API so all read and print them alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aquawatch {

// ns for "<count><unit>" with unit ms, s, m, h or d and a count >= 0, or for a bare "0" (so what
// FormatDuration prints always parses back); nullopt for anything else (no unit on another count,
// another unit, a sign, overflow).
std::optional<std::int64_t> ParseDuration(std::string_view text);

// The largest unit that divides `ns` exactly ("1h", "20m", "500ms"); "0" for zero; "Nns" when no
// unit divides it.
std::string FormatDuration(std::int64_t ns);

// Formats ns since the epoch as RFC 3339 UTC with milliseconds, rounded down, e.g.
// 2026-11-27T10:00:00.123Z; ParseRfc3339 reads it back as that millisecond. (The few instants
// whose millisecond starts before int64's earliest nanosecond, in 1677, print all nine digits.)
std::string FormatRfc3339(std::int64_t ns);

}  // namespace aquawatch
