#include "pipeline/group_commit.h"

#include <cassert>
#include <utility>

namespace aquawatch {

Syncer::Syncer(std::function<void()> wake) : wake_(std::move(wake)) {}

Syncer::~Syncer() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Syncer::Submit(std::function<void()> job) {
  assert(!busy_);
  // Started on first use: a shard that only decodes a checkpoint (tools, fuzzing) never syncs.
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  busy_ = true;
  done_.store(false, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    job_ = std::move(job);
  }
  cv_.notify_all();
}

void Syncer::Wait() {
  assert(busy_);
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return done(); });
}

void Syncer::Collect() {
  assert(done());
  busy_ = false;
}

void Syncer::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    // A job submitted before the stop still runs, so nothing submitted is left unanswered.
    cv_.wait(lock, [this] { return job_ != nullptr || stop_; });
    if (job_ == nullptr) return;
    std::function<void()> job = std::move(job_);
    job_ = nullptr;
    lock.unlock();
    job();
    lock.lock();
    done_.store(true, std::memory_order_release);
    cv_.notify_all();
    lock.unlock();
    wake_();
    lock.lock();
  }
}

}  // namespace aquawatch
