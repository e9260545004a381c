#include "pipeline/log_codec.h"

#include <cstdint>
#include <cstring>

namespace aquawatch {
namespace {

template <typename T>
void Put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only; see docs/format/shard-log.md
  out.append(buf, sizeof(T));
}

void PutString(std::string& out, std::string_view s) {
  Put<std::uint16_t>(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool Get(T& v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(&v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool GetString(std::string_view& s) {
    std::uint16_t n = 0;
    if (!Get(n) || in_.size() < n) return false;
    s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

void EncodeBatch(const ReadingBatch& batch, std::string& out) {
  Put<std::uint32_t>(out, static_cast<std::uint32_t>(batch.size()));
  for (std::size_t i = 0; i < batch.size(); ++i) {
    PutString(out, batch.sensor(i));
    PutString(out, batch.site(i));
    PutString(out, batch.zone(i));
    Put<std::int64_t>(out, batch.time_ns(i));
    std::size_t begin = batch.field_begin(i), end = batch.field_end(i);
    Put<std::uint16_t>(out, static_cast<std::uint16_t>(end - begin));
    for (std::size_t f = begin; f < end; ++f) {
      ParameterId p = batch.field_param(f);
      Put<std::uint8_t>(out, static_cast<std::uint8_t>(p));
      if (p == ParameterId::kCustom) PutString(out, batch.field_name(f));
      Put<double>(out, batch.field_value(f));
    }
  }
}

namespace {
Status DecodeInto(std::string_view payload, ReadingBatch& out);
}  // namespace

Status DecodeBatch(std::string_view payload, ReadingBatch& out) {
  const std::size_t size_before = out.size();
  Status s = DecodeInto(payload, out);
  if (!s.ok()) {
    while (out.size() > size_before) out.CancelReading();
  }
  return s;
}

namespace {

Status DecodeInto(std::string_view payload, ReadingBatch& out) {
  Reader r(payload);
  std::uint32_t count = 0;
  if (!r.Get(count)) return Status::Corruption("batch record shorter than its header");
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string_view sensor, site, zone;
    std::int64_t time_ns = 0;
    std::uint16_t fields = 0;
    if (!r.GetString(sensor) || !r.GetString(site) || !r.GetString(zone) || !r.Get(time_ns) ||
        !r.Get(fields)) {
      return Status::Corruption("truncated reading header in batch record");
    }
    out.BeginReading(sensor, time_ns, site, zone);
    for (std::uint16_t f = 0; f < fields; ++f) {
      std::uint8_t p = 0;
      std::string_view name;
      double value = 0;
      if (!r.Get(p)) return Status::Corruption("truncated field in batch record");
      auto id = static_cast<ParameterId>(p);
      if (id == ParameterId::kCustom) {
        if (!r.GetString(name)) return Status::Corruption("truncated field name");
      } else if (p >= kCanonicalParameterCount) {
        return Status::Corruption("unknown parameter id " + std::to_string(p));
      }
      if (!r.Get(value)) return Status::Corruption("truncated field value");
      if (id == ParameterId::kCustom) {
        out.AddCustomField(name, value);
      } else {
        out.AddField(id, value);
      }
    }
  }
  if (!r.empty()) return Status::Corruption("trailing bytes after batch record");
  return Status::Ok();
}

}  // namespace

}  // namespace aquawatch
