// ShardLog: the append-only, checksummed log that makes a shard's readings durable.
//
// One log per shard, in segment files under <dir>/. Each record is one group of readings with a
// CRC-32C; the shard thread appends a whole group with one write and one fdatasync (group
// commit). Opening a log replays every intact record and cuts a torn tail left by a crash.
// Byte layout: docs/format/shard-log.md. Checkpoints (docs/format/checkpoint.md) keep it bounded:
// segments before the newest checkpoint are deleted and never replayed.
// Thread-safety: owned by its shard thread; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/env.h"
#include "core/status.h"

namespace aquawatch {

struct ShardLogOptions {
  std::uint64_t segment_bytes = 64ull << 20;  // start a new segment past this size
};

struct ShardLogRecovery {
  std::uint64_t records = 0;
  std::uint64_t segments = 0;
  std::uint64_t truncated_bytes = 0;  // torn tail cut from the last segment
};

class ShardLog {
 public:
  // Opens (creating) the log in `dir` and calls `replay` with each intact record payload, oldest
  // first. A record that fails its checks in the last segment is a torn write: the segment is
  // cut there. One that fails in an earlier segment is corruption and opening fails.
  // Segments before `first_segment` (covered by a checkpoint) are deleted, not replayed.
  static Result<std::unique_ptr<ShardLog>> Open(
      Env& env, const std::string& dir, const ShardLogOptions& options, std::uint64_t first_segment,
      const std::function<Status(std::string_view payload)>& replay, ShardLogRecovery* recovery);

  // Frames `payload` as a record and writes it (not yet durable).
  virtual Status Append(std::string_view payload) = 0;
  // Makes every appended record durable.
  virtual Status Sync() = 0;
  // Closes the current segment (synced) and makes the next append start a new one; returns
  // that new segment's index.
  virtual Result<std::uint64_t> StartSegment() = 0;
  // Deletes every segment before `index`.
  virtual Status RemoveSegmentsBefore(std::uint64_t index) = 0;
  // Bytes appended since this log was opened.
  virtual std::uint64_t appended_bytes() const = 0;
  virtual ~ShardLog() = default;
};

// Calls `visit` with each intact record of one segment's bytes; returns the offset just past the
// last intact record (the WAL fuzz target feeds it arbitrary bytes).
Result<std::uint64_t> ScanShardLogSegment(std::string_view bytes,
                                          const std::function<Status(std::string_view)>& visit);

// Reads every intact record of the log in `dir` without modifying it (for `aquawatch wal dump`).
Status ReadShardLog(Env& env, const std::string& dir,
                    const std::function<Status(std::string_view payload)>& visit);

}  // namespace aquawatch
