// CatalogFeeder: carries sightings from shard threads into the catalog, off the hot path.
//
// Shards hand over a few sightings per group (a sensor's first reading, then at most one a
// minute); the feeder queues them and a background thread writes them in one transaction every
// quarter second. If SQLite falls far behind, the oldest pending sightings are dropped and
// counted: a sensor is sighted again within a minute of its next reading, so nothing is lost for
// good (docs/operations.md).
// Thread-safety: OnSightings may be called from any thread; Stop from one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "store/catalog/catalog.h"

namespace aquawatch {

class CatalogFeeder final : public SightingSink {
 public:
  explicit CatalogFeeder(Catalog& catalog, std::size_t max_pending = 1'000'000);
  ~CatalogFeeder() override;

  void OnSightings(std::vector<SensorSighting>& sightings) override;
  // Writes what is pending and stops the thread.
  void Stop();

  std::uint64_t recorded() const { return recorded_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  void Run();

  Catalog& catalog_;
  const std::size_t max_pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SensorSighting> pending_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> recorded_{0}, dropped_{0}, failures_{0};
  std::thread thread_;
};

}  // namespace aquawatch
