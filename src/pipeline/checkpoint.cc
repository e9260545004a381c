#include "pipeline/checkpoint.h"

#include "core/crc32c.h"

namespace aquawatch {
namespace {

// Version 3: one `T` entry per sensor with its custom values and head series, in any order, so
// a shard can write them as it captures them (docs/format/checkpoint.md). Version 2 (`S`, `C`,
// `H`) is still read.
constexpr std::string_view kMagic = "AQWCKP03";
constexpr std::string_view kMagicVersion2 = "AQWCKP02";
constexpr std::string_view kMagicVersion1 = "AQWCKP01";

}  // namespace

Result<std::unique_ptr<CheckpointWriter>> CheckpointWriter::Create(Env& env, std::string dir,
                                                                   std::string name) {
  std::string tmp = dir + "/" + name + ".tmp";
  Status s = env.RemoveFile(tmp);  // a leftover from a crash mid-checkpoint
  if (!s.ok()) return s;
  auto file = env.OpenAppendable(tmp);
  if (!file.ok()) return file.status();
  s = (*file)->Append(kMagic);
  if (!s.ok()) {
    (void)(*file)->Close();
    (void)env.RemoveFile(tmp);
    return s;
  }
  return std::unique_ptr<CheckpointWriter>(
      new CheckpointWriter(env, std::move(dir), std::move(name), std::move(file).value()));
}

Status CheckpointWriter::AddRecord(std::string_view payload) {
  char header[8];
  const auto length = static_cast<std::uint32_t>(payload.size());
  const std::uint32_t crc = Crc32c(payload);
  std::memcpy(header, &length, 4);
  std::memcpy(header + 4, &crc, 4);
  bytes_ += sizeof(header) + payload.size();
  Status s = file_->Append(std::string_view(header, sizeof(header)));
  if (s.ok()) s = file_->Append(payload);
  return s;
}

Status CheckpointWriter::Finish(std::uint64_t sensors, std::uint64_t series,
                                const std::function<Status()>& before_publish) {
  std::string end(1, 'E');
  FieldWriter w(end);
  w.Put<std::uint64_t>(sensors);
  w.Put<std::uint64_t>(series);
  Status s = AddRecord(end);
  if (s.ok()) s = file_->Sync();
  if (s.ok()) s = file_->Close();
  if (s.ok() && before_publish) s = before_publish();
  const std::string tmp = dir_ + "/" + name_ + ".tmp";
  if (s.ok()) s = env_.RenameFile(tmp, dir_ + "/" + name_);
  if (s.ok()) s = env_.SyncDir(dir_);
  return s;
}

void CheckpointWriter::Abandon() {
  (void)file_->Close();
  Status s = env_.RemoveFile(dir_ + "/" + name_ + ".tmp");
  (void)s;  // a leftover .tmp is deleted at the next start anyway
}

bool CheckpointReader::Next(char* type, std::string_view* entries) {
  if (!status_.ok()) return false;
  if (pos_ == 0) {
    if (bytes_.substr(0, kMagic.size()) == kMagicVersion1) {
      status_ = Status::Corruption(
          "checkpoint format 1 was written by an older aquawatch; this one reads formats 2 and 3");
      return false;
    }
    if (bytes_.substr(0, kMagic.size()) == kMagic) {
      version_ = 3;
    } else if (bytes_.substr(0, kMagic.size()) == kMagicVersion2) {
      version_ = 2;
    } else {
      status_ = Status::Corruption("not a checkpoint (bad magic)");
      return false;
    }
    pos_ = kMagic.size();
  }
  FieldReader header(bytes_.substr(pos_, 8));
  const auto length = header.Get<std::uint32_t>();
  const auto crc = header.Get<std::uint32_t>();
  if (!header.ok() || length == 0 || bytes_.size() - pos_ - 8 < length) {
    status_ = Status::Corruption("checkpoint ends without its end record at offset " +
                                 std::to_string(pos_));
    return false;
  }
  std::string_view payload = bytes_.substr(pos_ + 8, length);
  if (Crc32c(payload) != crc) {
    status_ = Status::Corruption("checkpoint record at offset " + std::to_string(pos_) +
                                 " fails its CRC");
    return false;
  }
  pos_ += 8 + length;
  *type = payload[0];
  *entries = payload.substr(1);
  if (*type == 'E') {
    end_ = *entries;
    if (pos_ != bytes_.size()) {
      status_ = Status::Corruption("bytes after the checkpoint's end record");
    }
    return false;
  }
  return true;
}

}  // namespace aquawatch
