// CheckpointStream: writes one checkpoint file on a thread of its own while the shard goes on.
//
// The shard thread builds records (Entry, as with CheckpointWriter) from the state it captures
// a slice at a time, and each full record is handed over; the stream's thread frames and writes
// them and, after Finish, writes the end record, syncs, runs `before_publish` (the block store's
// flush: a checkpoint must never be visible before the sealed chunks it relies on are durable)
// and publishes the file, then runs `after_publish` (deleting what the new checkpoint makes
// obsolete: unlinking a large file can take 100 ms, which the shard must not wait for).
// Procedure: docs/format/checkpoint.md.
// Thread-safety: every method, and the destructor, from one thread (the shard's). Destroying an
// unfinished stream abandons it: its thread stops and the temporary file is removed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/env.h"
#include "core/status.h"
#include "pipeline/checkpoint.h"

namespace aquawatch {

class CheckpointStream {
 public:
  // Starts the writing thread, which creates `<dir>/<name>.tmp` (so the shard thread does no
  // file I/O for a checkpoint at all; an error shows in Done).
  // An error from `after_publish` is logged; the checkpoint stands (a start deletes the rest).
  static std::unique_ptr<CheckpointStream> Start(Env& env, std::string dir, std::string name,
                                                 std::function<Status()> before_publish,
                                                 std::function<Status()> after_publish = {});
  ~CheckpointStream();
  CheckpointStream(const CheckpointStream&) = delete;
  CheckpointStream& operator=(const CheckpointStream&) = delete;

  // The buffer for one more entry of a record of `type`. A change of type, or a record past
  // kCheckpointRecordTarget, hands the current record to the writing thread first.
  // REQUIRES: Finish has not been called.
  std::string& Entry(char type);
  // Bytes handed over and not yet written: a shard capturing faster than its disk writes waits
  // with its next slice past a limit, so the stream's memory stays bounded.
  std::size_t backlog_bytes() const { return backlog_bytes_.load(std::memory_order_relaxed); }
  // No more entries. The thread writes the rest and the end record with these counts, syncs,
  // runs before_publish and publishes; Done() then tells how it went.
  void Finish(std::uint64_t sensors, std::uint64_t series);
  // True once the thread has finished (published, or failed and removed its file); *result then
  // holds the outcome. Never blocks.
  bool Done(Status* result);
  // Blocks until Done (a clean stop, a start-up checkpoint).
  Status Wait();
  // Bytes written so far (the whole file once Done).
  std::uint64_t bytes_written() const { return bytes_written_.load(std::memory_order_relaxed); }

 private:
  CheckpointStream(Env& env, std::string dir, std::string name,
                   std::function<Status()> before_publish, std::function<Status()> after_publish);
  void HandOver();  // moves record_ to the queue
  void Run();
  Status WriteAll();  // the writing thread's work; the first error ends it

  Env& env_;
  const std::string dir_, name_;
  std::unique_ptr<CheckpointWriter> writer_;  // the writing thread's
  std::function<Status()> before_publish_, after_publish_;
  std::string record_;  // the record being built (shard thread)
  bool finish_called_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;  // records handed over, oldest first
  bool finishing_ = false;         // Finish was called: write the end record after the queue
  bool abandon_ = false;           // the destructor runs before Done
  bool done_ = false;
  Status result_;
  std::uint64_t sensors_ = 0, series_ = 0;
  std::atomic<std::size_t> backlog_bytes_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
  std::thread thread_;
};

}  // namespace aquawatch
