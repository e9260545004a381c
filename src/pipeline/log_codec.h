// Binary encoding of a ReadingBatch as shard-log record payloads.
// The layouts are documented byte by byte in docs/format/shard-log.md. Thread-safe (pure).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/reading.h"
#include "core/status.h"

namespace aquawatch {

// The payload layout, named by the magic of the segment that holds it. Version 1 (AQWLOG01)
// counted fields and string bytes in 16 bits; a line with 65,537 fields wrapped around and made
// its segment unreadable. Version 2 (AQWLOG02) uses varints that no reading can overflow.
// Segments of both are read; only version 2 is written.
enum class LogFormat : std::uint8_t { kV1 = 1, kV2 = 2 };
inline constexpr LogFormat kWrittenLogFormat = LogFormat::kV2;

// A record's payload is kept under this size: a batch whose encoding would be larger is split
// across several records (the log's framing accepts up to 1 GiB).
inline constexpr std::size_t kMaxRecordPayloadBytes = 64u << 20;

// Appends the version 2 encoding of readings [begin, end) of `batch` to `out`.
void EncodeBatch(const ReadingBatch& batch, std::size_t begin, std::size_t end, std::string& out);
inline void EncodeBatch(const ReadingBatch& batch, std::string& out) {
  EncodeBatch(batch, 0, batch.size(), out);
}
// The readings [begin, end) encode to about this many bytes (an upper bound).
std::size_t EncodedBytesBound(const ReadingBatch& batch, std::size_t begin, std::size_t end);

// Appends the readings encoded in `payload` to `out`; on error `out` is as it was. Corruption
// when the payload does not hold exactly the readings its header announces.
Status DecodeBatch(std::string_view payload, ReadingBatch& out,
                   LogFormat format = kWrittenLogFormat);

}  // namespace aquawatch
