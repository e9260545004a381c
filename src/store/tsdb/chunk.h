// XOR chunks: Gorilla-compressed (timestamp, value, quality) samples of one series.
//
// Byte layout: docs/format/chunk.md. A ChunkWriter appends samples in time order; a ChunkReader
// walks them back. Both are plain values with no I/O.
// Thread-safety: one writer or reader per thread; a finished chunk's bytes may be shared.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace aquawatch {

enum class Quality : std::uint8_t { kGood = 0, kSuspect = 1, kBad = 2, kMissing = 3 };
enum class TimeUnit : std::uint8_t { kMillis = 0, kMicros = 1, kNanos = 2 };

inline constexpr std::size_t kMaxChunkSamples = 65535;
// Version 2 chunks hold values as integer multiples of 10^-decimals, decimals 0..kMaxDecimals.
inline constexpr int kMaxDecimals = 9;

// Whether `value` is exactly q / 10^decimals for an integer |q| <= 2^53, so a version 2 chunk
// gives back the very same double. Never for NaN, infinities or -0.
bool FitsDecimals(double value, int decimals);
// The fewest decimals that fit `value`, or -1 when none does.
int DecimalsFor(double value);

// What a ChunkWriter needs besides its bytes to go on appending (head checkpoints).
struct ChunkWriterState {
  std::int64_t t = 0, delta = 0;
  std::uint64_t value_bits = 0;
  std::int8_t leading = -1, trailing = 0;
  std::uint8_t quality = 0, free_bits = 0;
  std::uint16_t count = 0;
  std::int8_t decimals = -1;  // -1: XOR values (version 1)
};

class ChunkWriter {
 public:
  // decimals -1: values XOR-encoded (version 1, any double). 0..kMaxDecimals: values as integer
  // multiples of 10^-decimals (version 2), far smaller for quantised sensor readings.
  explicit ChunkWriter(TimeUnit unit, int decimals = -1);
  // Appends a sample. InvalidArgument when `t` is before the last sample's, the chunk is full,
  // or (version 2) the value does not fit the chunk's decimals; nothing is appended then.
  Status Append(std::int64_t t, double value, Quality quality = Quality::kGood);
  int decimals() const { return decimals_; }
  std::size_t size() const { return count_; }
  // The last sample's time, in the chunk's unit (0 while empty).
  std::int64_t last_time() const { return t_; }
  TimeUnit unit() const { return static_cast<TimeUnit>(buf_[1]); }
  // The chunk so far, valid until the next Append. Appends collect their bits in a 128-bit word
  // and write them to the buffer once it is full, and the header's sample count is written
  // only here: the buffer is a cache (and TLB) miss per touch when a shard appends to 100,000s
  // of series in turn, so it is touched once per 128 bits (15 to 40 samples of a quantised
  // series) instead of twice per sample. (64 bits: 2.6-3.2 M values/s in BM_StoreAppend;
  // 128: 3.2-3.4 M; docs/benchmarks.md.)
  std::string_view bytes();
  // The same bytes copied into `out`, for a reader that must not write to the writer (readers on
  // other threads share it).
  void CopyTo(std::string& out) const;
  // Heap bytes the writer holds (its buffer's capacity once it outgrows the string's own
  // storage), for the head's memory accounting.
  std::size_t heap_bytes() const {
    return buf_.capacity() > kInlineBytes ? buf_.capacity() + 1 : 0;
  }

  ChunkWriterState state() const;
  // A writer that continues the chunk `bytes` whose writer had `state`. Corruption when the two
  // do not fit together.
  static Result<ChunkWriter> Resume(std::string_view bytes, const ChunkWriterState& state);

 private:
  std::uint64_t LastValueBits() const;  // the last value's double bits, for state()
  void WriteBits(std::uint64_t bits, int n);
  void FlushPending();  // writes the pending bits to buf_
  void AppendPending(std::string& buf, int& free_bits) const;
  void WriteVarint(std::uint64_t v);
  // Makes room for `more` bytes, growing the buffer by a quarter rather than doubling it: the
  // head holds one open chunk per series, and doubling left 40% of those buffers unused on
  // average (docs/benchmarks.md, "Memory per sensor").
  void Reserve(std::size_t more);
  static constexpr std::size_t kInlineBytes = 15;  // std::string's short-string capacity

  // Small fields last and narrow: the head keeps one writer per series (80 bytes).
  std::string buf_;
  static constexpr int kPendingBits = 128;
  unsigned __int128 pending_ = 0;  // the last pending_bits_ bits appended, not yet in buf_
  std::int64_t t_ = 0, delta_ = 0;
  // The last value: its bits (version 1) or its integer multiple of 10^-decimals (version 2).
  std::uint64_t last_ = 0;
  std::uint16_t count_ = 0;        // at most kMaxChunkSamples
  std::uint8_t pending_bits_ = 0;  // 0 to kPendingBits
  std::int8_t free_bits_ = 0;      // unused low bits in the last byte of buf_
  std::int8_t leading_ = -1;       // -1: no window yet
  std::int8_t trailing_ = 0;
  std::int8_t decimals_ = -1;
  Quality quality_ = Quality::kGood;
};

class ChunkReader {
 public:
  // Checks the header. The samples are read by Next().
  static Result<ChunkReader> Open(std::string_view bytes);
  std::size_t size() const { return count_; }
  // Moves to the next sample; false at the end or on corruption (see status()).
  bool Next();
  std::int64_t t() const { return t_; }
  double value() const;
  Quality quality() const { return quality_; }
  TimeUnit unit() const { return unit_; }
  // OK unless Next() stopped on damaged bytes.
  const Status& status() const { return status_; }

 private:
  explicit ChunkReader(std::string_view bytes) : bytes_(bytes) {}
  bool ReadBits(int n, std::uint64_t* out);
  bool ReadVarint(std::uint64_t* out);
  bool Fail(const char* what);

  std::string_view bytes_;
  std::size_t bit_pos_ = 32;  // after the 4-byte header
  std::size_t count_ = 0, read_ = 0;
  TimeUnit unit_ = TimeUnit::kMillis;
  std::int64_t t_ = 0, delta_ = 0;
  std::uint64_t value_bits_ = 0;
  int leading_ = -1, trailing_ = 0;
  Quality quality_ = Quality::kGood;
  int decimals_ = -1;
  std::int64_t q_ = 0;
  Status status_;
};

}  // namespace aquawatch
