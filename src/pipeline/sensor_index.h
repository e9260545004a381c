// SensorIndex: a shard's sensor ids -> its sensor numbers, on the hot path of every reading.
//
// An open-addressing hash table with linear probing over 8-byte slots (32 bits of the id's hash,
// the sensor number), at most half full. The ids themselves stay in the shard's table, which the
// index reads to confirm a match. With 100,000s of sensors a std::unordered_map lookup was a
// chain of cache misses (bucket, node, key) and a third of the shard's time (docs/benchmarks.md);
// here a lookup is one slot and one id, and FindBatch prefetches the slots of a whole batch
// before probing any.
// Thread-safety: as the shard's table: one writer; readers exclude the writer (state_mu_).
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aquawatch {

class SensorIndex {
 public:
  static constexpr std::uint32_t kNotFound = UINT32_MAX;

  // `ids`: the shard's ids by sensor number; outlives the index.
  explicit SensorIndex(const std::deque<std::string>& ids) : ids_(ids) {}

  std::uint32_t Find(std::string_view id) const { return FindHashed(id, Hash(id)); }
  // The numbers of every id in `ids` (kNotFound for unknown ones) into `out`, with the slots'
  // cache misses overlapped. `hashes` is scratch space.
  void FindBatch(std::span<const std::string_view> ids, std::vector<std::uint64_t>& hashes,
                 std::span<std::uint32_t> out) const;
  // REQUIRES: `number` is the next sensor number (ids[number] == id) and `id` is not indexed.
  void Insert(std::string_view id, std::uint32_t number);
  std::size_t size() const { return size_; }
  std::size_t heap_bytes() const { return slots_.capacity() * sizeof(slots_[0]); }
  // Forgets every id (the shard's table was cleared).
  void Clear() {
    slots_.clear();
    size_ = 0;
  }

 private:
  static std::uint64_t Hash(std::string_view id);
  std::uint32_t FindHashed(std::string_view id, std::uint64_t hash) const;
  void Place(std::uint64_t hash, std::uint32_t number);
  void Grow();

  const std::deque<std::string>& ids_;
  std::vector<std::uint64_t> slots_;  // 0 = empty, else hash tag << 32 | (number + 1)
  std::size_t size_ = 0;
};

}  // namespace aquawatch
