#include "model/kv_cache.h"

#include "core/error.h"
#include "model/weights.h"

namespace swiftkv {
namespace {

// calloc, so the pages stay unmapped until a block is first written.
float* allocate_zeroed(int64_t floats) {
  void* memory = std::calloc(static_cast<size_t>(floats), sizeof(float));
  if (memory == nullptr) {
    fail("could not allocate %.1f MiB for the KV cache; lower --kv-cache-memory",
         static_cast<double>(floats) * sizeof(float) / (1024.0 * 1024.0));
  }
  return static_cast<float*>(memory);
}

}  // namespace

KVCache::KVCache(const ModelConfig& config, bool swiftkv, int64_t num_blocks, int64_t block_size)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      row_floats_(config.num_key_value_heads * config.head_dim) {
  SKV_ASSERT(!swiftkv || config.swiftkv);
  SKV_ASSERT(num_blocks >= 1 && block_size >= 1);
  const int64_t L = config.num_hidden_layers;
  slot_of_layer_.resize(static_cast<size_t>(L));
  for (int64_t layer = 0; layer < L; ++layer) {
    if (!swiftkv || layer < config.num_key_value_layers) {
      slot_of_layer_[layer] = num_slots_++;
    } else if (swiftkv_leader(config, layer) == layer) {
      slot_of_layer_[layer] = num_slots_++;
    } else {
      slot_of_layer_[layer] = slot_of_layer_[swiftkv_leader(config, layer)];
    }
  }
  const int64_t floats = num_blocks_ * num_slots_ * block_size_ * row_floats_;
  keys_.reset(allocate_zeroed(floats));
  values_.reset(allocate_zeroed(floats));
}

void KVCache::set_block_table(int64_t seq, std::vector<int32_t> table) {
  SKV_ASSERT(seq >= 0);
  for (int32_t block : table) SKV_ASSERT(block >= 0 && block < num_blocks_);
  if (seq >= num_sequences()) tables_.resize(static_cast<size_t>(seq + 1));
  tables_[static_cast<size_t>(seq)] = std::move(table);
}

int64_t num_kv_slots(const ModelConfig& config, bool swiftkv) {
  if (!swiftkv) return config.num_hidden_layers;
  const int64_t K = config.num_key_value_layers;
  return K + (config.num_hidden_layers - K) / config.key_value_group_size;
}

}  // namespace swiftkv
