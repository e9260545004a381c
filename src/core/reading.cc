#include "core/reading.h"

#include <array>
#include <cassert>

namespace aquawatch {
namespace {

constexpr std::array<ParameterInfo, kCanonicalParameterCount> kCanonical = {{
    {ParameterId::kPh, "ph", "pH", 0.01},
    {ParameterId::kTurbidityNtu, "turbidity_ntu", "NTU", 0.01},
    {ParameterId::kDissolvedOxygenMgL, "dissolved_oxygen_mg_l", "mg/L", 0.01},
    {ParameterId::kTemperatureC, "temperature_c", "°C", 0.1},
    {ParameterId::kConductivityUsCm, "conductivity_us_cm", "µS/cm", 1.0},
    {ParameterId::kFreeChlorineMgL, "free_chlorine_mg_l", "mg/L", 0.01},
    {ParameterId::kOrpMv, "orp_mv", "mV", 1.0},
}};

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':';
}

std::string_view NameError(std::string_view s, std::size_t max, std::string_view too_long) {
  if (s.empty()) return "is empty";
  if (s.size() > max) return too_long;
  for (char c : s) {
    if (!IsIdChar(c)) return "has a character outside letters, digits and _ - . :";
  }
  return {};
}

}  // namespace

const ParameterInfo& CanonicalParameter(ParameterId id) {
  assert(static_cast<int>(id) < kCanonicalParameterCount);
  return kCanonical[static_cast<std::size_t>(id)];
}

ParameterId ParameterFromName(std::string_view name) {
  // Dispatch on length first so a lookup costs at most two short comparisons: this runs for
  // every field of every reading.
  switch (name.size()) {
    case 2:
      if (name == "ph") return ParameterId::kPh;
      break;
    case 6:
      if (name == "orp_mv") return ParameterId::kOrpMv;
      break;
    case 13:
      if (name == "turbidity_ntu") return ParameterId::kTurbidityNtu;
      if (name == "temperature_c") return ParameterId::kTemperatureC;
      break;
    case 18:
      if (name == "conductivity_us_cm") return ParameterId::kConductivityUsCm;
      if (name == "free_chlorine_mg_l") return ParameterId::kFreeChlorineMgL;
      break;
    case 21:
      if (name == "dissolved_oxygen_mg_l") return ParameterId::kDissolvedOxygenMgL;
      break;
    default:
      break;
  }
  return ParameterId::kCustom;
}

std::string_view ParameterName(ParameterId id) { return CanonicalParameter(id).name; }

std::string_view SensorIdError(std::string_view id) {
  return NameError(id, kMaxSensorIdBytes, "is longer than 128 bytes");
}

std::string_view FieldNameError(std::string_view name) {
  return NameError(name, kMaxFieldNameBytes, "is longer than 64 bytes");
}

void ReadingBatch::Clear() {
  arena_.clear();
  sensor_.clear();
  site_.clear();
  zone_.clear();
  time_ns_.clear();
  line_.clear();
  field_end_.clear();
  param_.clear();
  value_.clear();
  name_.clear();
  arrival_ns = 0;
}

ReadingBatch::StrRef ReadingBatch::Store(std::string_view s) {
  if (s.empty()) return {};
  StrRef r{static_cast<std::uint32_t>(arena_.size()), static_cast<std::uint32_t>(s.size())};
  arena_.append(s);
  return r;
}

void ReadingBatch::BeginReading(std::string_view sensor, std::int64_t time_ns,
                                std::string_view site, std::string_view zone, std::uint32_t line) {
  sensor_.push_back(Store(sensor));
  site_.push_back(Store(site));
  zone_.push_back(Store(zone));
  time_ns_.push_back(time_ns);
  line_.push_back(line);
  field_end_.push_back(static_cast<std::uint32_t>(param_.size()));
}

void ReadingBatch::AddField(ParameterId id, double value) {
  assert(!time_ns_.empty());
  param_.push_back(id);
  value_.push_back(value);
  name_.push_back({});
  field_end_.back() = static_cast<std::uint32_t>(param_.size());
}

void ReadingBatch::AddCustomField(std::string_view name, double value) {
  assert(!time_ns_.empty());
  param_.push_back(ParameterId::kCustom);
  value_.push_back(value);
  name_.push_back(Store(name));
  field_end_.back() = static_cast<std::uint32_t>(param_.size());
}

void ReadingBatch::CancelReading() {
  assert(!time_ns_.empty());
  std::size_t begin = field_begin(size() - 1);
  // Strings of the cancelled reading were appended last; the earliest one marks the cut.
  std::uint32_t cut = static_cast<std::uint32_t>(arena_.size());
  auto lower = [&](StrRef r) {
    if (r.size != 0 && r.offset < cut) cut = r.offset;
  };
  lower(sensor_.back());
  lower(site_.back());
  lower(zone_.back());
  for (std::size_t f = begin; f < param_.size(); ++f) lower(name_[f]);
  arena_.resize(cut);
  param_.resize(begin);
  value_.resize(begin);
  name_.resize(begin);
  sensor_.pop_back();
  site_.pop_back();
  zone_.pop_back();
  time_ns_.pop_back();
  line_.pop_back();
  field_end_.pop_back();
}

void ReadingBatch::AppendFrom(const ReadingBatch& other, std::size_t i) {
  BeginReading(other.sensor(i), other.time_ns(i), other.site(i), other.zone(i), other.line(i));
  for (std::size_t f = other.field_begin(i); f < other.field_end(i); ++f) {
    if (other.param_[f] == ParameterId::kCustom) {
      AddCustomField(other.View(other.name_[f]), other.value_[f]);
    } else {
      AddField(other.param_[f], other.value_[f]);
    }
  }
}

std::string_view ReadingBatch::field_name(std::size_t f) const {
  if (param_[f] == ParameterId::kCustom) return View(name_[f]);
  return ParameterName(param_[f]);
}

}  // namespace aquawatch
