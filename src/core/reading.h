// Readings and the columnar ReadingBatch that carries them through the pipeline.
//
// A reading is one sensor's report at one instant: a sensor id, a timestamp (UTC, nanoseconds
// since the Unix epoch), optional site and zone tags, and one or more numeric fields. The seven
// canonical parameters have fixed ids; any other numeric field travels under its own name.
//
// ReadingBatch stores readings column by column with every string in one arena, so decoding a
// batch of thousands of readings costs a handful of allocations, and none once the batch has been
// used before (Clear() keeps capacity).
// Thread-safety: a batch is owned by one thread at a time; hand it over, do not share it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aquawatch {

// Canonical parameters. The numeric values are persisted in logs: append only, never renumber.
enum class ParameterId : std::uint8_t {
  kPh = 0,
  kTurbidityNtu = 1,
  kDissolvedOxygenMgL = 2,
  kTemperatureC = 3,
  kConductivityUsCm = 4,
  kFreeChlorineMgL = 5,
  kOrpMv = 6,
  kCustom = 255,  // a field outside the canonical set; its name travels with it
};
inline constexpr int kCanonicalParameterCount = 7;

struct ParameterInfo {
  ParameterId id;
  std::string_view name;  // wire and API name, e.g. "turbidity_ntu"
  std::string_view unit;  // e.g. "NTU"
  double resolution;      // typical sensor resolution, used by the simulator and detectors
};

// The canonical parameters, indexed by their id.
const ParameterInfo& CanonicalParameter(ParameterId id);
// The canonical id for a field name, or kCustom when the name is not canonical.
ParameterId ParameterFromName(std::string_view name);
// The name of a canonical parameter.
std::string_view ParameterName(ParameterId id);

inline constexpr std::size_t kMaxSensorIdBytes = 128;
// Why `id` is not a valid sensor id, or an empty view when it is valid. Valid ids are 1-128
// bytes of ASCII letters, digits and `_ - . :` (they appear in URLs and MQTT topics unescaped).
std::string_view SensorIdError(std::string_view id);

// Site and zone labels: free text, up to this many bytes (they are stored with every reading).
inline constexpr std::size_t kMaxLabelBytes = 128;

// Field names outside the canonical set follow the same character rules, up to 64 bytes.
inline constexpr std::size_t kMaxFieldNameBytes = 64;
std::string_view FieldNameError(std::string_view name);

class ReadingBatch {
 public:
  // Forgets every reading but keeps the capacity.
  void Clear();

  // Starts a new reading. Fields follow with AddField/AddCustomField. `line`: where the reading
  // came from in its request (1-based; 0 = unknown), so a refusal later on can name the line.
  void BeginReading(std::string_view sensor, std::int64_t time_ns, std::string_view site = {},
                    std::string_view zone = {}, std::uint32_t line = 0);
  void AddField(ParameterId id, double value);
  void AddCustomField(std::string_view name, double value);
  // Drops the reading begun last, with its fields (a decoder that finds an error mid-reading).
  void CancelReading();
  // Copies reading `i` of `other` to the end of this batch.
  void AppendFrom(const ReadingBatch& other, std::size_t i);

  std::size_t size() const { return time_ns_.size(); }
  bool empty() const { return time_ns_.empty(); }
  std::size_t field_count() const { return param_.size(); }

  std::string_view sensor(std::size_t i) const { return View(sensor_[i]); }
  std::string_view site(std::size_t i) const { return View(site_[i]); }
  std::string_view zone(std::size_t i) const { return View(zone_[i]); }
  std::int64_t time_ns(std::size_t i) const { return time_ns_[i]; }
  std::uint32_t line(std::size_t i) const { return line_[i]; }
  // Fields of reading i are [field_begin(i), field_end(i)).
  std::size_t field_begin(std::size_t i) const { return i == 0 ? 0 : field_end_[i - 1]; }
  std::size_t field_end(std::size_t i) const { return field_end_[i]; }
  ParameterId field_param(std::size_t f) const { return param_[f]; }
  double field_value(std::size_t f) const { return value_[f]; }
  // Canonical name for canonical parameters, the field's own name otherwise.
  std::string_view field_name(std::size_t f) const;

  // When the batch reached aquawatch (nanoseconds since the epoch, wall clock), for latency.
  std::int64_t arrival_ns = 0;

 private:
  struct StrRef {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
  };
  StrRef Store(std::string_view s);
  std::string_view View(StrRef r) const { return {arena_.data() + r.offset, r.size}; }

  std::string arena_;
  std::vector<StrRef> sensor_, site_, zone_;
  std::vector<std::int64_t> time_ns_;
  std::vector<std::uint32_t> line_;
  std::vector<std::uint32_t> field_end_;
  std::vector<ParameterId> param_;
  std::vector<double> value_;
  std::vector<StrRef> name_;  // meaningful only where param_ is kCustom
};

}  // namespace aquawatch
