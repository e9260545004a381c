// IngestLimits: how much one reading, one sensor and one server may hold, so that no client can
// exhaust memory or hand the store something its on-disk formats cannot keep.
//
// Readings past a limit are refused one by one before anything is acknowledged, with an error
// that names the limit's configuration key; the rest of their batch is kept. The decoders check
// what a reading alone decides (fields per line, time); the shards check what needs their state
// (a series' samples per chunk window, parameters per sensor, sensors, label values).
// docs/operations.md lists every limit and its default. Thread-safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace aquawatch {

// Why a reading was refused. The numbers are indexes into per-limit metric labels.
enum class Limit : std::uint8_t {
  kNone = 0,
  kFieldsPerLine,        // ingest.max_fields_per_line
  kFutureTime,           // ingest.max_future: too far ahead of the server clock
  kMinTime,              // ingest.min_time: before the floor
  kLateWindow,           // store.late_window: older than the sensor's newest minus the window
  kChunkSamples,         // a series' chunk window holds kMaxChunkSamples already
  kParametersPerSensor,  // ingest.max_parameters_per_sensor
  kSensors,              // ingest.max_sensors
  kLabelValues,          // ingest.max_label_values
};
inline constexpr int kLimitCount = 9;

// The configuration key that sets the limit (or, for the chunk limit, the one to change).
std::string_view LimitKey(Limit limit);
// A short name for metric labels: "fields_per_line", "future_time", ...
std::string_view LimitLabel(Limit limit);

struct IngestLimits {
  // Fields of one line (reading). A multi-parameter sonde has a dozen; a UV-Vis spectrometer a
  // couple of hundred absorbances.
  std::size_t max_fields_per_line = 256;
  // How far a reading's time may be ahead of the server clock. A reading beyond it would move
  // its sensor's clock ahead and get every later real reading refused as too late.
  std::int64_t max_future_ns = 10 * 60 * 1'000'000'000LL;
  // Readings before this instant are refused (a probe whose clock reset reports 1970 or 2000).
  // Default 2000-01-01T00:00:00Z.
  std::int64_t min_time_ns = 946'684'800'000'000'000LL;
  // Distinct fields (series) one sensor may have.
  std::size_t max_parameters_per_sensor = 256;
  // Distinct sensors in the server.
  std::size_t max_sensors = 10'000'000;
  // Distinct site, zone and custom field name values, counted per shard and summed (a value
  // that sensors on two shards use counts twice).
  std::size_t max_label_values = 1'000'000;
};

// What a decoder checks of each reading on its own, for one request: the time bounds are
// absolute, taken from the server clock when the request arrived.
struct ReadingLimits {
  std::size_t max_fields = std::numeric_limits<std::size_t>::max();
  std::int64_t min_time_ns = std::numeric_limits<std::int64_t>::min();
  std::int64_t max_time_ns = std::numeric_limits<std::int64_t>::max();
  // For messages: the configured allowance ahead of the clock (0: not checked).
  std::int64_t max_future_ns = 0;
};

}  // namespace aquawatch
