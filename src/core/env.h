// Env: the seam between aquawatch and the file system.
//
// Storage code reaches files only through an Env, so crash tests can substitute one that forgets
// bytes that were written but not synced. Thread-safety: an Env may be used from any thread; a
// WritableFile belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace aquawatch {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends to the file; the bytes may sit in the OS page cache until Sync().
  virtual Status Append(std::string_view data) = 0;
  // Makes every appended byte durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
  virtual std::uint64_t Size() const = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // Opens `path` for appending, creating it when missing.
  virtual Result<std::unique_ptr<WritableFile>> OpenAppendable(const std::string& path) = 0;
  virtual Result<std::string> ReadWholeFile(const std::string& path) = 0;
  // Cuts the file to `size` bytes and makes the cut durable (fsync) before returning.
  virtual Status Truncate(const std::string& path, std::uint64_t size) = 0;
  // Creates the directory and its parents; OK when it exists. The entry of every directory it
  // creates is made durable (its parent is fsynced).
  virtual Status CreateDirs(const std::string& path) = 0;
  // Names (not paths) of the regular files in `dir`, sorted.
  virtual Result<std::vector<std::string>> ListFiles(const std::string& dir) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Makes a newly created file's directory entry durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  // Atomically replaces `to` with `from` (rename(2)); durable after SyncDir.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Deletes a file; OK when it does not exist.
  virtual Status RemoveFile(const std::string& path) = 0;
};

// The POSIX file system.
Env& DefaultEnv();

}  // namespace aquawatch
