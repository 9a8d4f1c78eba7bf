// Helpers shared by the formats tests: a temporary directory and file writers.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace swiftkv::testing {

inline std::string stories_dir() { return SWIFTKV_SOURCE_DIR "/../shared/models/stories260K"; }
inline std::string smollm2_gguf() { return SWIFTKV_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf"; }

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/swiftkv_formats_test_XXXXXX";
    const char* created = ::mkdtemp(pattern);
    EXPECT_NE(created, nullptr);
    path_ = created == nullptr ? "/tmp" : created;
  }
  ~TempDir() {
    std::error_code ignored;
    if (path_ != "/tmp") std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream stream(path, std::ios::binary | std::ios::trunc);
  stream.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream stream(path, std::ios::binary | std::ios::trunc);
  stream << text;
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
}

// Appends little-endian values and GGUF strings to a byte buffer.
class ByteWriter {
 public:
  template <typename T>
  ByteWriter& put(T value) {
    const size_t at = bytes.size();
    bytes.resize(at + sizeof(T));
    std::memcpy(bytes.data() + at, &value, sizeof(T));
    return *this;
  }
  ByteWriter& put_string(const std::string& text) {
    put<uint64_t>(text.size());
    bytes.insert(bytes.end(), text.begin(), text.end());
    return *this;
  }
  ByteWriter& pad_to(size_t alignment) {
    while (bytes.size() % alignment != 0) bytes.push_back(0);
    return *this;
  }
  std::vector<uint8_t> bytes;
};

}  // namespace swiftkv::testing
