// LiveSet: the connections a listener has open, so that shutdown can ask each to finish and then
// wait until all are gone.
//
// A connection joins when it starts and leaves in its destructor, which runs once no handler
// holds it any more: "empty" therefore means every request taken has been answered or dropped.
// Thread-safety: all methods from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace aquawatch {

template <typename Connection>
class LiveSet {
 public:
  void Add(const std::shared_ptr<Connection>& c) {
    std::lock_guard lock(mu_);
    live_[c.get()] = c;
  }

  // From the connection's destructor.
  void Remove(const Connection* c) {
    std::lock_guard lock(mu_);
    live_.erase(c);
    if (live_.empty()) empty_.notify_all();
  }

  // The connections still alive; the caller holds them only while it uses them.
  std::vector<std::shared_ptr<Connection>> Snapshot() const {
    std::vector<std::shared_ptr<Connection>> out;
    std::lock_guard lock(mu_);
    out.reserve(live_.size());
    for (const auto& [_, weak] : live_) {
      if (auto c = weak.lock()) out.push_back(std::move(c));
    }
    return out;
  }

  // Waits until every connection has left, or `timeout`; returns how many are left.
  std::size_t WaitEmpty(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    empty_.wait_for(lock, timeout, [this] { return live_.empty(); });
    return live_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable empty_;
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> live_;
};

}  // namespace aquawatch
