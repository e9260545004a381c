// A directory under /tmp removed at scope exit, for tests that touch the file system.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace aquawatch::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "aquawatch-test-XXXXXX");
    char* made = ::mkdtemp(pattern.data());
    path_ = made != nullptr ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace aquawatch::testing
