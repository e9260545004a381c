// An Env that wraps the real one and lets a test hold or fail every Sync().
#pragma once

#include <condition_variable>
#include <mutex>

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
  void FailSyncs(bool fail) {
    std::lock_guard lock(mu_);
    fail_ = fail;
  }
  int syncs() {
    std::lock_guard lock(mu_);
    return syncs_;
  }

  Result<std::unique_ptr<WritableFile>> OpenAppendable(const std::string& path) override {
    auto f = DefaultEnv().OpenAppendable(path);
    if (!f.ok()) return f.status();
    return std::unique_ptr<WritableFile>(new File(*this, std::move(f).value()));
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

 private:
  class File : public WritableFile {
   public:
    File(FaultEnv& env, std::unique_ptr<WritableFile> base) : env_(env), base_(std::move(base)) {}
    Status Append(std::string_view d) override { return base_->Append(d); }
    Status Sync() override {
      std::unique_lock lock(env_.mu_);
      ++env_.syncs_;
      env_.cv_.wait(lock, [&] { return !env_.held_; });
      if (env_.fail_) return Status::IoError("injected fsync failure");
      lock.unlock();
      return base_->Sync();
    }
    Status Close() override { return base_->Close(); }
    std::uint64_t Size() const override { return base_->Size(); }

   private:
    FaultEnv& env_;
    std::unique_ptr<WritableFile> base_;
  };

  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  bool fail_ = false;
  int syncs_ = 0;
};

}  // namespace aquawatch::testing
