// BlockStore: sealed chunks and their roll-ups in RocksDB.
//
// Layout: docs/format/store.md. Keys are partition (time) first, then sensor, parameter and
// chunk start, so one series is a contiguous range inside each partition and retention drops
// whole partitions. Writes skip RocksDB's WAL and are not synced: the shard log still holds
// every reading of a sealed chunk until a checkpoint, which calls MakeDurable() first.
// Thread-safety: every method may be called from any thread (RocksDB is thread-safe); each series
// must be written by one thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace aquawatch {

enum class StoreLevel : std::uint8_t { kRaw = 0, kRollup1m = 1, kRollup1h = 2 };
inline constexpr int kStoreLevels = 3;
const char* StoreLevelName(StoreLevel level);

struct BlockStoreOptions {
  std::int64_t chunk_span_ns = 3'600'000'000'000LL;  // docs/format/store.md: why one hour
  // Partition span per level (docs/format/store.md).
  std::int64_t partition_span_ns[kStoreLevels] = {86'400'000'000'000LL, 86'400'000'000'000LL,
                                                  32 * 86'400'000'000'000LL};
  std::size_t block_cache_bytes = 256u << 20;
};

// What the block store holds in memory (RocksDB's own accounting), for the memory gauges.
struct StoreMemory {
  std::uint64_t memtables = 0;      // unflushed writes, bounded by the write buffers
  std::uint64_t block_cache = 0;    // cached blocks, bounded by block_cache_bytes
  std::uint64_t table_readers = 0;  // SST indexes and filters outside the block cache
};

// A chunk being sealed with its roll-up records, written in one batch.
struct SealedChunk {
  std::string_view sensor, parameter;
  std::int64_t start_ns = 0;  // the chunk's window start
  std::string_view chunk;
  std::string_view rollup_1m, rollup_1h;
};

class BlockStore {
 public:
  static Result<std::unique_ptr<BlockStore>> Open(const std::string& dir,
                                                  const BlockStoreOptions& options);
  virtual ~BlockStore() = default;

  virtual Status Write(const SealedChunk& chunk) = 0;
  // The sealed chunk of one window, if any.
  virtual Result<std::optional<std::string>> GetChunk(std::string_view sensor,
                                                      std::string_view parameter,
                                                      std::int64_t start_ns) = 0;
  // Calls fn(chunk start, value) for every record of `level` whose chunk window overlaps
  // [from_ns, to_ns], in time order.
  virtual Status Scan(StoreLevel level, std::string_view sensor, std::string_view parameter,
                      std::int64_t from_ns, std::int64_t to_ns,
                      const std::function<void(std::int64_t, std::string_view)>& fn) = 0;
  // Makes every write so far durable (flushes the memtables to synced files).
  virtual Status MakeDurable() = 0;
  // After a failed write (e.g. a full disk, which stops RocksDB taking writes): tries to take
  // writes again. OK when the store is writable.
  virtual Status Resume() = 0;
  // Drops the partitions of `level` that end at or before `cutoff_ns`; returns how many.
  virtual Result<int> DropBefore(StoreLevel level, std::int64_t cutoff_ns) = 0;
  // Live bytes on disk (SST files plus WAL), for metrics and benchmarks.
  virtual std::uint64_t DiskBytes() = 0;
  // Bytes of one level's SST files (benchmarks: what chunks and each roll-up cost).
  virtual std::uint64_t LevelBytes(StoreLevel level) = 0;
  virtual StoreMemory Memory() = 0;
  // Flushes memtables and compacts, so DiskBytes() shows the settled size (benchmarks only).
  virtual Status CompactAll() = 0;
};

}  // namespace aquawatch
