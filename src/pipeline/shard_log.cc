#include "pipeline/shard_log.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/crc32c.h"

namespace aquawatch {
namespace {

constexpr std::string_view kMagicV1 = "AQWLOG01";
constexpr std::string_view kMagicV2 = "AQWLOG02";
constexpr std::size_t kMagicBytes = 8;
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

bool AllZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

// What a scan found: the offset just past the last intact record, and whether the segment ended
// exactly there.
struct ScanEnd {
  std::uint64_t end = 0;
  bool clean = false;
};

// A record whose framing is intact but whose payload `visit` called corrupt: the scan asks this
// whether to go on (OK) or stop with the returned error.
using BadPayload =
    std::function<Status(std::uint64_t offset, std::string_view record, const Status& why)>;

// Walks the records of one segment. A record is intact when its header is complete, its length
// is 1..1 GiB, its payload fits and its CRC matches; a zero length is never written (a payload
// holds at least a reading count), so a zero-filled tail, whose CRC of nothing is 0, is not a
// record.
Result<ScanEnd> ScanSegment(std::string_view bytes, const std::string& path,
                            const ShardLogReplay& visit, const BadPayload& bad_payload,
                            std::uint64_t* records) {
  ScanEnd scan;
  if (bytes.size() < kMagicBytes) {
    scan.clean = bytes.empty();
    return scan;
  }
  LogFormat format;
  const std::string_view magic = bytes.substr(0, kMagicBytes);
  if (magic == kMagicV2) {
    format = LogFormat::kV2;
  } else if (magic == kMagicV1) {
    format = LogFormat::kV1;
  } else if (AllZero(bytes)) {
    return scan;  // created, never synced: nothing in it was acknowledged
  } else {
    return Status::Corruption(path + ": not a shard log segment (bad magic)");
  }
  std::uint64_t pos = kMagicBytes;
  while (pos + kRecordHeader <= bytes.size()) {
    std::uint32_t length = 0, crc = 0;
    std::memcpy(&length, bytes.data() + pos, 4);
    std::memcpy(&crc, bytes.data() + pos + 4, 4);
    if (length == 0 || length > kMaxRecordBytes || pos + kRecordHeader + length > bytes.size()) {
      break;
    }
    std::string_view payload = bytes.substr(pos + kRecordHeader, length);
    if (Crc32c(payload) != crc) break;
    Status s = visit(payload, format);
    if (!s.ok()) {
      if (s.code() != StatusCode::kCorruption || bad_payload == nullptr) {
        return s.Annotate(fmt::format("{} at offset {}", path, pos));
      }
      Status go_on = bad_payload(pos, bytes.substr(pos, kRecordHeader + length), s);
      if (!go_on.ok()) return go_on;
    } else {
      ++*records;
    }
    pos += kRecordHeader + length;
  }
  scan.end = pos;
  scan.clean = pos == bytes.size();
  return scan;
}

// Moves damaged bytes aside: <dir>/quarantine/<segment>-<offset>.bad, synced, so an operator can
// look at them; the same damage found again overwrites the same file.
Status Quarantine(Env& env, const std::string& dir, std::uint64_t segment, std::uint64_t offset,
                  std::string_view bytes, std::string_view why, ShardLogRecovery* stats) {
  const std::string qdir = dir + "/quarantine";
  const std::string path = fmt::format("{}/{:016d}-{}.bad", qdir, segment, offset);
  Status s = env.CreateDirs(qdir);
  if (s.ok()) s = env.RemoveFile(path);
  if (!s.ok()) return s;
  auto file = env.OpenAppendable(path);
  if (!file.ok()) return file.status();
  s = (*file)->Append(bytes);
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = (*file)->Close();
  if (s.ok()) s = env.SyncDir(qdir);
  if (!s.ok()) return s;
  ++stats->quarantined_records;
  stats->quarantined_bytes += bytes.size();
  spdlog::error(
      "{}/{}: {} damaged bytes at offset {} moved to {} ({}); the server goes on without "
      "them (store.strict_recovery refuses to start instead)",
      dir, SegmentName(segment), bytes.size(), offset, path, why);
  return Status::Ok();
}

class ShardLogImpl final : public ShardLog {
 public:
  ShardLogImpl(Env& env, std::string dir, ShardLogOptions options, std::uint64_t next_index)
      : env_(env), dir_(std::move(dir)), options_(options), next_index_(next_index) {}

  Status Append(std::string_view payload) override {
    if (file_ == nullptr || file_->Size() >= options_.segment_bytes) {
      Status s = Roll();
      if (!s.ok()) return s;
    }
    if (payload.empty() || payload.size() > kMaxRecordBytes) {
      return Status::Internal(fmt::format("log record of {} bytes", payload.size()));
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

  Status Sync() override {
    const SyncPoint point = PrepareSync();
    Status s = SyncPrepared(point);
    if (s.ok()) MarkSynced(point);
    return s;
  }

  SyncPoint PrepareSync() override {
    return file_ == nullptr ? SyncPoint{} : SyncPoint{file_, file_->Size()};
  }

  Status SyncPrepared(const SyncPoint& point) override {
    if (point.file == nullptr) return Status::Ok();
    std::lock_guard lock(close_mu_);
    if (point.file != file_) return Status::Ok();  // closed since, and synced as it closed
    if (!sync_error_.ok()) return sync_error_;
    Status s = point.file->Sync();
    if (!s.ok()) sync_error_ = s;
    return s;
  }

  void MarkSynced(const SyncPoint& point) override {
    if (point.file != nullptr && point.file == file_) {
      synced_size_ = std::max(synced_size_, point.size);
    }
  }

  Status DiscardUnsynced() override {
    if (file_ == nullptr) return Status::Ok();
    (void)file_->Close();  // the cut below is what counts
    SetFile(nullptr);
    return env_.Truncate(current_path_, synced_size_);
  }

  Result<std::uint64_t> StartSegment() override {
    if (Status s = CloseFile(); !s.ok()) return s;
    // The next Append opens it (Roll); nothing is written until then.
    return next_index_;
  }

  Status RemoveSegmentsBefore(std::uint64_t index) override;

  std::uint64_t appended_bytes() const override { return appended_bytes_; }

 private:
  // Syncs and closes the current segment, after any sync in flight on it.
  Status CloseFile() {
    if (file_ == nullptr) return Status::Ok();
    std::unique_lock lock(close_mu_);
    Status s = sync_error_;
    if (s.ok()) s = file_->Sync();
    if (s.ok()) s = file_->Close();
    if (!s.ok()) {
      sync_error_ = s;
      return s;
    }
    file_.reset();
    return Status::Ok();
  }

  void SetFile(std::shared_ptr<WritableFile> file) {
    std::lock_guard lock(close_mu_);
    file_ = std::move(file);
    sync_error_ = Status::Ok();
  }

  Status Roll() {
    if (Status s = CloseFile(); !s.ok()) return s;
    current_path_ = dir_ + "/" + SegmentName(next_index_++);
    synced_size_ = 0;
    auto file = env_.OpenAppendable(current_path_);
    if (!file.ok()) return file.status();
    SetFile(std::move(file).value());
    Status s = file_->Append(kMagicV2);
    if (s.ok()) s = file_->Sync();
    if (s.ok()) s = env_.SyncDir(dir_);
    if (s.ok()) synced_size_ = kMagicBytes;
    return s;
  }

  Env& env_;
  std::string dir_;
  ShardLogOptions options_;
  std::uint64_t next_index_;
  // Written by the owner under close_mu_; SyncPrepared reads it under close_mu_.
  std::shared_ptr<WritableFile> file_;
  std::mutex close_mu_;  // a segment is never closed while SyncPrepared syncs it
  Status sync_error_;    // a sync of the current segment failed (close_mu_)
  std::string current_path_;
  std::uint64_t synced_size_ = 0;  // bytes of the current segment known durable
  std::string header_;             // reused record buffer
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

Status RemoveShardLogSegmentsBefore(Env& env, const std::string& dir, std::uint64_t index) {
  return RemoveSegments(env, dir, index);
}

Result<std::unique_ptr<ShardLog>> ShardLog::Open(Env& env, const std::string& dir,
                                                 const ShardLogOptions& options,
                                                 std::uint64_t first_segment,
                                                 const ShardLogReplay& replay,
                                                 ShardLogRecovery* recovery) {
  Status s = env.CreateDirs(dir);
  if (!s.ok()) return s;
  // Segments a checkpoint covers may survive a crash between the checkpoint and their deletion.
  s = RemoveSegments(env, dir, first_segment);
  if (!s.ok()) return s;
  auto segments = ListSegments(env, dir);
  if (!segments.ok()) return segments.status();
  ShardLogRecovery stats;
  std::uint64_t next_index = std::max<std::uint64_t>(1, first_segment);
  for (std::size_t i = 0; i < segments->size(); ++i) {
    const auto& [index, path] = (*segments)[i];
    const bool last = i + 1 == segments->size();
    auto bytes = env.ReadWholeFile(path);
    if (!bytes.ok()) return bytes.status();
    const std::uint64_t segment = index;
    BadPayload bad_payload;
    if (!options.strict_recovery) {
      bad_payload = [&](std::uint64_t offset, std::string_view record, const Status& why) {
        return Quarantine(env, dir, segment, offset, record, why.message(), &stats);
      };
    }
    auto scan = ScanSegment(*bytes, path, replay, bad_payload, &stats.records);
    if (!scan.ok()) {
      // Only a bad magic gets here with a Corruption (a bad payload went to bad_payload).
      if (options.strict_recovery || scan.status().code() != StatusCode::kCorruption) {
        return scan.status();
      }
      s = Quarantine(env, dir, segment, 0, *bytes, scan.status().message(), &stats);
      if (!s.ok()) return s;
      s = env.Truncate(path, 0);
      if (!s.ok()) return s;
      ++stats.segments;
      next_index = index + 1;
      continue;
    }
    ++stats.segments;
    next_index = index + 1;
    if (scan->clean) continue;
    const std::uint64_t end = scan->end;
    if (!last) {
      // Damage in a segment that later ones follow: not a torn write (every start opens a new
      // segment after cutting the old one's tail). The record boundaries after it are lost, so
      // the rest of the segment goes aside as one piece.
      const std::string why =
          fmt::format("damaged record at offset {} in a segment that is not the last", end);
      if (options.strict_recovery) return Status::Corruption(path + ": " + why);
      s = Quarantine(env, dir, segment, end, std::string_view(*bytes).substr(end), why, &stats);
      if (!s.ok()) return s;
      s = env.Truncate(path, end);
      if (!s.ok()) return s;
      continue;
    }
    // A torn tail: the crash came mid-write. Nothing past it was acknowledged.
    stats.truncated_bytes = bytes->size() - end;
    s = env.Truncate(path, end < kMagicBytes ? 0 : end);
    if (!s.ok()) return s;
  }
  if (recovery != nullptr) *recovery = stats;
  // Always start writing in a fresh segment: simpler than reopening a cut one mid-file.
  return std::unique_ptr<ShardLog>(new ShardLogImpl(env, dir, options, next_index));
}

Result<std::uint64_t> ScanShardLogSegment(std::string_view bytes, const ShardLogReplay& visit) {
  std::uint64_t records = 0;
  auto scan = ScanSegment(bytes, "segment", visit, nullptr, &records);
  if (!scan.ok()) return scan.status();
  return scan->end;
}

Status ReadShardLog(Env& env, const std::string& dir, const ShardLogReplay& visit) {
  auto segments = ListSegments(env, dir);
  if (!segments.ok()) return segments.status();
  for (const auto& [index, path] : *segments) {
    auto bytes = env.ReadWholeFile(path);
    if (!bytes.ok()) return bytes.status();
    std::uint64_t records = 0;
    auto scan = ScanSegment(*bytes, path, visit, nullptr, &records);
    if (!scan.ok()) return scan.status();
  }
  return Status::Ok();
}

}  // namespace aquawatch
