#include "pipeline/checkpoint_stream.h"

#include <utility>

namespace aquawatch {

Result<std::unique_ptr<CheckpointStream>> CheckpointStream::Start(
    Env& env, std::string dir, std::string name, std::function<Status()> before_publish) {
  auto writer = CheckpointWriter::Create(env, std::move(dir), std::move(name));
  if (!writer.ok()) return writer.status();
  std::unique_ptr<CheckpointStream> stream(
      new CheckpointStream(std::move(writer).value(), std::move(before_publish)));
  stream->thread_ = std::thread([s = stream.get()] { s->Run(); });
  return stream;
}

CheckpointStream::CheckpointStream(std::unique_ptr<CheckpointWriter> writer,
                                   std::function<Status()> before_publish)
    : writer_(std::move(writer)), before_publish_(std::move(before_publish)) {}

CheckpointStream::~CheckpointStream() {
  {
    std::lock_guard lock(mu_);
    if (!done_) abandon_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string& CheckpointStream::Entry(char type) {
  if (!record_.empty() && (record_[0] != type || record_.size() >= kCheckpointRecordTarget)) {
    HandOver();
  }
  if (record_.empty()) record_.push_back(type);
  return record_;
}

void CheckpointStream::HandOver() {
  if (record_.empty()) return;
  backlog_bytes_.fetch_add(record_.size(), std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(record_));
  }
  record_.clear();
  record_.reserve(kCheckpointRecordTarget + 4096);
  cv_.notify_one();
}

void CheckpointStream::Finish(std::uint64_t sensors, std::uint64_t series) {
  if (finish_called_) return;
  finish_called_ = true;
  HandOver();
  {
    std::lock_guard lock(mu_);
    finishing_ = true;
    sensors_ = sensors;
    series_ = series;
  }
  cv_.notify_one();
}

bool CheckpointStream::Done(Status* result) {
  std::lock_guard lock(mu_);
  if (done_ && result != nullptr) *result = result_;
  return done_;
}

Status CheckpointStream::Wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return done_; });
  return result_;
}

void CheckpointStream::Run() {
  Status status;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return abandon_ || finishing_ || !queue_.empty(); });
    if (abandon_) break;
    if (!queue_.empty()) {
      std::string record = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      // After a failed write the rest is dropped unwritten; Finish reports the first error.
      if (status.ok()) status = writer_->AddRecord(record);
      backlog_bytes_.fetch_sub(record.size(), std::memory_order_relaxed);
      bytes_written_.store(writer_->bytes_written(), std::memory_order_relaxed);
      lock.lock();
      continue;
    }
    // Finishing, and everything handed over is written.
    const std::uint64_t sensors = sensors_, series = series_;
    lock.unlock();
    if (status.ok()) status = writer_->Finish(sensors, series, before_publish_);
    bytes_written_.store(writer_->bytes_written(), std::memory_order_relaxed);
    lock.lock();
    break;
  }
  if (abandon_ && status.ok()) status = Status::Unavailable("checkpoint abandoned");
  const bool failed = !status.ok();
  lock.unlock();
  // A checkpoint that failed or was abandoned leaves no file behind (the old one stays valid).
  if (failed) writer_->Abandon();
  lock.lock();
  result_ = status;
  done_ = true;
  lock.unlock();
  cv_.notify_all();
}

}  // namespace aquawatch
