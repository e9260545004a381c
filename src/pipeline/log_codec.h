// Binary encoding of a ReadingBatch as one shard-log record payload.
// The layout is documented byte by byte in docs/format/shard-log.md. Thread-safe (pure).
#pragma once

#include <string>
#include <string_view>

#include "core/reading.h"
#include "core/status.h"

namespace aquawatch {

// Appends the encoding of every reading of `batch` to `out`.
void EncodeBatch(const ReadingBatch& batch, std::string& out);
// Appends the readings encoded in `payload` to `out`. On error `out` may hold a prefix of them.
Status DecodeBatch(std::string_view payload, ReadingBatch& out);

}  // namespace aquawatch
