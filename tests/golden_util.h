// Reading the golden files written by scripts/reference/: a JSON index plus
// a little-endian float32 file of logits blocks {offset_bytes, rows, cols}.
#pragma once

#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "numeric_util.h"

namespace swiftkv::testing {

inline nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Reads one logits block of `logits_file` as rows * cols floats.
inline std::vector<float> read_logits_block(const std::string& logits_file, const nlohmann::json& block) {
  const int64_t offset = block.at("offset_bytes").get<int64_t>();
  const int64_t count = block.at("rows").get<int64_t>() * block.at("cols").get<int64_t>();
  std::vector<float> values(static_cast<size_t>(count));
  std::ifstream in(logits_file, std::ios::binary);
  in.seekg(offset);
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(count * sizeof(float)));
  if (!in) values.clear();
  return values;
}

inline int32_t argmax(const std::vector<float>& values) {
  int32_t best = 0;
  for (size_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  return best;
}

}  // namespace swiftkv::testing
