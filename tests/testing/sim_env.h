// SimEnv: an in-memory file system with a crash model, for crash-consistency tests in the style
// of LevelDB's FaultInjectionTestEnv.
//
// Every file keeps what was written and how much of it a Sync() made durable; every directory
// keeps its entries and the entries a SyncDir() made durable. Crash() forgets what was not
// durable: directory entries go back to their last SyncDir (a file created, renamed or removed
// since comes back, or goes, accordingly), and each file keeps its synced bytes plus a random
// part of the rest, sometimes ending in zeros (a file system that extended the file before its
// data landed). Faults:
//   - CrashAtOp(n): the n-th mutating call (create, append, sync, truncate, rename, remove,
//     directory sync) and every one after it fail, as if power went at that instant;
//   - FailOp(n): only the n-th mutating call fails (an I/O error the code must survive);
//   - SetCapacity(bytes): appends past the capacity write what fits and fail with "No space
//     left on device", until the capacity is raised.
// Reads always work. Paths are plain strings; directories need not exist on disk.
// Thread-safety: every method may be called from any thread (one mutex).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/env.h"

namespace aquawatch::testing {

class SimEnv : public Env {
 public:
  static constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();

  void CrashAtOp(std::uint64_t n) {
    std::lock_guard lock(mu_);
    crash_at_ = n;
  }
  void FailOp(std::uint64_t n) {
    std::lock_guard lock(mu_);
    fail_at_ = n;
  }
  void SetCapacity(std::uint64_t bytes) {
    std::lock_guard lock(mu_);
    capacity_ = bytes;
  }
  // Mutating calls so far (the next one is number ops() + 1).
  std::uint64_t ops() {
    std::lock_guard lock(mu_);
    return ops_;
  }
  bool powered_off() {
    std::lock_guard lock(mu_);
    return off_;
  }
  std::uint64_t used_bytes() {
    std::lock_guard lock(mu_);
    return Used();
  }

  // A power cut, then power comes back (faults are cleared). Open files must be closed first:
  // their handles keep writing into the forgotten state otherwise.
  void Crash(std::uint64_t seed) {
    std::lock_guard lock(mu_);
    std::mt19937_64 rng(seed);
    for (auto& [path, dir] : dirs_) dir.live = dir.durable;
    std::set<Inode*> seen;
    for (auto& [path, dir] : dirs_) {
      for (auto& [name, inode] : dir.live) {
        if (!seen.insert(inode.get()).second) continue;
        std::string& d = inode->data;
        if (d.size() > inode->synced) {
          const std::uint64_t unsynced = d.size() - inode->synced;
          std::uint64_t keep = inode->synced + rng() % (unsynced + 1);
          d.resize(keep);
          // Sometimes the kept tail never reached the disk and reads back as zeros.
          if (keep > inode->synced && rng() % 4 == 0) {
            std::uint64_t zeros = 1 + rng() % (keep - inode->synced);
            std::fill(d.end() - static_cast<std::ptrdiff_t>(zeros), d.end(), '\0');
          }
        }
        inode->synced = d.size();
      }
    }
    off_ = false;
    crash_at_ = fail_at_ = kNever;
  }

  Result<std::unique_ptr<WritableFile>> OpenAppendable(const std::string& path) override {
    std::lock_guard lock(mu_);
    if (Status s = Op("open " + path); !s.ok()) return s;
    auto [dir, name] = Split(path);
    Dir* d = FindDir(dir);
    if (d == nullptr) return Status::IoError("open " + path + ": no such directory");
    std::shared_ptr<Inode>& inode = d->live[name];
    if (inode == nullptr) inode = std::make_shared<Inode>();
    return std::unique_ptr<WritableFile>(new File(*this, inode, path));
  }

  Result<std::string> ReadWholeFile(const std::string& path) override {
    std::lock_guard lock(mu_);
    auto [dir, name] = Split(path);
    Dir* d = FindDir(dir);
    if (d == nullptr || !d->live.contains(name)) {
      return Status::IoError("open " + path + ": no such file");
    }
    return d->live[name]->data;
  }

  Status Truncate(const std::string& path, std::uint64_t size) override {
    std::lock_guard lock(mu_);
    if (Status s = Op("truncate " + path); !s.ok()) return s;
    auto [dir, name] = Split(path);
    Dir* d = FindDir(dir);
    if (d == nullptr || !d->live.contains(name)) {
      return Status::IoError("truncate " + path + ": no such file");
    }
    Inode& inode = *d->live[name];
    if (size < inode.data.size()) inode.data.resize(size);
    inode.synced = std::min<std::uint64_t>(inode.data.size(), size);  // the cut is durable
    return Status::Ok();
  }

  Status CreateDirs(const std::string& path) override {
    std::lock_guard lock(mu_);
    if (dirs_.contains(Normal(path))) return Status::Ok();
    if (Status s = Op("mkdir " + path); !s.ok()) return s;
    // Like the POSIX Env, new directories are durable at once (their parents are synced).
    for (std::string p = Normal(path); !p.empty(); p = Parent(p)) {
      dirs_[p];
      if (p == "/") break;
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListFiles(const std::string& dir) override {
    std::lock_guard lock(mu_);
    Dir* d = FindDir(Normal(dir));
    if (d == nullptr) return Status::IoError("list " + dir + ": no such directory");
    std::vector<std::string> names;
    for (const auto& [name, inode] : d->live) names.push_back(name);
    return names;  // std::map: sorted
  }

  bool Exists(const std::string& path) override {
    std::lock_guard lock(mu_);
    if (dirs_.contains(Normal(path))) return true;
    auto [dir, name] = Split(path);
    Dir* d = FindDir(dir);
    return d != nullptr && d->live.contains(name);
  }

  Status SyncDir(const std::string& dir) override {
    std::lock_guard lock(mu_);
    if (Status s = Op("fsync " + dir); !s.ok()) return s;
    Dir* d = FindDir(Normal(dir));
    if (d == nullptr) return Status::IoError("fsync " + dir + ": no such directory");
    d->durable = d->live;
    return Status::Ok();
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    std::lock_guard lock(mu_);
    if (Status s = Op("rename " + from); !s.ok()) return s;
    auto [fdir, fname] = Split(from);
    auto [tdir, tname] = Split(to);
    Dir* fd = FindDir(fdir);
    Dir* td = FindDir(tdir);
    if (fd == nullptr || td == nullptr || !fd->live.contains(fname)) {
      return Status::IoError("rename " + from + ": no such file");
    }
    std::shared_ptr<Inode> inode = fd->live[fname];
    fd->live.erase(fname);
    td->live[tname] = std::move(inode);
    return Status::Ok();
  }

  Status RemoveFile(const std::string& path) override {
    std::lock_guard lock(mu_);
    auto [dir, name] = Split(path);
    Dir* d = FindDir(dir);
    if (d == nullptr || !d->live.contains(name)) return Status::Ok();
    if (Status s = Op("unlink " + path); !s.ok()) return s;
    d->live.erase(name);
    return Status::Ok();
  }

 private:
  struct Inode {
    std::string data;
    std::uint64_t synced = 0;  // data[0, synced) is durable
  };
  struct Dir {
    std::map<std::string, std::shared_ptr<Inode>> live, durable;
  };

  class File : public WritableFile {
   public:
    File(SimEnv& env, std::shared_ptr<Inode> inode, std::string path)
        : env_(env), inode_(std::move(inode)), path_(std::move(path)) {}
    Status Append(std::string_view data) override {
      std::lock_guard lock(env_.mu_);
      if (Status s = env_.Op("write " + path_); !s.ok()) return s;
      const std::uint64_t used = env_.Used();
      if (used + data.size() > env_.capacity_) {
        const std::uint64_t room = env_.capacity_ > used ? env_.capacity_ - used : 0;
        inode_->data.append(data.substr(0, room));
        return Status::IoError("write " + path_ + ": No space left on device");
      }
      inode_->data.append(data);
      return Status::Ok();
    }
    Status Sync() override {
      std::lock_guard lock(env_.mu_);
      if (Status s = env_.Op("fdatasync " + path_); !s.ok()) return s;
      inode_->synced = inode_->data.size();
      return Status::Ok();
    }
    Status Close() override { return Status::Ok(); }
    std::uint64_t Size() const override {
      std::lock_guard lock(env_.mu_);
      return inode_->data.size();
    }

   private:
    SimEnv& env_;
    std::shared_ptr<Inode> inode_;
    std::string path_;
  };

  // Counts a mutating call and applies the faults. REQUIRES: mu_ held.
  Status Op(const std::string& what) {
    ++ops_;
    if (ops_ >= crash_at_) off_ = true;
    if (off_) return Status::IoError(what + ": power is off (simulated crash)");
    if (ops_ == fail_at_) return Status::IoError(what + ": injected I/O error");
    return Status::Ok();
  }

  std::uint64_t Used() const {
    std::uint64_t n = 0;
    std::set<const Inode*> seen;
    for (const auto& [path, dir] : dirs_) {
      for (const auto& [name, inode] : dir.live) {
        if (seen.insert(inode.get()).second) n += inode->data.size();
      }
    }
    return n;
  }

  static std::string Normal(std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
  }
  static std::string Parent(const std::string& p) {
    const std::size_t slash = p.rfind('/');
    if (slash == std::string::npos) return "";
    return slash == 0 ? "/" : p.substr(0, slash);
  }
  static std::pair<std::string, std::string> Split(const std::string& path) {
    const std::string p = Normal(path);
    return {Parent(p), p.substr(p.rfind('/') + 1)};
  }
  Dir* FindDir(const std::string& path) {
    auto it = dirs_.find(path);
    return it == dirs_.end() ? nullptr : &it->second;
  }

  std::mutex mu_;
  std::map<std::string, Dir> dirs_;
  std::uint64_t ops_ = 0;
  std::uint64_t crash_at_ = kNever, fail_at_ = kNever;
  std::uint64_t capacity_ = kNever;
  bool off_ = false;
};

}  // namespace aquawatch::testing
