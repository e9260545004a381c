#include "pipeline/sensor_index.h"

#include <functional>

namespace aquawatch {

std::uint64_t SensorIndex::Hash(std::string_view id) { return std::hash<std::string_view>{}(id); }

std::uint32_t SensorIndex::FindHashed(std::string_view id, std::uint64_t hash) const {
  if (slots_.empty()) return kNotFound;
  const std::size_t mask = slots_.size() - 1;
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  for (std::size_t pos = hash & mask;; pos = (pos + 1) & mask) {
    const std::uint64_t slot = slots_[pos];
    if (slot == 0) return kNotFound;
    const auto number = static_cast<std::uint32_t>(slot) - 1;
    if (static_cast<std::uint32_t>(slot >> 32) == tag && ids_[number] == id) return number;
  }
}

void SensorIndex::FindBatch(std::span<const std::string_view> ids,
                            std::vector<std::uint64_t>& hashes,
                            std::span<std::uint32_t> out) const {
  hashes.resize(ids.size());
  const std::size_t mask = slots_.empty() ? 0 : slots_.size() - 1;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    hashes[i] = Hash(ids[i]);
    if (!slots_.empty()) __builtin_prefetch(&slots_[hashes[i] & mask]);
  }
  for (std::size_t i = 0; i < ids.size(); ++i) out[i] = FindHashed(ids[i], hashes[i]);
}

void SensorIndex::Insert(std::string_view id, std::uint32_t number) {
  if (2 * (size_ + 1) > slots_.size()) Grow();
  Place(Hash(id), number);
  ++size_;
}

void SensorIndex::Place(std::uint64_t hash, std::uint32_t number) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t pos = hash & mask;
  while (slots_[pos] != 0) pos = (pos + 1) & mask;
  slots_[pos] = (hash >> 32 << 32) | (static_cast<std::uint64_t>(number) + 1);
}

void SensorIndex::Grow() {
  std::vector<std::uint64_t> old;
  old.swap(slots_);
  slots_.assign(old.empty() ? 1024 : 2 * old.size(), 0);
  for (std::uint64_t slot : old) {
    if (slot == 0) continue;
    const auto number = static_cast<std::uint32_t>(slot) - 1;
    Place(Hash(ids_[number]), number);
  }
}

}  // namespace aquawatch
