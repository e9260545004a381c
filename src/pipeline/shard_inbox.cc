#include "pipeline/shard_inbox.h"

namespace aquawatch {

namespace {

std::size_t RoundUpPow2(std::size_t n) {
  std::size_t p = 2;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

void Ticket::Finish(const Status& s, ShardWork& work) {
  if (!s.ok() || work.refused > 0) {
    std::lock_guard lock(mu);
    if (result.status.ok() && !s.ok()) result.status = s;
    result.refused += work.refused;
    for (int l = 0; l < kLimitCount; ++l) result.refused_by_limit[l] += work.refused_by_limit[l];
    for (Refusal& r : work.refusals) {
      if (result.refusals.size() >= kMaxReportedRefusals) break;
      result.refusals.push_back(std::move(r));
    }
  }
  if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    WriteResult final_result;
    {
      std::lock_guard lock(mu);
      final_result = std::move(result);
    }
    done(final_result);
  }
}

ShardInbox::ShardInbox(const ShardInboxLimits& limits)
    : limits_(limits),
      normal_(RoundUpPow2(limits.max_batches)),
      urgent_(RoundUpPow2(limits.urgent_batches)) {}

bool ShardInbox::Reserve(Lane lane, std::size_t readings, bool carries_urgent) {
  Room& room = room_[static_cast<int>(lane)];
  std::size_t max_batches, max_readings;
  if (lane == Lane::kUrgent) {
    max_batches = urgent_.capacity();
    max_readings = limits_.urgent_readings;
  } else {
    // Plain batches leave an eighth of the ring and a quarter more readings to batches that
    // carry an alert, so those are still taken while plain ones are refused.
    const std::size_t ring = normal_.capacity();
    max_batches = carries_urgent ? ring : ring - ring / 8;
    max_readings =
        carries_urgent ? limits_.max_readings + limits_.max_readings / 4 : limits_.max_readings;
  }
  const std::size_t batches = room.batches.fetch_add(1, std::memory_order_acq_rel);
  const std::size_t total = room.readings.fetch_add(readings, std::memory_order_acq_rel);
  const bool over_readings = total != 0 && total + readings > max_readings;
  if (batches >= max_batches || over_readings) {
    Release(lane, readings);
    return false;
  }
  return true;
}

void ShardInbox::Release(Lane lane, std::size_t readings) {
  Room& room = room_[static_cast<int>(lane)];
  room.batches.fetch_sub(1, std::memory_order_acq_rel);
  room.readings.fetch_sub(readings, std::memory_order_acq_rel);
}

void ShardInbox::Push(ShardWork* work) {
  // Reservation bounds the parts in flight by the ring's capacity, so this cannot fail.
  const bool pushed = (work->lane == Lane::kUrgent ? urgent_ : normal_).TryPush(work);
  (void)pushed;
}

ShardWork* ShardInbox::PopNormal() {
  ShardWork* w = normal_.TryPop();
  if (w != nullptr) w->position = popped_++;
  return w;
}

ShardWork* ShardInbox::PopUrgent() { return urgent_.TryPop(); }

std::size_t ShardInbox::QueuedReadings() const {
  return room_[0].readings.load(std::memory_order_relaxed) +
         room_[1].readings.load(std::memory_order_relaxed);
}

}  // namespace aquawatch
