// An Env that wraps the real one and lets a test hold or fail every Sync(), or simulate a power
// cut that loses bytes written but not synced.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>

#include "core/env.h"

namespace aquawatch::testing {

class FaultEnv : public Env {
 public:
  // While held, Sync() blocks until Release().
  void Hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    held_ = false;
    cv_.notify_all();
  }
  // While held, Append() and Sync() of files whose path ends with `suffix` block until
  // ReleaseWrites() (e.g. ".ckpt.tmp": a checkpoint that cannot get its bytes out).
  void HoldWrites(std::string suffix) {
    std::lock_guard lock(mu_);
    held_suffix_ = std::move(suffix);
  }
  void ReleaseWrites() {
    std::lock_guard lock(mu_);
    held_suffix_.clear();
    cv_.notify_all();
  }
  // From now on Append() and Sync() of files whose path ends with `suffix` fail (empty: none).
  void FailWrites(std::string suffix) {
    std::lock_guard lock(mu_);
    fail_suffix_ = std::move(suffix);
  }
  // Calls blocked by HoldWrites right now.
  int held_writes() {
    std::lock_guard lock(mu_);
    return held_writers_;
  }
  void FailSyncs(bool fail) {
    std::lock_guard lock(mu_);
    fail_ = fail;
  }
  int syncs() {
    std::lock_guard lock(mu_);
    return syncs_;
  }

  // From now on every write, sync, rename and delete fails, as if the machine had lost power
  // at this instant; Crash() then decides what of the unsynced bytes survived.
  void PowerOff(bool off) {
    std::lock_guard lock(mu_);
    off_ = off;
  }

  // A power cut: every file written through this Env keeps its synced bytes and a random part
  // (possibly none) of what was written after the last sync. Files must be closed (their
  // owners destroyed) before calling this.
  void Crash(std::uint64_t seed) {
    std::lock_guard lock(mu_);
    std::mt19937_64 rng(seed);
    for (auto& [path, f] : files_) {
      if (f.written <= f.synced) continue;
      std::uint64_t keep = f.synced + rng() % (f.written - f.synced + 1);
      std::error_code ec;
      std::filesystem::resize_file(path, keep, ec);
      dropped_ += f.written - keep;
      f.written = f.synced = keep;
    }
  }

  // Unsynced bytes that Crash() has thrown away so far.
  std::uint64_t dropped_bytes() {
    std::lock_guard lock(mu_);
    return dropped_;
  }

  Result<std::unique_ptr<WritableFile>> OpenAppendable(const std::string& path) override {
    auto f = DefaultEnv().OpenAppendable(path);
    if (!f.ok()) return f.status();
    {
      std::lock_guard lock(mu_);
      std::uint64_t size = (*f)->Size();
      files_[path] = {size, size};
    }
    return std::unique_ptr<WritableFile>(new File(*this, path, std::move(f).value()));
  }
  Result<std::string> ReadWholeFile(const std::string& p) override {
    return DefaultEnv().ReadWholeFile(p);
  }
  Status Truncate(const std::string& p, std::uint64_t n) override {
    return DefaultEnv().Truncate(p, n);
  }
  Status CreateDirs(const std::string& p) override { return DefaultEnv().CreateDirs(p); }
  Result<std::vector<std::string>> ListFiles(const std::string& d) override {
    return DefaultEnv().ListFiles(d);
  }
  bool Exists(const std::string& p) override { return DefaultEnv().Exists(p); }
  Status SyncDir(const std::string& d) override { return DefaultEnv().SyncDir(d); }
  Status RenameFile(const std::string& from, const std::string& to) override {
    std::lock_guard lock(mu_);
    if (off_) return Status::IoError("power is off");
    auto it = files_.find(from);
    if (it != files_.end()) {
      files_[to] = it->second;
      files_.erase(it);
    }
    return DefaultEnv().RenameFile(from, to);
  }
  Status RemoveFile(const std::string& p) override {
    std::lock_guard lock(mu_);
    if (off_) return Status::IoError("power is off");
    files_.erase(p);
    return DefaultEnv().RemoveFile(p);
  }

 private:
  void WaitWhileHeld(std::unique_lock<std::mutex>& lock, const std::string& path) {
    auto held = [&] { return !held_suffix_.empty() && path.ends_with(held_suffix_); };
    if (!held()) return;
    ++held_writers_;
    cv_.wait(lock, [&] { return !held(); });
    --held_writers_;
  }

  bool FailsWrites(const std::string& path) const {
    return !fail_suffix_.empty() && path.ends_with(fail_suffix_);
  }

  class File : public WritableFile {
   public:
    File(FaultEnv& env, std::string path, std::unique_ptr<WritableFile> base)
        : env_(env), path_(std::move(path)), base_(std::move(base)) {}
    Status Append(std::string_view d) override {
      {
        std::unique_lock lock(env_.mu_);
        env_.WaitWhileHeld(lock, path_);
        if (env_.off_) return Status::IoError("power is off");
        if (env_.FailsWrites(path_)) return Status::IoError("injected write failure");
      }
      Status s = base_->Append(d);
      std::lock_guard lock(env_.mu_);
      auto it = env_.files_.find(path_);
      if (s.ok() && it != env_.files_.end()) it->second.written += d.size();
      return s;
    }
    Status Sync() override {
      std::unique_lock lock(env_.mu_);
      ++env_.syncs_;
      env_.cv_.wait(lock, [&] { return !env_.held_; });
      env_.WaitWhileHeld(lock, path_);
      if (env_.FailsWrites(path_)) return Status::IoError("injected fsync failure");
      if (env_.fail_) return Status::IoError("injected fsync failure");
      if (env_.off_) return Status::IoError("power is off");
      lock.unlock();
      Status s = base_->Sync();
      lock.lock();
      auto it = env_.files_.find(path_);
      if (s.ok() && it != env_.files_.end()) it->second.synced = it->second.written;
      return s;
    }
    Status Close() override { return base_->Close(); }
    std::uint64_t Size() const override { return base_->Size(); }

   private:
    FaultEnv& env_;
    std::string path_;  // renames of open files are not followed (the code renames closed ones)
    std::unique_ptr<WritableFile> base_;
  };
  struct FileState {
    std::uint64_t synced = 0, written = 0;
  };
  std::map<std::string, FileState> files_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  std::string held_suffix_;  // HoldWrites
  std::string fail_suffix_;  // FailWrites
  int held_writers_ = 0;
  bool fail_ = false;
  bool off_ = false;
  std::uint64_t dropped_ = 0;
  int syncs_ = 0;
};

}  // namespace aquawatch::testing
