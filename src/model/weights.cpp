#include "model/weights.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace swiftkv {
namespace {

// A NaN or infinite weight can only come from a corrupt file. The float
// formats would turn it into NaN logits at the first step, while int8 and q4
// would pack it as zero, so it is rejected here for every format alike.
void check_finite(const std::vector<float>& values, const TensorView& view) {
  const auto bad = std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
  if (bad == values.end()) return;
  // Quantized blocks store integers, so there only a block's scale can be bad.
  std::string cause;
  if (dtype_block_elements(view.dtype) > 1) {
    cause = std::string(", from a NaN or infinite block scale of this ") + dtype_name(view.dtype) + " tensor";
  }
  fail("tensor '%s' in '%s' contains a non-finite value (%f at element %lld%s); the file is corrupt, so convert "
       "or download it again",
       view.name.c_str(), view.file.c_str(), static_cast<double>(*bad), static_cast<long long>(bad - values.begin()),
       cause.c_str());
}

Weight read(const TensorSource& tensors, const std::string& name, std::vector<int64_t> shape) {
  Weight weight;
  weight.values = tensors.read_f32(name, shape);
  const TensorView& view = tensors.get(name);
  check_finite(weight.values, view);
  weight.source_dtype = view.dtype;
  weight.shape = std::move(shape);
  return weight;
}

std::string layer_prefix(int64_t layer) { return "model.layers." + std::to_string(layer) + "."; }

void load_swiftkv_layer(const ModelConfig& config, const TensorSource& tensors, int64_t layer,
                        LayerWeights& out) {
  const int64_t D = config.hidden_size;
  const int64_t q_rows = config.num_attention_heads * config.head_dim;
  const int64_t kv_rows = config.num_key_value_heads * config.head_dim;
  const std::string prefix = layer_prefix(layer) + "self_attn.";

  out.q_proj_swiftkv = read(tensors, prefix + "q_proj_swiftkv.weight", {q_rows, D});
  if (config.attention_bias) out.q_bias_swiftkv = read(tensors, prefix + "q_proj_swiftkv.bias", {q_rows});
  if (swiftkv_leader(config, layer) != layer) return;
  out.k_proj_swiftkv = read(tensors, prefix + "k_proj_swiftkv.weight", {kv_rows, D});
  out.v_proj_swiftkv = read(tensors, prefix + "v_proj_swiftkv.weight", {kv_rows, D});
  if (config.attention_bias) {
    out.k_bias_swiftkv = read(tensors, prefix + "k_proj_swiftkv.bias", {kv_rows});
    out.v_bias_swiftkv = read(tensors, prefix + "v_proj_swiftkv.bias", {kv_rows});
  }
}

LayerWeights load_layer(const ModelConfig& config, const TensorSource& tensors, int64_t layer) {
  const int64_t D = config.hidden_size;
  const int64_t F = config.intermediate_size;
  const int64_t q_rows = config.num_attention_heads * config.head_dim;
  const int64_t kv_rows = config.num_key_value_heads * config.head_dim;
  const std::string prefix = layer_prefix(layer);

  LayerWeights out;
  out.input_norm = read(tensors, prefix + "input_layernorm.weight", {D});
  out.q_proj = read(tensors, prefix + "self_attn.q_proj.weight", {q_rows, D});
  out.k_proj = read(tensors, prefix + "self_attn.k_proj.weight", {kv_rows, D});
  out.v_proj = read(tensors, prefix + "self_attn.v_proj.weight", {kv_rows, D});
  if (config.attention_bias) {
    out.q_bias = read(tensors, prefix + "self_attn.q_proj.bias", {q_rows});
    out.k_bias = read(tensors, prefix + "self_attn.k_proj.bias", {kv_rows});
    out.v_bias = read(tensors, prefix + "self_attn.v_proj.bias", {kv_rows});
  }
  out.o_proj = read(tensors, prefix + "self_attn.o_proj.weight", {D, q_rows});
  out.post_attn_norm = read(tensors, prefix + "post_attention_layernorm.weight", {D});
  out.gate_proj = read(tensors, prefix + "mlp.gate_proj.weight", {F, D});
  out.up_proj = read(tensors, prefix + "mlp.up_proj.weight", {F, D});
  out.down_proj = read(tensors, prefix + "mlp.down_proj.weight", {D, F});

  if (config.swiftkv && layer >= config.num_key_value_layers) {
    load_swiftkv_layer(config, tensors, layer, out);
  }
  return out;
}

}  // namespace

ModelWeights load_weights(const ModelConfig& config, const TensorSource& tensors) {
  const int64_t D = config.hidden_size;
  const int64_t V = config.vocab_size;

  ModelWeights weights;
  weights.embed_tokens = read(tensors, "model.embed_tokens.weight", {V, D});
  weights.layers.reserve(static_cast<size_t>(config.num_hidden_layers));
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    weights.layers.push_back(load_layer(config, tensors, layer));
  }
  weights.final_norm = read(tensors, "model.norm.weight", {D});
  // A tied checkpoint may still store lm_head.weight; transformers ignores it.
  if (!config.tie_word_embeddings) {
    weights.lm_head = read(tensors, "lm_head.weight", {V, D});
  }
  if (config.swiftkv) weights.norm_swiftkv = read(tensors, "model.norm_swiftkv.weight", {D});
  return weights;
}

}  // namespace swiftkv
