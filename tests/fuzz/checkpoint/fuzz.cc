// Fuzz target for checkpoint loading (DecodeShardCheckpoint, the code a start runs on a shard's
// newest checkpoint). The input is decoded twice: as it is, and with every record's CRC made to
// match, so mutations inside records reach the entry decoders (labels, sensors, detector state,
// custom values, head series and their chunk writers) instead of all stopping at the CRC.
// Either decode must give OK or Corruption, never a crash or a sanitizer report, and hold no
// more than the image can describe; open chunks must have valid headers and read back.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/crc32c.h"
#include "pipeline/pipeline.h"
#include "store/tsdb/chunk.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

const aquawatch::PipelineOptions& Options() {
  static const aquawatch::PipelineOptions options;
  return options;
}

void Decode(std::string_view image) {
  aquawatch::CheckpointContents c;
  aquawatch::Status s = aquawatch::DecodeShardCheckpoint(image, Options(), &c);
  if (!s.ok()) {
    Check(s.code() == aquawatch::StatusCode::kCorruption);
    Check(!s.message().empty());
    return;
  }
  // Every sensor and series entry takes more than one byte of the image.
  Check(c.sensors.size() < image.size());
  Check(c.series < image.size());
  Check(c.open_chunks.size() <= c.series);
  for (const auto& open : c.open_chunks) {
    const std::string& bytes = open.chunk.bytes;
    Check(bytes.size() <= image.size());
    // Even an open chunk with no sample yet has a header its writer can go on from: a known
    // version (1 XOR, 2 decimal) and time unit (ms, us, ns). Its seal would be unreadable else.
    Check(bytes.size() >= 4);
    Check(bytes[0] == 1 || bytes[0] == 2);
    Check(static_cast<std::uint8_t>(bytes[1]) <= 2);
    auto reader = aquawatch::ChunkReader::Open(bytes);
    if (!reader.ok()) continue;  // a header-only chunk does not open: it has no samples
    std::size_t n = 0;
    while (reader->Next()) ++n;
    Check(n <= reader->size());
  }
}

// The image with each record's CRC recomputed, as far as its framing goes.
std::string WithCrcsFixed(std::string_view in) {
  std::string out(in);
  std::size_t pos = 8;  // after the magic
  while (pos + 8 <= out.size()) {
    std::uint32_t length = 0;
    std::memcpy(&length, out.data() + pos, 4);
    if (length == 0 || out.size() - pos - 8 < length) break;
    const std::uint32_t crc = aquawatch::Crc32c(std::string_view(out).substr(pos + 8, length));
    std::memcpy(out.data() + pos + 4, &crc, 4);
    pos += 8 + length;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view image(reinterpret_cast<const char*>(data), size);
  Decode(image);
  if (image.size() > 8) {
    const std::string fixed = WithCrcsFixed(image);
    if (fixed != image) Decode(fixed);
  }
  return 0;
}
