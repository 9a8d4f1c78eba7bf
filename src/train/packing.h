// Packing tokenized conversations into micro-batches for distillation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "train/packed_batch.h"

namespace swiftkv {

struct TrainingSequence {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> mask;  // 1 on rows whose logits the KL loss counts (next token is the assistant's)
};

// The micro-batches of one epoch: sequences taken in `order`, packed
// greedily into packs of at most `max_length` tokens, `packs_per_micro_batch`
// packs per micro-batch (the last one may have fewer). Every sequence must
// fit in max_length.
std::vector<PackedBatch> pack_epoch(const std::vector<TrainingSequence>& sequences, const std::vector<size_t>& order,
                                    int64_t max_length, int64_t packs_per_micro_batch);

// 0..n-1 shuffled by a generator seeded with `seed` (the same on every run).
std::vector<size_t> shuffled_order(size_t n, uint64_t seed);

}  // namespace swiftkv
