// Arbitrary bytes into the readers of what a shard writes to disk: a log segment (and the batch
// payloads of its intact records) and a checkpoint. They must report corruption or read
// records, never crash or read past the input (ASan checks the latter).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/reading.h"
#include "pipeline/checkpoint.h"
#include "pipeline/log_codec.h"
#include "pipeline/shard_log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  aquawatch::ReadingBatch batch;
  auto end = aquawatch::ScanShardLogSegment(
      bytes, [&](std::string_view payload, aquawatch::LogFormat format) {
        batch.Clear();
        (void)aquawatch::DecodeBatch(payload, batch, format);
        return aquawatch::Status::Ok();
      });
  if (end.ok() && *end > size) __builtin_trap();

  aquawatch::CheckpointReader reader(bytes);
  char type = 0;
  std::string_view entries;
  while (reader.Next(&type, &entries)) {
    aquawatch::FieldReader f(entries);
    while (!f.empty() && f.ok()) {
      (void)f.GetString16();
      (void)f.Get<std::uint64_t>();
    }
  }
  return 0;
}
