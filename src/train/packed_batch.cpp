#include "train/packed_batch.h"

#include "core/error.h"

namespace swiftkv {

void PackedBatch::append(const std::vector<int32_t>& sequence, const std::vector<uint8_t>& mask) {
  SKV_ASSERT(sequence.size() == mask.size());
  const auto start = static_cast<int32_t>(tokens.size());
  for (size_t i = 0; i < sequence.size(); ++i) {
    tokens.push_back(sequence[i]);
    positions.push_back(static_cast<int32_t>(i));
    seq_start.push_back(start);
    loss_mask.push_back(mask[i]);
  }
  ++num_sequences;
}

}  // namespace swiftkv
