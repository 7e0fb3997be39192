// A directory under the system temp dir, removed with everything in it at scope exit.
#pragma once

#include <filesystem>
#include <random>
#include <string>

namespace epochcache::worker::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("ec-worker-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// `size` bytes that differ from page to page and from `seed` to `seed`.
inline std::string PatternBytes(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  std::mt19937 gen(seed);
  for (auto& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

}  // namespace epochcache::worker::testing
