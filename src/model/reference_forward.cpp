#include "model/reference_forward.h"

#include "kernels/ops_ref.h"
#include "model/model.h"

namespace swiftkv {
namespace {

struct Shapes {
  int64_t T, D, F, H, HKV, DH, V;
};

std::vector<float> apply_linear(const std::vector<float>& x, int64_t T, const Weight& w, const Weight& b) {
  std::vector<float> out(static_cast<size_t>(T * w.shape[0]));
  linear_ref(x.data(), w.data(), b.data(), T, w.shape[1], w.shape[0], out.data());
  return out;
}

std::vector<float> apply_rmsnorm(const std::vector<float>& x, int64_t T, const Weight& w, float eps) {
  std::vector<float> out(x.size());
  rmsnorm_ref(x.data(), w.data(), T, w.shape[0], eps, out.data());
  return out;
}

// Causal attention of q[T, H, DH] over k, v[T, HKV, DH]: row t attends to 0..t.
std::vector<float> causal_attention(const std::vector<float>& q, const std::vector<float>& k,
                                    const std::vector<float>& v, const Shapes& s) {
  std::vector<float> out(static_cast<size_t>(s.T * s.H * s.DH));
  for (int64_t t = 0; t < s.T; ++t) {
    attention_row_ref(q.data() + t * s.H * s.DH, k.data(), v.data(), t + 1, s.HKV * s.DH, s.H, s.HKV,
                      s.DH, out.data() + t * s.H * s.DH);
  }
  return out;
}

void add_into(std::vector<float>& acc, const std::vector<float>& x) {
  for (size_t i = 0; i < acc.size(); ++i) acc[i] += x[i];
}

}  // namespace

std::vector<float> reference_sequence_logits(const ModelConfig& config, const ModelWeights& weights,
                                             const std::vector<int32_t>& tokens, bool use_swiftkv) {
  const Shapes s{static_cast<int64_t>(tokens.size()), config.hidden_size, config.intermediate_size,
                 config.num_attention_heads, config.num_key_value_heads, config.head_dim,
                 config.vocab_size};
  const float eps = config.rms_norm_eps;
  const std::vector<float> inv_freq = rope_inv_freq(s.DH, config.rope_theta, rope_scaling_params(config));
  std::vector<int32_t> positions(tokens.size());
  for (size_t t = 0; t < tokens.size(); ++t) positions[t] = static_cast<int32_t>(t);

  // h_0 = token embeddings [T, D]
  std::vector<float> h(static_cast<size_t>(s.T * s.D));
  for (int64_t t = 0; t < s.T; ++t) {
    const float* row = weights.embed_tokens.data() + static_cast<int64_t>(tokens[t]) * s.D;
    std::copy(row, row + s.D, h.begin() + t * s.D);
  }

  std::vector<float> swiftkv_input;  // s = rmsnorm(h_K, norm_swiftkv), [T, D]
  std::vector<float> k, v;           // K/V of the current layer, [T, HKV, DH]
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    const LayerWeights& layer = weights.layers[static_cast<size_t>(i)];
    const bool swiftkv_layer = use_swiftkv && i >= config.num_key_value_layers;
    if (swiftkv_layer && i == config.num_key_value_layers) {
      swiftkv_input = apply_rmsnorm(h, s.T, weights.norm_swiftkv, eps);
    }

    // Attention block.
    const std::vector<float> x = apply_rmsnorm(h, s.T, layer.input_norm, eps);
    std::vector<float> q;
    if (swiftkv_layer) {
      q = apply_linear(x, s.T, layer.q_proj_swiftkv, layer.q_bias_swiftkv);
      const LayerWeights& leader = weights.layers[static_cast<size_t>(swiftkv_leader(config, i))];
      k = apply_linear(swiftkv_input, s.T, leader.k_proj_swiftkv, leader.k_bias_swiftkv);
      v = apply_linear(swiftkv_input, s.T, leader.v_proj_swiftkv, leader.v_bias_swiftkv);
    } else {
      q = apply_linear(x, s.T, layer.q_proj, layer.q_bias);
      k = apply_linear(x, s.T, layer.k_proj, layer.k_bias);
      v = apply_linear(x, s.T, layer.v_proj, layer.v_bias);
    }
    rope_ref(q.data(), positions.data(), s.T, s.H, s.DH, inv_freq);
    rope_ref(k.data(), positions.data(), s.T, s.HKV, s.DH, inv_freq);
    const std::vector<float> attn = causal_attention(q, k, v, s);
    add_into(h, apply_linear(attn, s.T, layer.o_proj, Weight()));

    // MLP block: h += down(silu(gate(x)) * up(x)).
    const std::vector<float> x2 = apply_rmsnorm(h, s.T, layer.post_attn_norm, eps);
    std::vector<float> gate = apply_linear(x2, s.T, layer.gate_proj, Weight());
    const std::vector<float> up = apply_linear(x2, s.T, layer.up_proj, Weight());
    silu_mul_ref(gate.data(), up.data(), static_cast<int64_t>(gate.size()), gate.data());
    add_into(h, apply_linear(gate, s.T, layer.down_proj, Weight()));
  }

  const std::vector<float> normed = apply_rmsnorm(h, s.T, weights.final_norm, eps);
  return apply_linear(normed, s.T, weights.output_weight(), Weight());
}

}  // namespace swiftkv
