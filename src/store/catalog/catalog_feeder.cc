#include "store/catalog/catalog_feeder.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace aquawatch {

CatalogFeeder::CatalogFeeder(Catalog& catalog, std::size_t max_pending)
    : catalog_(catalog), max_pending_(max_pending), thread_([this] { Run(); }) {}

CatalogFeeder::~CatalogFeeder() { Stop(); }

void CatalogFeeder::OnSightings(std::vector<SensorSighting>& sightings) {
  std::lock_guard lock(mu_);
  if (pending_.size() + sightings.size() > max_pending_) {
    dropped_.fetch_add(sightings.size(), std::memory_order_relaxed);
    return;
  }
  for (SensorSighting& s : sightings) pending_.push_back(std::move(s));
}

void CatalogFeeder::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CatalogFeeder::Run() {
  std::vector<SensorSighting> batch;
  for (;;) {
    bool last = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stopping_; });
      batch.swap(pending_);
      last = stopping_;
    }
    if (!batch.empty()) {
      Status s = catalog_.RecordSightings(batch);
      if (s.ok()) {
        recorded_.fetch_add(batch.size(), std::memory_order_relaxed);
      } else {
        failures_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("catalog: {} sightings not recorded: {}", batch.size(), s.ToString());
      }
      batch.clear();
    }
    if (last) return;
  }
}

}  // namespace aquawatch
