// ShardLog: the append-only, checksummed log that makes a shard's readings durable.
//
// One log per shard, in segment files under <dir>/. Each record is one group of readings with a
// CRC-32C; the shard thread appends a whole group with one write and one fdatasync (group
// commit). Opening a log replays every intact record and cuts a torn tail left by a crash.
// Byte layout: docs/format/shard-log.md. Checkpoints (docs/format/checkpoint.md) keep it bounded:
// segments before the newest checkpoint are deleted and never replayed.
// Thread-safety: owned by its shard thread, but for SyncPrepared, which one other thread (the
// shard's syncer) may run at a time, concurrently with Append, so the shard goes on writing and
// applying while its last group's fdatasync runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/env.h"
#include "core/status.h"
#include "pipeline/log_codec.h"

namespace aquawatch {

struct ShardLogOptions {
  std::uint64_t segment_bytes = 64ull << 20;  // start a new segment past this size
  // What opening does with a damaged record that is not a torn tail (a bad checksum in an
  // earlier segment, or an intact record whose payload does not decode): false moves its bytes
  // to <dir>/quarantine/, counts and logs it, and goes on; true refuses to open.
  bool strict_recovery = false;
};

struct ShardLogRecovery {
  std::uint64_t records = 0;
  std::uint64_t segments = 0;
  std::uint64_t truncated_bytes = 0;      // torn tail cut from the last segment
  std::uint64_t quarantined_records = 0;  // damaged records (or segment rests) moved aside
  std::uint64_t quarantined_bytes = 0;
};

// Replays one intact record. Return Corruption when the payload itself is bad (the record is
// then quarantined, or opening fails in strict mode); any other error stops the open.
using ShardLogReplay = std::function<Status(std::string_view payload, LogFormat format)>;

class ShardLog {
 public:
  // Opens (creating) the log in `dir` and calls `replay` with each intact record payload, oldest
  // first. A record that fails its checks in the last segment is a torn write: the segment is
  // cut there. Damage anywhere else is quarantined (ShardLogOptions::strict_recovery).
  // Segments before `first_segment` (covered by a checkpoint) are deleted, not replayed.
  static Result<std::unique_ptr<ShardLog>> Open(Env& env, const std::string& dir,
                                                const ShardLogOptions& options,
                                                std::uint64_t first_segment,
                                                const ShardLogReplay& replay,
                                                ShardLogRecovery* recovery);

  // Frames `payload` as a record and writes it (not yet durable).
  virtual Status Append(std::string_view payload) = 0;
  // Makes every appended record durable (PrepareSync, SyncPrepared and MarkSynced in one).
  virtual Status Sync() = 0;

  // A sync in three steps, so that its fdatasync can run on another thread. PrepareSync (owner)
  // names what a sync now would cover: the records appended so far. SyncPrepared (one other
  // thread at a time, concurrently with Append) makes them durable; a segment closed since was
  // synced as it closed, and any earlier failed sync of the segment fails it too (after a failed
  // fdatasync the kernel may have dropped the bytes and a retry can succeed all the same).
  // MarkSynced (owner, after SyncPrepared succeeded) moves the point DiscardUnsynced cuts back to.
  // REQUIRES: no SyncPrepared runs while the owner calls DiscardUnsynced.
  struct SyncPoint {
    std::shared_ptr<WritableFile> file;  // null: nothing to sync
    std::uint64_t size = 0;
  };
  virtual SyncPoint PrepareSync() = 0;
  virtual Status SyncPrepared(const SyncPoint& point) = 0;
  virtual void MarkSynced(const SyncPoint& point) = 0;
  // After a failed Append or Sync: cuts the current segment back to the bytes known durable
  // (its last successful Sync), closes it, and makes the next Append start a new segment, so a
  // half-written record never sits before later ones. OK means the log can be appended again.
  virtual Status DiscardUnsynced() = 0;
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
Result<std::uint64_t> ScanShardLogSegment(std::string_view bytes, const ShardLogReplay& visit);

// Deletes the segments of the log in `dir` before `index`. Safe from any thread while the log's
// owner appends: the owner never touches segments before its current one.
Status RemoveShardLogSegmentsBefore(Env& env, const std::string& dir, std::uint64_t index);

// Reads every intact record of the log in `dir` without modifying it (for `aquawatch wal dump`).
Status ReadShardLog(Env& env, const std::string& dir, const ShardLogReplay& visit);

}  // namespace aquawatch
