// BoundedQueue: a fixed-capacity multi-producer, multi-consumer ring of pointers.
//
// This is Dmitry Vyukov's bounded MPMC design: each slot carries a sequence number, so producers
// and the consumer coordinate with one compare-and-swap and no locks. A full queue makes
// TryPush fail; the caller turns that into backpressure.
// Thread-safety: TryPush and TryPop may be called from any thread concurrently.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <memory>

namespace aquawatch {

template <typename T>
class BoundedQueue {
 public:
  // REQUIRES: capacity is a power of two >= 2.
  explicit BoundedQueue(std::size_t capacity) : mask_(capacity - 1), slots_(new Slot[capacity]) {
    assert(capacity >= 2 && (capacity & (capacity - 1)) == 0);
    for (std::size_t i = 0; i < capacity; ++i) slots_[i].seq.store(i, std::memory_order_relaxed);
  }
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  std::size_t capacity() const { return mask_ + 1; }

  bool TryPush(T* item) {
    std::size_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& slot = slots_[pos & mask_];
      std::size_t seq = slot.seq.load(std::memory_order_acquire);
      auto diff = static_cast<std::ptrdiff_t>(seq) - static_cast<std::ptrdiff_t>(pos);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          slot.item = item;
          slot.seq.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;  // full
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  T* TryPop() {
    std::size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& slot = slots_[pos & mask_];
      std::size_t seq = slot.seq.load(std::memory_order_acquire);
      auto diff = static_cast<std::ptrdiff_t>(seq) - static_cast<std::ptrdiff_t>(pos + 1);
      if (diff == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          T* item = slot.item;
          slot.seq.store(pos + mask_ + 1, std::memory_order_release);
          return item;
        }
      } else if (diff < 0) {
        return nullptr;  // empty
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

  // How many pushes have claimed a position so far: a push that returned before this call has a
  // position below it. Positions count from 0 in push order.
  std::size_t tail_position() const { return tail_.load(std::memory_order_acquire); }

  // For a single consumer only: the item at `pos`, which must be at or after the next position
  // TryPop takes and below tail_position(), without taking it; nullptr while its producer is
  // still between claiming the position and publishing the item (a few instructions).
  T* PeekAt(std::size_t pos) const {
    const Slot& slot = slots_[pos & mask_];
    return slot.seq.load(std::memory_order_acquire) == pos + 1 ? slot.item : nullptr;
  }

  // Approximate number of queued items (for metrics).
  std::size_t ApproxSize() const {
    std::size_t t = tail_.load(std::memory_order_relaxed);
    std::size_t h = head_.load(std::memory_order_relaxed);
    return t >= h ? t - h : 0;
  }

 private:
  struct Slot {
    std::atomic<std::size_t> seq;
    T* item = nullptr;
  };
  const std::size_t mask_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<std::size_t> tail_{0};
  alignas(64) std::atomic<std::size_t> head_{0};
};

}  // namespace aquawatch
