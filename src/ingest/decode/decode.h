// Decoders from wire formats (InfluxDB line protocol, JSON) into a ReadingBatch.
//
// Decoders are strict: a line (or JSON reading) with any error is rejected whole, with the line
// number, the field and the reason; every other line of the same input is kept. They are fast:
// no allocation per reading once the output batch has warmed up.
// Thread-safety: stateless functions; each call may run on any thread with its own outputs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/ingest_limits.h"
#include "core/reading.h"
#include "core/status.h"

namespace aquawatch {

struct DecodeError {
  std::uint32_t line = 0;  // 1-based line of the input (JSON: line of the reading's start)
  std::string field;       // the offending field or tag, or empty when the line as a whole is bad
  std::string reason;      // human-readable, e.g. "invalid number \"7,2\""
  Limit limit = Limit::kNone;  // set when the reading was refused by a limit, not a syntax error
};

struct DecodeOutcome {
  std::size_t accepted = 0;  // readings appended to the batch
  std::size_t rejected = 0;  // readings (lines) rejected; the first few are in `errors`
  // The rejected ones that a limit refused, by Limit (index 0: syntax and other errors).
  std::array<std::uint32_t, kLimitCount> rejected_by_limit{};
};

// Appended errors stop at this many per call; `rejected` still counts all of them.
inline constexpr std::size_t kMaxReportedErrors = 100;

// Timestamp precision of line protocol. The value is nanoseconds per unit.
enum class Precision : std::int64_t {
  kNanoseconds = 1,
  kMicroseconds = 1'000,
  kMilliseconds = 1'000'000,
  kSeconds = 1'000'000'000,
  kMinutes = 60'000'000'000,
  kHours = 3'600'000'000'000,
};
// Accepts InfluxDB's spellings: "" or "n"/"ns", "u"/"us"/"µ", "ms", "s", "m", "h".
Result<Precision> ParsePrecision(std::string_view text);

struct LineProtocolOptions {
  Precision precision = Precision::kNanoseconds;
  // Timestamp given to lines that carry none (normally the arrival time), in nanoseconds.
  std::int64_t default_time_ns = 0;
  // Line number of the first line of `text`, for streams decoded in pieces.
  std::uint32_t first_line = 1;
  // Fields per line and the time window; a line past them is rejected with the limit's name.
  ReadingLimits limits;
};

// Decodes InfluxDB line protocol: `measurement[,tag=v...] field=v[,field=v...] [timestamp]`.
// The tag `sensor` names the sensor (required); tags `site` and `zone` are kept; other tags are
// ignored. Float, integer (`i`), unsigned (`u`) and boolean fields become numbers (booleans 1/0);
// string fields are skipped (a line with no numeric field is rejected). Blank lines and lines
// starting with `#` are skipped. `text` may end without a newline.
DecodeOutcome DecodeLineProtocol(std::string_view text, const LineProtocolOptions& options,
                                 ReadingBatch& out, std::vector<DecodeError>& errors);

struct JsonOptions {
  std::int64_t default_time_ns = 0;  // for readings without "time"
  ReadingLimits limits;              // as for line protocol
};

// Decodes aquawatch's JSON batch:
//   {"readings": [ {"sensor": "id", "time": "RFC 3339" | epoch-ms number,
//                   "site": "...", "zone": "...", "values": {"ph": 7.2, ...}}, ... ]}
// A top-level array of readings, or a single reading object, is accepted too. A document that is
// not JSON at all is one error with line 0 and nothing accepted.
DecodeOutcome DecodeJson(std::string_view text, const JsonOptions& options, ReadingBatch& out,
                         std::vector<DecodeError>& errors);

// JSON readings carry their 1-based position in the document as ReadingBatch::line; this maps
// such positions back to the line each reading starts on (0 when unknown), for error reports.
std::vector<std::uint32_t> JsonReadingLines(std::string_view text,
                                            const std::vector<std::uint32_t>& ordinals);

// Parses RFC 3339 (e.g. 2026-11-27T10:00:00.123Z, 2026-11-27T11:00:00+01:00) to ns since epoch.
Result<std::int64_t> ParseRfc3339(std::string_view text);

}  // namespace aquawatch
