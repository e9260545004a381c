#include "store/tsdb/block_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace aquawatch {
namespace {

constexpr const char* kFormat = "aquawatch-store 1";
const char* const kFamilyNames[kStoreLevels] = {"raw", "rollup_1m", "rollup_1h"};

void PutBigEndian(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t GetBigEndian(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string PartitionKey(std::uint32_t partition) {
  std::string key;
  PutBigEndian(key, partition, 4);
  return key;
}

// Key of one series' record: partition, sensor, 0, parameter, 0, chunk start.
std::string SeriesKey(std::uint32_t partition, std::string_view sensor, std::string_view parameter,
                      std::int64_t start_ns) {
  std::string key;
  key.reserve(4 + sensor.size() + parameter.size() + 10);
  PutBigEndian(key, partition, 4);
  key.append(sensor);
  key.push_back('\0');
  key.append(parameter);
  key.push_back('\0');
  PutBigEndian(key, static_cast<std::uint64_t>(start_ns), 8);
  return key;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  if (s.IsCorruption()) return Status::Corruption(fmt::format("{}: {}", what, s.ToString()));
  return Status::IoError(fmt::format("{}: {}", what, s.ToString()));
}

// RocksDB's own messages, in our log instead of its LOG file. The file was a hazard: on a full
// disk its writer fails once, and the next message aborts the process (Debian's RocksDB 7.8 is
// built with assertions; WritableFileWriter::AssertFalseAndGetStatusForPrevError).
class SpdlogRocksLogger final : public rocksdb::Logger {
 public:
  explicit SpdlogRocksLogger(std::string dir)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), dir_(std::move(dir)) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char buf[1024];
    std::vsnprintf(buf, sizeof buf, format, ap);
    const auto spd = level >= rocksdb::InfoLogLevel::ERROR_LEVEL  ? spdlog::level::err
                     : level >= rocksdb::InfoLogLevel::WARN_LEVEL ? spdlog::level::warn
                                                                  : spdlog::level::info;
    spdlog::log(spd, "store {}: rocksdb: {}", dir_, buf);
  }

 private:
  const std::string dir_;
};

class RocksBlockStore final : public BlockStore {
 public:
  RocksBlockStore(const BlockStoreOptions& options, std::unique_ptr<rocksdb::DB> db,
                  std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : options_(options), db_(std::move(db)), handles_(std::move(handles)) {
    // The partitions that hold data, so a read over a wide range seeks only where data can be.
    for (int level = 0; level < kStoreLevels; ++level) {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->NewIterator(rocksdb::ReadOptions(), Family(static_cast<StoreLevel>(level))));
      it->SeekToFirst();
      if (!it->Valid() || it->key().size() < 4) continue;
      first_partition_[level] = static_cast<std::uint32_t>(GetBigEndian(it->key().data(), 4));
      it->SeekToLast();
      if (it->Valid() && it->key().size() >= 4) {
        last_partition_[level] = static_cast<std::uint32_t>(GetBigEndian(it->key().data(), 4));
      }
    }
  }

  ~RocksBlockStore() override {
    // A clean close leaves no memtable behind, so RocksDB's own WAL is empty and the next open
    // replays nothing: the store's files are then its settled size.
    rocksdb::FlushOptions flush;
    flush.wait = true;
    if (!failed_.load()) {
      for (auto* h : handles_) (void)db_->Flush(flush, h);
    }
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  }

  Status Write(const SealedChunk& c) override {
    rocksdb::WriteBatch batch;
    auto put = [&](StoreLevel level, std::string_view value) {
      if (value.empty()) return;
      NotePartition(level, c.start_ns);
      batch.Put(Family(level), Key(level, c.sensor, c.parameter, c.start_ns),
                rocksdb::Slice(value.data(), value.size()));
    };
    put(StoreLevel::kRaw, c.chunk);
    put(StoreLevel::kRollup1m, c.rollup_1m);
    put(StoreLevel::kRollup1h, c.rollup_1h);
    if (Status failed = FailedStatus(); !failed.ok()) return failed;
    return Check(FromRocks(db_->Write(NoWal(), &batch), "writing a sealed chunk"));
  }

  Result<std::optional<std::string>> GetChunk(std::string_view sensor, std::string_view parameter,
                                              std::int64_t start_ns) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Family(StoreLevel::kRaw),
                                 Key(StoreLevel::kRaw, sensor, parameter, start_ns), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "reading a sealed chunk");
    return std::optional<std::string>(std::move(value));
  }

  Status Scan(StoreLevel level, std::string_view sensor, std::string_view parameter,
              std::int64_t from_ns, std::int64_t to_ns,
              const std::function<void(std::int64_t, std::string_view)>& fn) override {
    if (to_ns < from_ns || to_ns < 0) return Status::Ok();
    // A chunk that starts up to one span before `from` still overlaps it.
    const std::int64_t first_start =
        std::max<std::int64_t>(0, from_ns - options_.chunk_span_ns + 1);
    const std::int64_t span = options_.partition_span_ns[static_cast<int>(level)];
    const int l = static_cast<int>(level);
    const auto first = std::max(static_cast<std::uint32_t>(first_start / span),
                                first_partition_[l].load(std::memory_order_relaxed));
    const auto last =
        static_cast<std::uint32_t>(std::min<std::int64_t>(to_ns / span, last_partition_[l].load()));
    std::unique_ptr<rocksdb::Iterator> it;
    for (std::uint32_t part = first; part <= last; ++part) {
      std::string lo = SeriesKey(part, sensor, parameter, first_start);
      std::string hi = SeriesKey(part, sensor, parameter, to_ns);
      hi.push_back('\0');  // inclusive upper bound
      rocksdb::Slice upper(hi);
      rocksdb::ReadOptions ro;
      ro.iterate_upper_bound = &upper;
      it.reset(db_->NewIterator(ro, Family(level)));
      const std::size_t prefix = lo.size() - 8;
      for (it->Seek(lo); it->Valid(); it->Next()) {
        rocksdb::Slice k = it->key();
        if (k.size() != lo.size() || std::memcmp(k.data(), lo.data(), prefix) != 0) continue;
        auto start = static_cast<std::int64_t>(GetBigEndian(k.data() + prefix, 8));
        fn(start, std::string_view(it->value().data(), it->value().size()));
      }
      if (!it->status().ok()) return FromRocks(it->status(), "scanning the store");
    }
    return Status::Ok();
  }

  Status MakeDurable() override {
    if (Status failed = FailedStatus(); !failed.ok()) return failed;
    rocksdb::FlushOptions flush;
    flush.wait = true;
    return Check(FromRocks(db_->Flush(flush, handles_), "flushing the store"));
  }

  Status Resume() override {
    std::lock_guard lock(failure_mu_);
    if (!failed_.load()) return Status::Ok();
    Status s = FromRocks(db_->Resume(), "resuming the store");
    if (!s.ok()) return s;
    failed_.store(false);
    failure_ = Status::Ok();
    return Status::Ok();
  }

  Result<int> DropBefore(StoreLevel level, std::int64_t cutoff_ns) override {
    const std::int64_t span = options_.partition_span_ns[static_cast<int>(level)];
    // A partition's last chunk may start just before its end and run one chunk span past it
    // (staggered windows): it goes only once all of that is older than the cutoff, so retention
    // never drops a reading younger than it.
    cutoff_ns -= options_.chunk_span_ns;
    if (cutoff_ns < span) return 0;
    // Partitions 0 .. end-1 end at or before the cutoff.
    const auto end = static_cast<std::uint32_t>(cutoff_ns / span);
    std::string lo = PartitionKey(0), hi = PartitionKey(end);
    rocksdb::Slice b(lo), e(hi);
    if (Status failed = FailedStatus(); !failed.ok()) return failed;
    // Whole files first (free), then a range tombstone for what shares files with live data.
    Status s = FromRocks(rocksdb::DeleteFilesInRange(db_.get(), Family(level), &b, &e, false),
                         "dropping old store files");
    if (!s.ok()) return s;
    s = Check(
        FromRocks(db_->DeleteRange(NoWal(), Family(level), b, e), "dropping old store partitions"));
    if (!s.ok()) return s;
    const int l = static_cast<int>(level);
    const std::uint32_t had = first_partition_[l].load();
    std::uint32_t first = had;
    while (first < end && !first_partition_[l].compare_exchange_weak(first, end)) {
    }
    return had < end && last_partition_[l].load() >= had
               ? static_cast<int>(std::min(end, last_partition_[l].load() + 1) - had)
               : 0;
  }

  std::uint64_t DiskBytes() override {
    std::uint64_t total = 0, v = 0;
    for (auto* h : handles_) {
      if (db_->GetIntProperty(h, "rocksdb.live-sst-files-size", &v)) total += v;
    }
    rocksdb::VectorLogPtr logs;
    if (db_->GetSortedWalFiles(logs).ok()) {
      for (const auto& log : logs) total += log->SizeFileBytes();
    }
    return total;
  }

  StoreMemory Memory() override {
    StoreMemory m;
    std::uint64_t v = 0;
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
      m.memtables = v;
    }
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimateTableReadersMem, &v)) {
      m.table_readers = v;
    }
    // One cache serves every column family.
    if (db_->GetIntProperty(handles_[0], rocksdb::DB::Properties::kBlockCacheUsage, &v)) {
      m.block_cache = v;
    }
    return m;
  }

  std::uint64_t LevelBytes(StoreLevel level) override {
    std::uint64_t v = 0;
    db_->GetIntProperty(Family(level), "rocksdb.live-sst-files-size", &v);
    return v;
  }

  Status CompactAll() override {
    for (auto* h : handles_) {
      Status s = FromRocks(db_->Flush(rocksdb::FlushOptions(), h), "flushing the store");
      if (!s.ok()) return s;
      s = FromRocks(db_->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr),
                    "compacting the store");
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  // The store writes no WAL of its own: the shard logs already hold every reading of a chunk
  // not yet flushed (see the header), so RocksDB's WAL would write everything twice. It also
  // keeps the store off a RocksDB 7.8 path that aborts the process (Debian builds it with
  // assertions): a WAL file writer that failed once, e.g. on a full disk, is used again by the
  // next write (WritableFileWriter::AssertFalseAndGetStatusForPrevError).
  static rocksdb::WriteOptions NoWal() {
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    return wo;
  }

  // After the first failed write the store leaves RocksDB's write path alone until Resume() has
  // recovered it. Shard threads share the store.
  Status FailedStatus() {
    if (!failed_.load()) return Status::Ok();
    std::lock_guard lock(failure_mu_);
    return failure_.ok() ? Status::Ok()
                         : Status::IoError("store not writable since: " + failure_.message());
  }

  Status Check(Status s) {
    if (s.ok()) return s;
    std::lock_guard lock(failure_mu_);
    if (!failed_.load()) {
      failure_ = s;
      failed_.store(true);
    }
    return s;
  }

  rocksdb::ColumnFamilyHandle* Family(StoreLevel level) {
    return handles_[1 + static_cast<int>(level)];
  }

  std::string Key(StoreLevel level, std::string_view sensor, std::string_view parameter,
                  std::int64_t start_ns) const {
    const std::int64_t span = options_.partition_span_ns[static_cast<int>(level)];
    return SeriesKey(static_cast<std::uint32_t>(start_ns / span), sensor, parameter, start_ns);
  }

  BlockStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // default, then one per level
  void NotePartition(StoreLevel level, std::int64_t start_ns) {
    const int l = static_cast<int>(level);
    const auto p = static_cast<std::uint32_t>(start_ns / options_.partition_span_ns[l]);
    std::uint32_t cur = first_partition_[l].load();
    while (p < cur && !first_partition_[l].compare_exchange_weak(cur, p)) {
    }
    cur = last_partition_[l].load();
    while (p > cur && !last_partition_[l].compare_exchange_weak(cur, p)) {
    }
  }

  // [first, last] partitions that may hold data; first > last when empty.
  std::atomic<std::uint32_t> first_partition_[kStoreLevels] = {~0u, ~0u, ~0u};
  std::atomic<std::uint32_t> last_partition_[kStoreLevels] = {0, 0, 0};
  std::mutex failure_mu_;  // guards failure_; serialises Resume
  std::atomic<bool> failed_{false};
  Status failure_;  // the first failed write since the last Resume
};

}  // namespace

const char* StoreLevelName(StoreLevel level) { return kFamilyNames[static_cast<int>(level)]; }

Result<std::unique_ptr<BlockStore>> BlockStore::Open(const std::string& dir,
                                                     const BlockStoreOptions& options) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.info_log = std::make_shared<SpdlogRocksLogger>(dir);

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Chunks are already compressed; LZ4 still pays on the key prefixes and roll-up records.
  cf.compression = rocksdb::kLZ4Compression;
  cf.write_buffer_size = 32u << 20;

  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  families.emplace_back(rocksdb::kDefaultColumnFamilyName, cf);
  for (const char* name : kFamilyNames) families.emplace_back(name, cf);

  // Made here, so that RocksDB does not log a missing directory as an error on a first start.
  std::error_code dir_error;
  std::filesystem::create_directories(dir, dir_error);
  if (dir_error)
    return Status::IoError("creating the store at " + dir + ": " + dir_error.message());

  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, families, &handles, &raw);
  if (!s.ok()) return FromRocks(s, "opening the store at " + dir);
  std::unique_ptr<rocksdb::DB> db(raw);

  std::string format;
  s = db->Get(rocksdb::ReadOptions(), handles[0], "format", &format);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.sync = true;  // the only write that goes through RocksDB's WAL: one record, once
    s = db->Put(wo, handles[0], "format", kFormat);
    if (!s.ok()) format = "";
  } else if (s.ok() && format != kFormat) {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    return Status::InvalidArgument(fmt::format(
        "the store at {} has format \"{}\"; this build reads \"{}\"", dir, format, kFormat));
  }
  if (!s.ok()) {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    return FromRocks(s, "reading the store's format at " + dir);
  }
  return std::unique_ptr<BlockStore>(
      std::make_unique<RocksBlockStore>(options, std::move(db), std::move(handles)));
}

}  // namespace aquawatch
