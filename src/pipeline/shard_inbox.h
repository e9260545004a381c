// ShardInbox: the two lanes that carry submitted readings to one shard thread, and the
// reservations that bound them.
//
// Every batch part (ShardWork) waits in a lane until its shard thread takes it. The normal lane
// carries almost everything, in submission order. The urgent lane carries the readings of a
// sensor that crossed a critical threshold (UrgentScreen), so they are not stuck behind a full
// normal lane: the shard serves the urgent lane between every two normal batches. To keep each
// sensor's readings in order, an urgent part remembers how far the normal lane had been filled
// when it was submitted (`after_normal`); the shard defers it behind any earlier normal part
// holding one of its sensors (ForEachWaiting finds them).
//
// Room is reserved before a part is pushed, so a push never fails: a full lane refuses the
// reservation and the caller turns that into backpressure. A batch that carries urgent readings
// may use a quarter more of the normal lane than a plain one, so an alert's batch is still taken
// when plain batches are being refused.
// Thread-safety: Reserve, Release, Push and the gauges from any thread; PopNormal, PopUrgent and
// ForEachWaiting from the one consumer (the shard thread, or Stop after it has joined).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/ingest_limits.h"
#include "core/reading.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/pipeline.h"

namespace aquawatch {

struct ShardWork;

// Shared by the parts a batch was split into (per shard and lane); the last one to finish
// reports.
struct Ticket {
  explicit Ticket(int parts, Pipeline::Done d) : remaining(parts), done(std::move(d)) {}
  void Finish(const Status& s, ShardWork& work);
  std::atomic<int> remaining;
  Pipeline::Done done;
  std::mutex mu;
  WriteResult result;
};

enum class Lane : std::uint8_t { kNormal = 0, kUrgent = 1 };

// One shard's part of a submitted batch, in one lane.
struct ShardWork {
  ReadingBatch batch;
  Lane lane = Lane::kNormal;
  std::size_t reserved = 0;  // readings reserved in the lane for it (its size at Submit)
  std::shared_ptr<Ticket> ticket;
  std::int64_t enqueued_mono_ns = 0;
  // Normal lane: its position there (set when the shard takes it). Urgent lane: the normal
  // lane's tail_position() when it was submitted; only normal parts before that can hold an
  // earlier reading of one of its sensors.
  std::uint64_t position = 0;
  std::uint64_t after_normal = 0;
  // Readings taken out before the log write (limits), and why.
  std::size_t refused = 0;
  std::array<std::uint32_t, kLimitCount> refused_by_limit{};
  std::vector<Refusal> refusals;
  // Each reading's sensor number, as the shard found it before the log write (kUnknownSensor:
  // not in the table then), so applying the batch does not look every id up a second time.
  std::vector<std::uint32_t> sensor_index;
};

struct ShardInboxLimits {
  std::size_t max_readings = 1u << 15;  // normal lane, for plain batches
  std::size_t max_batches = 4096;       // normal lane ring (rounded up to a power of two)
  std::size_t urgent_readings = 4096;
  std::size_t urgent_batches = 256;  // rounded up to a power of two
};

class ShardInbox {
 public:
  explicit ShardInbox(const ShardInboxLimits& limits);
  ShardInbox(const ShardInbox&) = delete;
  ShardInbox& operator=(const ShardInbox&) = delete;

  // Reserves room for one part of `readings` in `lane`; false when the lane is full. A single
  // part larger than the limit is let in when the lane is empty (it could never be otherwise).
  // `carries_urgent`: the batch has urgent readings (in either lane), so the normal lane's
  // headroom is open to it.
  bool Reserve(Lane lane, std::size_t readings, bool carries_urgent);
  void Release(Lane lane, std::size_t readings);
  // REQUIRES: Reserve(work->lane, ...) succeeded for this work. Takes ownership.
  void Push(ShardWork* work);

  // Consumer only. PopNormal sets the work's position.
  ShardWork* PopNormal();
  ShardWork* PopUrgent();
  // Consumer only: calls visit(const ShardWork&, position) with every normal part pushed and
  // not yet taken whose position is below `end`, oldest first.
  template <typename Visit>
  void ForEachWaiting(std::uint64_t end, Visit&& visit) const;

  // The normal lane's tail_position(): what an urgent part records in after_normal.
  std::uint64_t normal_tail() const { return normal_.tail_position(); }
  bool Empty() const { return normal_.ApproxSize() == 0 && urgent_.ApproxSize() == 0; }
  // Readings reserved in both lanes (queued, or taken and not yet acknowledged).
  std::size_t QueuedReadings() const;

 private:
  struct Room {
    std::atomic<std::size_t> batches{0};
    std::atomic<std::size_t> readings{0};
  };

  const ShardInboxLimits limits_;
  BoundedQueue<ShardWork> normal_;
  BoundedQueue<ShardWork> urgent_;
  std::array<Room, 2> room_;  // by Lane
  std::uint64_t popped_ = 0;  // normal positions taken so far (consumer only)
};

template <typename Visit>
void ShardInbox::ForEachWaiting(std::uint64_t end, Visit&& visit) const {
  const std::uint64_t tail = normal_.tail_position();
  for (std::uint64_t pos = popped_; pos < end && pos < tail; ++pos) {
    const ShardWork* w = normal_.PeekAt(pos);
    while (w == nullptr) w = normal_.PeekAt(pos);  // its producer is mid-push
    visit(*w, pos);
  }
}

}  // namespace aquawatch
