#include "pipeline/checkpoint_stream.h"

#include <utility>

#include <spdlog/spdlog.h>

namespace aquawatch {

std::unique_ptr<CheckpointStream> CheckpointStream::Start(Env& env, std::string dir,
                                                          std::string name,
                                                          std::function<Status()> before_publish,
                                                          std::function<Status()> after_publish) {
  std::unique_ptr<CheckpointStream> stream(new CheckpointStream(
      env, std::move(dir), std::move(name), std::move(before_publish), std::move(after_publish)));
  stream->thread_ = std::thread([s = stream.get()] { s->Run(); });
  return stream;
}

CheckpointStream::CheckpointStream(Env& env, std::string dir, std::string name,
                                   std::function<Status()> before_publish,
                                   std::function<Status()> after_publish)
    : env_(env),
      dir_(std::move(dir)),
      name_(std::move(name)),
      before_publish_(std::move(before_publish)),
      after_publish_(std::move(after_publish)) {}

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
  Status status = WriteAll();
  std::unique_lock lock(mu_);
  if (status.ok() && abandon_) status = Status::Unavailable("checkpoint abandoned");
  lock.unlock();
  // A checkpoint that failed or was abandoned leaves no file behind (the old one stays valid).
  if (!status.ok() && writer_ != nullptr) writer_->Abandon();
  lock.lock();
  result_ = status;
  done_ = true;
  lock.unlock();
  cv_.notify_all();
}

Status CheckpointStream::WriteAll() {
  auto writer = CheckpointWriter::Create(env_, dir_, name_);
  if (!writer.ok()) return writer.status();
  writer_ = std::move(writer).value();
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return abandon_ || finishing_ || !queue_.empty(); });
    if (abandon_) return Status::Ok();  // Run turns this into "abandoned"
    if (queue_.empty()) break;          // finishing, and everything handed over is written
    std::string record = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    Status s = writer_->AddRecord(record);
    backlog_bytes_.fetch_sub(record.size(), std::memory_order_relaxed);
    bytes_written_.store(writer_->bytes_written(), std::memory_order_relaxed);
    if (!s.ok()) return s;
    lock.lock();
  }
  const std::uint64_t sensors = sensors_, series = series_;
  lock.unlock();
  Status s = writer_->Finish(sensors, series, before_publish_);
  bytes_written_.store(writer_->bytes_written(), std::memory_order_relaxed);
  if (s.ok() && after_publish_) {
    Status cleanup = after_publish_();
    if (!cleanup.ok()) {
      spdlog::warn(
          "checkpoint {}/{} is published, but deleting what it replaces failed (the next "
          "start does): {}",
          dir_, name_, cleanup.ToString());
    }
  }
  return s;
}

}  // namespace aquawatch
