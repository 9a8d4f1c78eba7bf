// Model weights in float32, loaded from a TensorSource by Hugging Face name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/model_config.h"
#include "formats/tensor_source.h"

namespace swiftkv {

// A float32 matrix or vector; linear weights are [out_features, in_features].
struct Weight {
  std::vector<int64_t> shape;
  std::vector<float> values;
  DType source_dtype = DType::kF32;  // how the checkpoint stores it

  bool empty() const { return values.empty(); }
  const float* data() const { return values.empty() ? nullptr : values.data(); }
};

struct LayerWeights {
  Weight input_norm;     // [D]
  Weight q_proj;         // [H*DH, D]
  Weight k_proj;         // [HKV*DH, D]
  Weight v_proj;         // [HKV*DH, D]
  Weight q_bias;         // [H*DH] (qwen2 only)
  Weight k_bias;         // [HKV*DH]
  Weight v_bias;         // [HKV*DH]
  Weight o_proj;         // [D, H*DH]
  Weight post_attn_norm; // [D]
  Weight gate_proj;      // [F, D]
  Weight up_proj;        // [F, D]
  Weight down_proj;      // [D, F]

  // SwiftKV: q for layers >= K; k/v for group leaders only.
  Weight q_proj_swiftkv;  // [H*DH, D]
  Weight q_bias_swiftkv;  // [H*DH]
  Weight k_proj_swiftkv;  // [HKV*DH, D]
  Weight k_bias_swiftkv;  // [HKV*DH]
  Weight v_proj_swiftkv;  // [HKV*DH, D]
  Weight v_bias_swiftkv;  // [HKV*DH]
};

struct ModelWeights {
  Weight embed_tokens;  // [V, D]
  std::vector<LayerWeights> layers;
  Weight final_norm;    // [D]
  Weight lm_head;       // [V, D]; empty when tied to embed_tokens
  Weight norm_swiftkv;  // [D]; SwiftKV checkpoints only

  const Weight& output_weight() const { return lm_head.empty() ? embed_tokens : lm_head; }
};

// Reads every tensor `config` implies, checking shapes; throws Error naming
// the tensor and file for a missing tensor or a shape mismatch.
ModelWeights load_weights(const ModelConfig& config, const TensorSource& tensors);

// Group leader of SwiftKV layer i >= K: K + floor((i - K) / G) * G.
inline int64_t swiftkv_leader(const ModelConfig& config, int64_t layer) {
  const int64_t K = config.num_key_value_layers;
  const int64_t G = config.key_value_group_size;
  return K + (layer - K) / G * G;
}

}  // namespace swiftkv
