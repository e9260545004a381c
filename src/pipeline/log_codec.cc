#include "pipeline/log_codec.h"

#include <cstring>

namespace aquawatch {
namespace {

template <typename T>
void Put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only; see docs/format/shard-log.md
  out.append(buf, sizeof(T));
}

void PutVarint(std::string& out, std::uint64_t v) {
  char buf[10];
  std::size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}

void PutString(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}

class Reader {
 public:
  Reader(std::string_view in, LogFormat format) : in_(in), format_(format) {}
  template <typename T>
  bool Get(T& v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(&v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  // A count or length: u16 in version 1, a varint (at most 32 bits) in version 2.
  bool GetCount(std::uint32_t& v) {
    if (format_ == LogFormat::kV1) {
      std::uint16_t n = 0;
      if (!Get(n)) return false;
      v = n;
      return true;
    }
    std::uint64_t acc = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (in_.empty()) return false;
      const auto byte = static_cast<std::uint8_t>(in_.front());
      in_.remove_prefix(1);
      acc |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        if (acc > 0xffffffffu) return false;
        v = static_cast<std::uint32_t>(acc);
        return true;
      }
    }
    return false;
  }
  bool GetString(std::string_view& s) {
    std::uint32_t n = 0;
    if (!GetCount(n) || in_.size() < n) return false;
    s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool empty() const { return in_.empty(); }
  std::size_t remaining() const { return in_.size(); }

 private:
  std::string_view in_;
  LogFormat format_;
};

// The smallest encoding of one field (id and value) and one reading (empty strings, time,
// field count), used to refuse a count that the payload cannot possibly hold before looping.
constexpr std::size_t kMinFieldBytes = 1 + 8;
constexpr std::size_t kMinReadingBytes = 3 + 8 + 1;

Status DecodeInto(std::string_view payload, LogFormat format, ReadingBatch& out) {
  Reader r(payload, format);
  std::uint32_t count = 0;
  if (!r.Get(count)) return Status::Corruption("batch record shorter than its header");
  if (count > r.remaining() / kMinReadingBytes) {
    return Status::Corruption("batch record announces more readings than it holds");
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string_view sensor, site, zone;
    std::int64_t time_ns = 0;
    std::uint32_t fields = 0;
    if (!r.GetString(sensor) || !r.GetString(site) || !r.GetString(zone) || !r.Get(time_ns) ||
        !r.GetCount(fields)) {
      return Status::Corruption("truncated reading header in batch record");
    }
    if (fields > r.remaining() / kMinFieldBytes) {
      return Status::Corruption("reading announces more fields than the record holds");
    }
    out.BeginReading(sensor, time_ns, site, zone);
    for (std::uint32_t f = 0; f < fields; ++f) {
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

void EncodeBatch(const ReadingBatch& batch, std::size_t begin, std::size_t end, std::string& out) {
  Put<std::uint32_t>(out, static_cast<std::uint32_t>(end - begin));
  for (std::size_t i = begin; i < end; ++i) {
    PutString(out, batch.sensor(i));
    PutString(out, batch.site(i));
    PutString(out, batch.zone(i));
    Put<std::int64_t>(out, batch.time_ns(i));
    const std::size_t first = batch.field_begin(i), last = batch.field_end(i);
    PutVarint(out, last - first);
    for (std::size_t f = first; f < last; ++f) {
      const ParameterId p = batch.field_param(f);
      Put<std::uint8_t>(out, static_cast<std::uint8_t>(p));
      if (p == ParameterId::kCustom) PutString(out, batch.field_name(f));
      Put<double>(out, batch.field_value(f));
    }
  }
}

std::size_t EncodedBytesBound(const ReadingBatch& batch, std::size_t begin, std::size_t end) {
  std::size_t bytes = 4;
  for (std::size_t i = begin; i < end; ++i) {
    bytes += 3 * 5 + batch.sensor(i).size() + batch.site(i).size() + batch.zone(i).size() + 8 + 5;
    for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
      bytes += 1 + 8;
      if (batch.field_param(f) == ParameterId::kCustom) bytes += 5 + batch.field_name(f).size();
    }
  }
  return bytes;
}

Status DecodeBatch(std::string_view payload, ReadingBatch& out, LogFormat format) {
  const std::size_t size_before = out.size();
  Status s = DecodeInto(payload, format, out);
  if (!s.ok()) {
    while (out.size() > size_before) out.CancelReading();
  }
  return s;
}

}  // namespace aquawatch
