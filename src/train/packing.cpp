#include "train/packing.h"

#include <numeric>
#include <random>

#include "core/error.h"

namespace swiftkv {

std::vector<PackedBatch> pack_epoch(const std::vector<TrainingSequence>& sequences, const std::vector<size_t>& order,
                                    int64_t max_length, int64_t packs_per_micro_batch) {
  SKV_ASSERT(max_length > 0 && packs_per_micro_batch > 0);
  // Packs first, as lists of sequence indices.
  std::vector<std::vector<size_t>> packs;
  int64_t pack_tokens = 0;
  for (size_t index : order) {
    const auto length = static_cast<int64_t>(sequences[index].tokens.size());
    SKV_ASSERT(length > 0 && length <= max_length);
    if (packs.empty() || pack_tokens + length > max_length) {
      packs.emplace_back();
      pack_tokens = 0;
    }
    packs.back().push_back(index);
    pack_tokens += length;
  }
  std::vector<PackedBatch> micro_batches;
  for (size_t p = 0; p < packs.size(); ++p) {
    if (p % static_cast<size_t>(packs_per_micro_batch) == 0) micro_batches.emplace_back();
    for (size_t index : packs[p]) micro_batches.back().append(sequences[index].tokens, sequences[index].mask);
  }
  return micro_batches;
}

std::vector<size_t> shuffled_order(size_t n, uint64_t seed) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  // Fisher-Yates with our own index draw: std::shuffle and the standard
  // distributions may differ between standard libraries.
  std::mt19937_64 rng(seed);
  for (size_t i = n; i > 1; --i) {
    const size_t j = static_cast<size_t>(rng() % i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

}  // namespace swiftkv
