// A packed micro-batch: several token sequences back to back in one row
// list, with attention confined to each sequence.
#pragma once

#include <cstdint>
#include <vector>

namespace swiftkv {

struct PackedBatch {
  std::vector<int32_t> tokens;     // [T]
  std::vector<int32_t> positions;  // position of each row inside its own sequence
  std::vector<int32_t> seq_start;  // first row of each row's sequence
  std::vector<uint8_t> loss_mask;  // 1 where the KL loss counts
  int64_t num_sequences = 0;

  int64_t rows() const { return static_cast<int64_t>(tokens.size()); }
  // Appends one sequence; `mask` has one entry per token.
  void append(const std::vector<int32_t>& sequence, const std::vector<uint8_t>& mask);
};

}  // namespace swiftkv
