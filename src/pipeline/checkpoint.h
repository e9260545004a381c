// Checkpoint files: framed, checksummed records of a shard's in-memory state.
//
// Byte layout and procedure: docs/format/checkpoint.md. This file has the framing and the
// little-endian field helpers; what goes into the entries is the shard's business (pipeline.cc).
// Thread-safety: one writer or reader per thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/env.h"
#include "core/status.h"

namespace aquawatch {

// Appends fixed-size little-endian fields and length-prefixed strings.
class FieldWriter {
 public:
  explicit FieldWriter(std::string& out) : out_(out) {}
  template <typename T>
  void Put(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only
    out_.append(buf, sizeof(T));
  }
  void PutString16(std::string_view s) {
    Put<std::uint16_t>(static_cast<std::uint16_t>(s.size()));
    out_.append(s);
  }
  void PutString32(std::string_view s) {
    Put<std::uint32_t>(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }

 private:
  std::string& out_;
};

// Reads what FieldWriter wrote; once past the end, every read yields zero and ok() is false.
class FieldReader {
 public:
  explicit FieldReader(std::string_view in) : in_(in) {}
  template <typename T>
  T Get() {
    T v{};
    if (in_.size() < sizeof(T)) {
      ok_ = false;
      in_ = {};
      return v;
    }
    std::memcpy(&v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return v;
  }
  std::string_view GetString16() { return Take(Get<std::uint16_t>()); }
  std::string_view GetString32() { return Take(Get<std::uint32_t>()); }
  bool empty() const { return in_.empty(); }
  bool ok() const { return ok_; }

 private:
  std::string_view Take(std::size_t n) {
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      in_ = {};
      return {};
    }
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  std::string_view in_;
  bool ok_ = true;
};

// Writes a checkpoint to `<path>.tmp`, then publishes it at `path` (fsync, rename, dir fsync).
// It frames whole records; CheckpointStream builds them.
class CheckpointWriter {
 public:
  static Result<std::unique_ptr<CheckpointWriter>> Create(Env& env, std::string dir,
                                                          std::string name);
  // Writes one whole record: its type byte, then its entries.
  Status AddRecord(std::string_view payload);
  // Writes the `E` record, syncs, runs `before_publish` (if any; an error stops the publication)
  // and publishes the file. Nothing is visible before this returns OK.
  Status Finish(std::uint64_t sensors, std::uint64_t series,
                const std::function<Status()>& before_publish = {});
  // After a failed Finish: removes the temporary file, so a full disk gets its space back.
  void Abandon();
  std::uint64_t bytes_written() const { return bytes_; }

 private:
  CheckpointWriter(Env& env, std::string dir, std::string name, std::unique_ptr<WritableFile> file)
      : env_(env), dir_(std::move(dir)), name_(std::move(name)), file_(std::move(file)) {}

  Env& env_;
  std::string dir_, name_;
  std::unique_ptr<WritableFile> file_;
  std::uint64_t bytes_ = 0;
};

// A record grows to about this size before it is closed.
inline constexpr std::size_t kCheckpointRecordTarget = 1u << 20;

// Walks a checkpoint's records, verifying magic, CRCs and the final `E` record. Reads format 2
// (`L S C H` records) and 3 (`L T`); docs/format/checkpoint.md.
class CheckpointReader {
 public:
  explicit CheckpointReader(std::string_view bytes) : bytes_(bytes) {}
  // The format version, once Next() has read the magic.
  int version() const { return version_; }
  // The next record's type and entries (after the type byte). False at `E` or on damage; then
  // status() says which, and end() holds the `E` record's entries.
  bool Next(char* type, std::string_view* entries);
  const Status& status() const { return status_; }
  std::string_view end() const { return end_; }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
  int version_ = 0;
  Status status_;
  std::string_view end_;
};

}  // namespace aquawatch
