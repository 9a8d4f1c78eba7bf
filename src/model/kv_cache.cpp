#include "model/kv_cache.h"

#include "core/error.h"
#include "model/weights.h"

namespace swiftkv {

KVCache::KVCache(const ModelConfig& config, bool swiftkv, int64_t num_sequences, int64_t capacity)
    : num_sequences_(num_sequences),
      capacity_(capacity),
      row_floats_(config.num_key_value_heads * config.head_dim) {
  SKV_ASSERT(!swiftkv || config.swiftkv);
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
  const int64_t floats = num_sequences_ * num_slots_ * capacity_ * row_floats_;
  keys_.assign(static_cast<size_t>(floats), 0.0f);
  values_.assign(static_cast<size_t>(floats), 0.0f);
}

}  // namespace swiftkv
