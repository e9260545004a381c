#include "pipeline/shard_log.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/crc32c.h"

namespace aquawatch {
namespace {

constexpr std::string_view kSegmentMagic = "AQWLOG01";
constexpr std::size_t kRecordHeader = 8;  // u32 length, u32 crc32c of payload
// Guards against a corrupted length field asking for gigabytes.
constexpr std::uint32_t kMaxRecordBytes = 1u << 30;

std::string SegmentName(std::uint64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llu.log", static_cast<unsigned long long>(index));
  return buf;
}

bool ParseSegmentName(const std::string& name, std::uint64_t* index) {
  if (name.size() != 20 || name.substr(16) != ".log") return false;
  std::uint64_t v = 0;
  for (int i = 0; i < 16; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  *index = v;
  return true;
}

// Walks the records of one segment. Returns the offset just past the last intact record and
// sets *clean to whether the segment ended exactly there.
Result<std::uint64_t> ScanSegment(std::string_view bytes, const std::string& path,
                                  const std::function<Status(std::string_view)>& visit, bool* clean,
                                  std::uint64_t* records) {
  if (bytes.size() < kSegmentMagic.size()) {
    *clean = bytes.empty();
    return std::uint64_t{0};
  }
  if (bytes.substr(0, kSegmentMagic.size()) != kSegmentMagic) {
    return Status::Corruption(path + ": not a shard log segment (bad magic)");
  }
  std::uint64_t pos = kSegmentMagic.size();
  while (pos + kRecordHeader <= bytes.size()) {
    std::uint32_t length = 0, crc = 0;
    std::memcpy(&length, bytes.data() + pos, 4);
    std::memcpy(&crc, bytes.data() + pos + 4, 4);
    if (length > kMaxRecordBytes || pos + kRecordHeader + length > bytes.size()) break;
    std::string_view payload = bytes.substr(pos + kRecordHeader, length);
    if (Crc32c(payload) != crc) break;
    Status s = visit(payload);
    if (!s.ok())
      return Status::Corruption(path + " at offset " + std::to_string(pos) + ": " + s.message());
    ++*records;
    pos += kRecordHeader + length;
  }
  *clean = pos == bytes.size();
  return pos;
}

class ShardLogImpl final : public ShardLog {
 public:
  ShardLogImpl(Env& env, std::string dir, ShardLogOptions options, std::uint64_t next_index,
               std::unique_ptr<WritableFile> file)
      : env_(env),
        dir_(std::move(dir)),
        options_(options),
        next_index_(next_index),
        file_(std::move(file)) {}

  Status Append(std::string_view payload) override {
    if (file_ == nullptr || file_->Size() >= options_.segment_bytes) {
      Status s = Roll();
      if (!s.ok()) return s;
    }
    header_.clear();
    auto length = static_cast<std::uint32_t>(payload.size());
    std::uint32_t crc = Crc32c(payload);
    header_.append(reinterpret_cast<const char*>(&length), 4);
    header_.append(reinterpret_cast<const char*>(&crc), 4);
    // One write per record: header and payload are joined to keep the syscall count down.
    header_.append(payload);
    appended_bytes_ += header_.size();
    return file_->Append(header_);
  }

  Status Sync() override { return file_ == nullptr ? Status::Ok() : file_->Sync(); }

  Result<std::uint64_t> StartSegment() override {
    if (file_ != nullptr) {
      Status s = file_->Sync();
      if (s.ok()) s = file_->Close();
      if (!s.ok()) return s;
      file_.reset();
    }
    // The next Append opens it (Roll); nothing is written until then.
    return next_index_;
  }

  Status RemoveSegmentsBefore(std::uint64_t index) override;

  std::uint64_t appended_bytes() const override { return appended_bytes_; }

 private:
  Status Roll() {
    if (file_ != nullptr) {
      Status s = file_->Sync();
      if (s.ok()) s = file_->Close();
      if (!s.ok()) return s;
    }
    std::string path = dir_ + "/" + SegmentName(next_index_++);
    auto file = env_.OpenAppendable(path);
    if (!file.ok()) return file.status();
    file_ = std::move(file).value();
    Status s = file_->Append(kSegmentMagic);
    if (s.ok()) s = file_->Sync();
    if (s.ok()) s = env_.SyncDir(dir_);
    return s;
  }

  Env& env_;
  std::string dir_;
  ShardLogOptions options_;
  std::uint64_t next_index_;
  std::unique_ptr<WritableFile> file_;
  std::string header_;  // reused record buffer
  std::uint64_t appended_bytes_ = 0;
};

Result<std::vector<std::pair<std::uint64_t, std::string>>> ListSegments(Env& env,
                                                                        const std::string& dir) {
  auto names = env.ListFiles(dir);
  if (!names.ok()) return names.status();
  std::vector<std::pair<std::uint64_t, std::string>> segments;
  for (const std::string& name : *names) {
    std::uint64_t index = 0;
    if (ParseSegmentName(name, &index)) segments.emplace_back(index, dir + "/" + name);
  }
  return segments;
}

Status RemoveSegments(Env& env, const std::string& dir, std::uint64_t before) {
  auto segments = ListSegments(env, dir);
  if (!segments.ok()) return segments.status();
  for (const auto& [index, path] : *segments) {
    if (index >= before) continue;
    Status s = env.RemoveFile(path);
    if (!s.ok()) return s;
  }
  return env.SyncDir(dir);
}

}  // namespace

Status ShardLogImpl::RemoveSegmentsBefore(std::uint64_t index) {
  return RemoveSegments(env_, dir_, index);
}

Result<std::unique_ptr<ShardLog>> ShardLog::Open(
    Env& env, const std::string& dir, const ShardLogOptions& options, std::uint64_t first_segment,
    const std::function<Status(std::string_view)>& replay, ShardLogRecovery* recovery) {
  Status s = env.CreateDirs(dir);
  if (!s.ok()) return s;
  // Segments a checkpoint covers may survive a crash between the checkpoint and their deletion.
  s = RemoveSegments(env, dir, first_segment);
  if (!s.ok()) return s;
  auto segments = ListSegments(env, dir);
  if (!segments.ok()) return segments.status();
  ShardLogRecovery stats;
  std::uint64_t next_index = std::max<std::uint64_t>(1, first_segment);
  std::unique_ptr<WritableFile> tail;
  for (std::size_t i = 0; i < segments->size(); ++i) {
    const auto& [index, path] = (*segments)[i];
    bool last = i + 1 == segments->size();
    auto bytes = env.ReadWholeFile(path);
    if (!bytes.ok()) return bytes.status();
    bool clean = false;
    auto end = ScanSegment(*bytes, path, replay, &clean, &stats.records);
    if (!end.ok()) return end.status();
    ++stats.segments;
    next_index = index + 1;
    if (!clean) {
      if (!last) {
        return Status::Corruption(path + ": damaged record at offset " + std::to_string(*end) +
                                  " in a segment that is not the last");
      }
      // A torn tail: the crash came mid-write. Nothing past it was acknowledged.
      stats.truncated_bytes = bytes->size() - *end;
      std::uint64_t keep = *end < kSegmentMagic.size() ? 0 : *end;
      s = env.Truncate(path, keep);
      if (!s.ok()) return s;
    }
  }
  if (recovery != nullptr) *recovery = stats;
  // Always start writing in a fresh segment: simpler than reopening a cut one mid-file.
  return std::unique_ptr<ShardLog>(
      new ShardLogImpl(env, dir, options, next_index, /*file=*/nullptr));
}

Result<std::uint64_t> ScanShardLogSegment(std::string_view bytes,
                                          const std::function<Status(std::string_view)>& visit) {
  bool clean = false;
  std::uint64_t records = 0;
  return ScanSegment(bytes, "segment", visit, &clean, &records);
}

Status ReadShardLog(Env& env, const std::string& dir,
                    const std::function<Status(std::string_view)>& visit) {
  auto segments = ListSegments(env, dir);
  if (!segments.ok()) return segments.status();
  for (const auto& [index, path] : *segments) {
    auto bytes = env.ReadWholeFile(path);
    if (!bytes.ok()) return bytes.status();
    bool clean = false;
    std::uint64_t records = 0;
    auto end = ScanSegment(*bytes, path, visit, &clean, &records);
    if (!end.ok()) return end.status();
  }
  return Status::Ok();
}

}  // namespace aquawatch
