#include "store/tsdb/chunk.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace aquawatch {
namespace {

constexpr std::uint8_t kVersion = 1;         // XOR values
constexpr std::uint8_t kDecimalVersion = 2;  // integer multiples of 10^-decimals

constexpr double kPow10[kMaxDecimals + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

std::uint64_t ZigZag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t UnZigZag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

bool FitsSigned(std::int64_t v, int bits) {
  const std::int64_t lo = -(std::int64_t{1} << (bits - 1));
  const std::int64_t hi = (std::int64_t{1} << (bits - 1)) - 1;
  return v >= lo && v <= hi;
}

std::int64_t SignExtend(std::uint64_t v, int bits) {
  const std::uint64_t sign = std::uint64_t{1} << (bits - 1);
  return static_cast<std::int64_t>((v ^ sign) - sign);
}

std::uint64_t Bits(double v) { return std::bit_cast<std::uint64_t>(v); }

// Two's-complement wrapping arithmetic: deltas of extreme timestamps (and of fuzzed bytes) must
// not be undefined behaviour; the reader undoes exactly what the writer did.
std::int64_t WrapAdd(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}
std::int64_t WrapSub(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}

}  // namespace

bool FitsDecimals(double value, int decimals) {
  if (decimals < 0 || decimals > kMaxDecimals || !std::isfinite(value)) return false;
  if (value == 0) return !std::signbit(value);  // -0 would come back as +0
  const double scaled = value * kPow10[decimals];
  if (!(std::fabs(scaled) <= kMaxExactInteger)) return false;
  // The reader computes q / 10^decimals: the value fits when that gives back the same double.
  return std::nearbyint(scaled) / kPow10[decimals] == value;
}

int DecimalsFor(double value) {
  for (int d = 0; d <= kMaxDecimals; ++d) {
    if (FitsDecimals(value, d)) return d;
  }
  return -1;
}

ChunkWriter::ChunkWriter(TimeUnit unit, int decimals) : decimals_(decimals) {
  buf_.push_back(static_cast<char>(decimals >= 0 ? kDecimalVersion : kVersion));
  buf_.push_back(static_cast<char>(unit));
  buf_.append(2, '\0');
  if (decimals >= 0) buf_.push_back(static_cast<char>(decimals));
}

namespace {

// Appends the low `n` bits of `bits`, most significant first, to `buf`, whose last byte has
// `free_bits` unused low bits.
void AppendBits(std::string& buf, int& free_bits, std::uint64_t bits, int n) {
  while (n > 0) {
    if (free_bits == 0) {
      buf.push_back('\0');
      free_bits = 8;
    }
    const int take = n < free_bits ? n : free_bits;
    const std::uint64_t chunk = (bits >> (n - take)) & ((std::uint64_t{1} << take) - 1);
    buf.back() =
        static_cast<char>(static_cast<std::uint8_t>(buf.back()) | (chunk << (free_bits - take)));
    free_bits -= take;
    n -= take;
  }
}

void PutSampleCount(char* chunk, std::size_t count) {
  const auto n = static_cast<std::uint16_t>(count);
  std::memcpy(chunk + 2, &n, 2);  // little-endian hosts (docs/format/chunk.md)
}

}  // namespace

void ChunkWriter::WriteBits(std::uint64_t bits, int n) {
  if (n < 64) bits &= (std::uint64_t{1} << n) - 1;
  if (pending_bits_ + n > kPendingBits) FlushPending();
  pending_ = (pending_ << n) | bits;  // n <= 64 < 128: a defined shift
  pending_bits_ = static_cast<std::uint8_t>(pending_bits_ + n);
}

void ChunkWriter::AppendPending(std::string& buf, int& free_bits) const {
  if (pending_bits_ > 64) {
    AppendBits(buf, free_bits, static_cast<std::uint64_t>(pending_ >> 64), pending_bits_ - 64);
    AppendBits(buf, free_bits, static_cast<std::uint64_t>(pending_), 64);
  } else {
    AppendBits(buf, free_bits, static_cast<std::uint64_t>(pending_), pending_bits_);
  }
}

void ChunkWriter::Reserve(std::size_t more) {
  const std::size_t need = buf_.size() + more;
  if (need <= buf_.capacity()) return;
  // std::string::reserve doubles a grown string's capacity; a fresh one gets what it asks for.
  std::string grown;
  grown.reserve(std::max({need, buf_.size() + buf_.size() / 4, 2 * kInlineBytes + 2}));
  grown.assign(buf_);
  buf_.swap(grown);
}

void ChunkWriter::FlushPending() {
  Reserve(pending_bits_ / 8 + 1);
  int free_bits = free_bits_;
  AppendPending(buf_, free_bits);
  free_bits_ = static_cast<std::int8_t>(free_bits);
  pending_ = 0;
  pending_bits_ = 0;
}

std::string_view ChunkWriter::bytes() {
  FlushPending();
  PutSampleCount(buf_.data(), count_);
  return buf_;
}

void ChunkWriter::CopyTo(std::string& out) const {
  out.assign(buf_);
  int free_bits = free_bits_;
  AppendPending(out, free_bits);
  PutSampleCount(out.data(), count_);
}

std::uint64_t ChunkWriter::LastValueBits() const {
  if (decimals_ < 0) return last_;
  // The very double the chunk gives back (ChunkReader::value), which FitsDecimals made sure is
  // the one appended.
  return Bits(static_cast<double>(static_cast<std::int64_t>(last_)) / kPow10[decimals_]);
}

ChunkWriterState ChunkWriter::state() const {
  // As the bytes will be once the pending bits are written (CopyTo, bytes()).
  int free_bits = free_bits_;
  if (pending_bits_ > 0) {
    const int spill = pending_bits_ - free_bits_;
    free_bits = spill <= 0 ? free_bits_ - pending_bits_ : (8 - spill % 8) % 8;
  }
  return {t_,
          delta_,
          LastValueBits(),
          static_cast<std::int8_t>(leading_),
          static_cast<std::int8_t>(trailing_),
          static_cast<std::uint8_t>(quality_),
          static_cast<std::uint8_t>(free_bits),
          static_cast<std::uint16_t>(count_),
          static_cast<std::int8_t>(decimals_)};
}

Result<ChunkWriter> ChunkWriter::Resume(std::string_view bytes, const ChunkWriterState& st) {
  auto header = ChunkReader::Open(bytes);
  const std::size_t header_bytes = st.decimals >= 0 ? 5 : 4;
  const bool empty = bytes.size() == header_bytes && st.count == 0;
  if (!empty && !header.ok()) return header.status();
  const std::uint8_t version = bytes.size() >= 4 ? static_cast<std::uint8_t>(bytes[0]) : 0;
  // ChunkReader::Open checks the unit, but an empty chunk does not open (it has no samples):
  // check it here too, or the writer would go on writing a chunk no reader can open.
  const std::uint8_t unit = bytes.size() >= 4 ? static_cast<std::uint8_t>(bytes[1]) : 0xFF;
  if ((!empty && header->size() != st.count) || st.free_bits > 7 || st.leading < -1 ||
      unit > static_cast<std::uint8_t>(TimeUnit::kNanos) || st.leading > 31 || st.trailing < 0 ||
      st.trailing > 63 || st.quality > 3 || (empty && st.free_bits != 0) || st.decimals < -1 ||
      st.decimals > kMaxDecimals || version != (st.decimals >= 0 ? kDecimalVersion : kVersion) ||
      (st.decimals >= 0 && static_cast<std::uint8_t>(bytes[4]) != st.decimals)) {
    return Status::Corruption("chunk writer state does not match its chunk");
  }
  ChunkWriter w(static_cast<TimeUnit>(bytes[1]), st.decimals);
  w.buf_.assign(bytes);
  if (st.decimals >= 0) {
    const double last = std::bit_cast<double>(st.value_bits);
    if (st.count > 0 && !FitsDecimals(last, st.decimals)) {
      return Status::Corruption("chunk writer state does not match its chunk");
    }
    w.last_ = static_cast<std::uint64_t>(
        static_cast<std::int64_t>(std::nearbyint(last * kPow10[st.decimals])));
  } else {
    w.last_ = st.value_bits;
  }
  w.count_ = st.count;
  w.t_ = st.t;
  w.delta_ = st.delta;
  w.leading_ = st.leading;
  w.trailing_ = st.trailing;
  w.quality_ = static_cast<Quality>(st.quality);
  w.free_bits_ = st.free_bits;
  return w;
}

void ChunkWriter::WriteVarint(std::uint64_t v) {
  do {
    std::uint64_t group = v & 0x7F;
    v >>= 7;
    WriteBits(group | (v != 0 ? 0x80 : 0), 8);
  } while (v != 0);
}

Status ChunkWriter::Append(std::int64_t t, double value, Quality quality) {
  if (count_ >= kMaxChunkSamples) return Status::InvalidArgument("chunk is full");
  if (count_ > 0 && t < t_) return Status::InvalidArgument("sample is older than the chunk's last");
  std::int64_t q = 0;
  if (decimals_ >= 0) {
    if (!FitsDecimals(value, decimals_)) {
      return Status::InvalidArgument("value does not fit the chunk's decimals");
    }
    q = static_cast<std::int64_t>(std::nearbyint(value * kPow10[decimals_]));
  }
  const std::uint64_t bits = Bits(value);
  if (count_ == 0) {
    WriteVarint(ZigZag(t));
    if (decimals_ >= 0) {
      WriteVarint(ZigZag(q));
    } else {
      WriteBits(bits, 64);
    }
    WriteBits(static_cast<std::uint64_t>(quality), 2);
  } else {
    // Timestamp.
    const std::int64_t delta = WrapSub(t, t_);
    if (count_ == 1) {
      WriteVarint(static_cast<std::uint64_t>(delta));
    } else {
      const std::int64_t dod = WrapSub(delta, delta_);
      if (dod == 0) {
        WriteBits(0b0, 1);
      } else if (FitsSigned(dod, 14)) {
        WriteBits(0b10, 2);
        WriteBits(static_cast<std::uint64_t>(dod), 14);
      } else if (FitsSigned(dod, 17)) {
        WriteBits(0b110, 3);
        WriteBits(static_cast<std::uint64_t>(dod), 17);
      } else if (FitsSigned(dod, 20)) {
        WriteBits(0b1110, 4);
        WriteBits(static_cast<std::uint64_t>(dod), 20);
      } else {
        WriteBits(0b1111, 4);
        WriteBits(static_cast<std::uint64_t>(dod), 64);
      }
    }
    delta_ = delta;
    // Value.
    const std::uint64_t x = bits ^ last_;
    if (decimals_ >= 0) {
      const std::uint64_t zz = ZigZag(WrapSub(q, static_cast<std::int64_t>(last_)));
      if (zz == 0) {
        WriteBits(0b0, 1);
      } else if (zz < (1u << 4)) {
        WriteBits(0b10, 2);
        WriteBits(zz, 4);
      } else if (zz < (1u << 8)) {
        WriteBits(0b110, 3);
        WriteBits(zz, 8);
      } else if (zz < (1u << 16)) {
        WriteBits(0b1110, 4);
        WriteBits(zz, 16);
      } else {
        WriteBits(0b1111, 4);
        WriteBits(zz, 64);
      }
    } else if (x == 0) {
      WriteBits(0b0, 1);
    } else {
      int leading = std::countl_zero(x);
      const int trailing = std::countr_zero(x);
      if (leading > 31) leading = 31;  // the count has 5 bits
      if (leading_ >= 0 && leading >= leading_ && trailing >= trailing_) {
        WriteBits(0b10, 2);
        WriteBits(x >> trailing_, 64 - leading_ - trailing_);
      } else {
        const int meaningful = 64 - leading - trailing;
        WriteBits(0b11, 2);
        WriteBits(static_cast<std::uint64_t>(leading), 5);
        WriteBits(static_cast<std::uint64_t>(meaningful & 63), 6);  // 64 is stored as 0
        WriteBits(x >> trailing, meaningful);
        leading_ = leading;
        trailing_ = trailing;
      }
    }
    // Quality.
    if (quality == quality_) {
      WriteBits(0b0, 1);
    } else {
      WriteBits(0b1, 1);
      WriteBits(static_cast<std::uint64_t>(quality), 2);
    }
  }
  t_ = t;
  last_ = decimals_ >= 0 ? static_cast<std::uint64_t>(q) : bits;
  quality_ = quality;
  ++count_;
  return Status::Ok();
}

Result<ChunkReader> ChunkReader::Open(std::string_view bytes) {
  if (bytes.size() < 4) return Status::Corruption("chunk shorter than its 4-byte header");
  const auto version = static_cast<std::uint8_t>(bytes[0]);
  if (version == kDecimalVersion &&
      (bytes.size() < 5 || static_cast<std::uint8_t>(bytes[4]) > kMaxDecimals)) {
    return Status::Corruption("version 2 chunk with a bad decimals byte");
  }
  if (version != kVersion && version != kDecimalVersion) {
    return Status::Corruption("unknown chunk version " +
                              std::to_string(static_cast<std::uint8_t>(bytes[0])));
  }
  const auto unit = static_cast<std::uint8_t>(bytes[1]);
  if (unit > 2) return Status::Corruption("unknown chunk time unit " + std::to_string(unit));
  std::uint16_t n = 0;
  std::memcpy(&n, bytes.data() + 2, 2);
  if (n == 0) return Status::Corruption("chunk with no samples");
  ChunkReader r(bytes);
  r.count_ = n;
  r.unit_ = static_cast<TimeUnit>(unit);
  if (version == kDecimalVersion) {
    r.decimals_ = static_cast<std::uint8_t>(bytes[4]);
    r.bit_pos_ = 40;
  }
  return r;
}

bool ChunkReader::Fail(const char* what) {
  if (status_.ok()) {
    status_ = Status::Corruption(std::string("chunk ends early or is damaged: ") + what);
  }
  read_ = count_;
  return false;
}

bool ChunkReader::ReadBits(int n, std::uint64_t* out) {
  if (bit_pos_ + static_cast<std::size_t>(n) > bytes_.size() * 8) return false;
  std::uint64_t v = 0;
  for (int i = 0; i < n;) {
    const std::size_t byte = bit_pos_ / 8;
    const int offset = static_cast<int>(bit_pos_ % 8);
    const int avail = 8 - offset;
    const int take = n - i < avail ? n - i : avail;
    const std::uint64_t b = static_cast<std::uint8_t>(bytes_[byte]);
    const std::uint64_t part = (b >> (avail - take)) & ((std::uint64_t{1} << take) - 1);
    v = (take == 64 ? 0 : v << take) | part;
    bit_pos_ += static_cast<std::size_t>(take);
    i += take;
  }
  *out = v;
  return true;
}

bool ChunkReader::ReadVarint(std::uint64_t* out) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    std::uint64_t byte = 0;
    if (!ReadBits(8, &byte)) return false;
    v |= (byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;  // longer than 10 bytes
}

bool ChunkReader::Next() {
  if (read_ >= count_) return false;
  std::uint64_t bits = 0;
  if (read_ == 0) {
    std::uint64_t zz = 0;
    if (!ReadVarint(&zz)) return Fail("first timestamp");
    t_ = UnZigZag(zz);
    if (decimals_ >= 0) {
      if (!ReadVarint(&zz)) return Fail("first value");
      q_ = UnZigZag(zz);
    } else if (!ReadBits(64, &value_bits_)) {
      return Fail("first value");
    }
    if (!ReadBits(2, &bits)) return Fail("first quality");
    quality_ = static_cast<Quality>(bits);
    ++read_;
    return true;
  }
  // Timestamp.
  if (read_ == 1) {
    std::uint64_t delta = 0;
    if (!ReadVarint(&delta)) return Fail("second timestamp");
    delta_ = static_cast<std::int64_t>(delta);
  } else {
    int ones = 0;
    while (ones < 4) {
      if (!ReadBits(1, &bits)) return Fail("timestamp prefix");
      if (bits == 0) break;
      ++ones;
    }
    static constexpr int kPayload[5] = {0, 14, 17, 20, 64};
    std::int64_t dod = 0;
    if (ones > 0) {
      if (!ReadBits(kPayload[ones], &bits)) return Fail("timestamp");
      dod = ones == 4 ? static_cast<std::int64_t>(bits) : SignExtend(bits, kPayload[ones]);
    }
    delta_ = WrapAdd(delta_, dod);
  }
  t_ = WrapAdd(t_, delta_);
  // Value.
  if (decimals_ >= 0) {
    int ones = 0;
    while (ones < 4) {
      if (!ReadBits(1, &bits)) return Fail("value prefix");
      if (bits == 0) break;
      ++ones;
    }
    static constexpr int kValuePayload[5] = {0, 4, 8, 16, 64};
    std::uint64_t zz = 0;
    if (ones > 0 && !ReadBits(kValuePayload[ones], &zz)) return Fail("value");
    q_ = WrapAdd(q_, UnZigZag(zz));
  } else if (!ReadBits(1, &bits)) {
    return Fail("value prefix");
  } else if (bits == 1) {
    if (!ReadBits(1, &bits)) return Fail("value prefix");
    if (bits == 1) {
      std::uint64_t leading = 0, meaningful = 0;
      if (!ReadBits(5, &leading) || !ReadBits(6, &meaningful)) return Fail("value window");
      if (meaningful == 0) meaningful = 64;
      if (leading + meaningful > 64) return Fail("value window");
      leading_ = static_cast<int>(leading);
      trailing_ = static_cast<int>(64 - leading - meaningful);
    } else if (leading_ < 0) {
      return Fail("value reuses a window before one was set");
    }
    const int meaningful = 64 - leading_ - trailing_;
    std::uint64_t x = 0;
    if (!ReadBits(meaningful, &x)) return Fail("value");
    value_bits_ ^= meaningful == 64 ? x : x << trailing_;
  }
  // Quality.
  if (!ReadBits(1, &bits)) return Fail("quality prefix");
  if (bits == 1) {
    if (!ReadBits(2, &bits)) return Fail("quality");
    quality_ = static_cast<Quality>(bits);
  }
  ++read_;
  return true;
}

double ChunkReader::value() const {
  if (decimals_ >= 0) return static_cast<double>(q_) / kPow10[decimals_];
  return std::bit_cast<double>(value_bits_);
}

}  // namespace aquawatch
