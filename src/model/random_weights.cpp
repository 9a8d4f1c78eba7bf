#include "model/random_weights.h"

#include <cmath>
#include <random>

namespace swiftkv {
namespace {

class WeightDrawer {
 public:
  explicit WeightDrawer(uint64_t seed) : engine_(seed) {}

  Weight uniform(std::vector<int64_t> shape, float center, float half_width) {
    Weight weight;
    int64_t count = 1;
    for (int64_t dim : shape) count *= dim;
    weight.shape = std::move(shape);
    weight.values.resize(static_cast<size_t>(count));
    for (float& value : weight.values) {
      // Top 24 bits of the raw output: the same values on every platform.
      const float unit = static_cast<float>(engine_() >> 40) / static_cast<float>(1 << 24);
      value = center + (2.0f * unit - 1.0f) * half_width;
    }
    return weight;
  }

  Weight linear(int64_t out_features, int64_t in_features) {
    return uniform({out_features, in_features}, 0.0f, 1.0f / std::sqrt(static_cast<float>(in_features)));
  }
  Weight norm(int64_t size) { return uniform({size}, 1.0f, 0.2f); }
  Weight bias(int64_t size) { return uniform({size}, 0.0f, 0.05f); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace

ModelWeights random_weights(const ModelConfig& config, uint64_t seed) {
  WeightDrawer draw(seed);
  const int64_t D = config.hidden_size;
  const int64_t F = config.intermediate_size;
  const int64_t q_rows = config.num_attention_heads * config.head_dim;
  const int64_t kv_rows = config.num_key_value_heads * config.head_dim;

  ModelWeights weights;
  weights.embed_tokens = draw.uniform({config.vocab_size, D}, 0.0f, 1.0f);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    LayerWeights layer;
    layer.input_norm = draw.norm(D);
    layer.q_proj = draw.linear(q_rows, D);
    layer.k_proj = draw.linear(kv_rows, D);
    layer.v_proj = draw.linear(kv_rows, D);
    if (config.attention_bias) {
      layer.q_bias = draw.bias(q_rows);
      layer.k_bias = draw.bias(kv_rows);
      layer.v_bias = draw.bias(kv_rows);
    }
    layer.o_proj = draw.linear(D, q_rows);
    layer.post_attn_norm = draw.norm(D);
    layer.gate_proj = draw.linear(F, D);
    layer.up_proj = draw.linear(F, D);
    layer.down_proj = draw.linear(D, F);
    if (config.swiftkv && i >= config.num_key_value_layers) {
      layer.q_proj_swiftkv = draw.linear(q_rows, D);
      if (config.attention_bias) layer.q_bias_swiftkv = draw.bias(q_rows);
      if (swiftkv_leader(config, i) == i) {
        layer.k_proj_swiftkv = draw.linear(kv_rows, D);
        layer.v_proj_swiftkv = draw.linear(kv_rows, D);
        if (config.attention_bias) {
          layer.k_bias_swiftkv = draw.bias(kv_rows);
          layer.v_bias_swiftkv = draw.bias(kv_rows);
        }
      }
    }
    weights.layers.push_back(std::move(layer));
  }
  weights.final_norm = draw.norm(D);
  if (!config.tie_word_embeddings) weights.lm_head = draw.linear(config.vocab_size, D);
  if (config.swiftkv) weights.norm_swiftkv = draw.norm(D);
  return weights;
}

}  // namespace swiftkv
