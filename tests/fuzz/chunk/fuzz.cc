// Arbitrary bytes into the chunk reader: it must report corruption or read samples, never crash
// or read past the input (ASan checks the latter).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/tsdb/chunk.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto reader = aquawatch::ChunkReader::Open(bytes);
  if (!reader.ok()) return 0;
  std::size_t n = 0;
  while (reader->Next()) {
    ++n;
    (void)reader->value();
  }
  if (n > reader->size()) __builtin_trap();
  if (n < reader->size() && reader->status().ok()) __builtin_trap();
  return 0;
}
