// Syncer: the thread that runs a shard's group-commit fdatasync while the shard thread goes on
// admitting, writing and applying the next groups (and serving alerts).
//
// One job at a time: the owner submits a job, polls done() (or waits), then collects it before
// the next. The job runs on the syncer's thread and calls `wake` when it has finished, so a
// sleeping owner notices. Groups written while a sync runs wait for the next one, which covers
// them all: one fdatasync per sync, as many groups as the disk's latency lets gather.
// Thread-safety: Submit, busy, done, Wait and Collect from the owner only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace aquawatch {

class Syncer {
 public:
  explicit Syncer(std::function<void()> wake);
  Syncer(const Syncer&) = delete;
  Syncer& operator=(const Syncer&) = delete;
  // Lets a job in flight finish, then joins the thread.
  ~Syncer();

  // REQUIRES: !busy().
  void Submit(std::function<void()> job);
  // A job was submitted and not collected yet.
  bool busy() const { return busy_; }
  // The submitted job has finished (its effects are visible to the owner).
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Blocks until the submitted job has finished. REQUIRES: busy().
  void Wait();
  // REQUIRES: done(). After it, busy() is false.
  void Collect();

 private:
  void Run();

  const std::function<void()> wake_;
  bool busy_ = false;  // owner only
  std::atomic<bool> done_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;  // mu_
  bool stop_ = false;          // mu_
  std::thread thread_;
};

}  // namespace aquawatch
