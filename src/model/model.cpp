#include "model/model.h"

#include "core/error.h"
#include "formats/checkpoint.h"

namespace swiftkv {
namespace {

// Adds the FLOPs of x[T, K] @ W[N, K]^T.
void count_linear(FlopCount* flops, int64_t T, int64_t K, int64_t N) {
  if (flops != nullptr) flops->linear += 2.0 * static_cast<double>(T) * K * N;
}

std::vector<float> linear(const std::vector<float>& x, int64_t T, const Weight& weight,
                          const Weight& bias, FlopCount* flops) {
  const int64_t N = weight.shape[0];
  const int64_t K = weight.shape[1];
  std::vector<float> out(static_cast<size_t>(T * N));
  linear_ref(x.data(), weight.data(), bias.data(), T, K, N, out.data());
  count_linear(flops, T, K, N);
  return out;
}

std::vector<float> rmsnorm(const std::vector<float>& x, int64_t T, const Weight& weight, float eps) {
  const int64_t D = weight.shape[0];
  std::vector<float> out(static_cast<size_t>(T * D));
  rmsnorm_ref(x.data(), weight.data(), T, D, eps, out.data());
  return out;
}

std::vector<int32_t> positions_of(const std::vector<BatchRow>& rows) {
  std::vector<int32_t> positions(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) positions[i] = rows[i].pos;
  return positions;
}

}  // namespace

RopeScalingParams rope_scaling_params(const ModelConfig& config) {
  RopeScalingParams params;
  params.llama3 = config.rope_scaling.type == "llama3";
  params.factor = config.rope_scaling.factor;
  params.low_freq_factor = config.rope_scaling.low_freq_factor;
  params.high_freq_factor = config.rope_scaling.high_freq_factor;
  params.original_max_position_embeddings = config.rope_scaling.original_max_position_embeddings;
  return params;
}

Model::Model(ModelConfig config, ModelWeights weights, bool use_swiftkv)
    : config_(std::move(config)), weights_(std::move(weights)), use_swiftkv_(use_swiftkv) {
  if (use_swiftkv_ && !config_.swiftkv) {
    fail("SwiftKV was requested but model_type '%s' is not a SwiftKV checkpoint; "
         "create one with 'swiftkv convert --swiftkv'", config_.model_type.c_str());
  }
  inv_freq_ = rope_inv_freq(config_.head_dim, config_.rope_theta, rope_scaling_params(config_));
}

KVCache Model::make_cache(int64_t num_sequences, int64_t capacity) const {
  return KVCache(config_, use_swiftkv_, num_sequences, capacity);
}

void Model::check_rows(const std::vector<BatchRow>& rows, const KVCache& cache) const {
  for (const BatchRow& row : rows) {
    if (row.token < 0 || row.token >= config_.vocab_size) {
      fail("token id %d is out of range for a vocabulary of %lld tokens", row.token,
           static_cast<long long>(config_.vocab_size));
    }
    if (row.pos < 0 || row.pos >= cache.capacity()) {
      fail("position %d is beyond the context of %lld tokens; shorten the prompt or "
           "max_tokens, or raise the context size", row.pos,
           static_cast<long long>(cache.capacity()));
    }
    SKV_ASSERT(row.seq >= 0 && row.seq < cache.num_sequences());
  }
}

std::vector<float> Model::forward(const std::vector<BatchRow>& rows, KVCache& cache,
                                  FlopCount* flops) const {
  check_rows(rows, cache);
  const int64_t D = config_.hidden_size;
  const int64_t T = static_cast<int64_t>(rows.size());

  // Token embeddings: hidden[T, D].
  std::vector<float> hidden(static_cast<size_t>(T * D));
  for (int64_t t = 0; t < T; ++t) {
    const float* embedding = weights_.embed_tokens.data() + static_cast<int64_t>(rows[t].token) * D;
    std::copy(embedding, embedding + D, hidden.begin() + t * D);
  }

  // Ordinary layers: all of them, or the first K in SwiftKV mode.
  const int64_t ordinary_layers = use_swiftkv_ ? config_.num_key_value_layers : config_.num_hidden_layers;
  for (int64_t layer = 0; layer < ordinary_layers; ++layer) {
    run_layer(layer, /*swiftkv_layer=*/false, rows, hidden, cache, flops);
  }

  // Keep only the rows that need logits.
  std::vector<BatchRow> logit_rows;
  std::vector<float> logit_hidden;
  for (int64_t t = 0; t < T; ++t) {
    if (!rows[t].need_logits) continue;
    logit_rows.push_back(rows[t]);
    logit_hidden.insert(logit_hidden.end(), hidden.begin() + t * D, hidden.begin() + (t + 1) * D);
  }

  if (use_swiftkv_) {
    // Every row's later-layer K/V comes from h_K; only logit rows go on.
    project_swiftkv_kv(rows, hidden, cache, flops);
    for (int64_t layer = config_.num_key_value_layers; layer < config_.num_hidden_layers; ++layer) {
      run_layer(layer, /*swiftkv_layer=*/true, logit_rows, logit_hidden, cache, flops);
    }
  }
  if (logit_rows.empty()) return {};
  return compute_logits(logit_hidden, static_cast<int64_t>(logit_rows.size()), flops);
}

// One decoder layer over `rows`, updating hidden[T, D] in place. A SwiftKV
// layer takes q from q_proj_swiftkv and reads K/V that project_swiftkv_kv
// already wrote; an ordinary layer writes its own K/V first.
void Model::run_layer(int64_t layer_index, bool swiftkv_layer, const std::vector<BatchRow>& rows,
                      std::vector<float>& hidden, KVCache& cache, FlopCount* flops) const {
  const LayerWeights& layer = weights_.layers[static_cast<size_t>(layer_index)];
  const int64_t T = static_cast<int64_t>(rows.size());
  if (T == 0) return;
  const int64_t H = config_.num_attention_heads;
  const int64_t HKV = config_.num_key_value_heads;
  const int64_t DH = config_.head_dim;
  const int64_t slot = cache.slot_for_layer(layer_index);
  const std::vector<int32_t> positions = positions_of(rows);

  std::vector<float> x = rmsnorm(hidden, T, layer.input_norm, config_.rms_norm_eps);

  // q[T, H, DH]
  std::vector<float> q = swiftkv_layer ? linear(x, T, layer.q_proj_swiftkv, layer.q_bias_swiftkv, flops)
                                       : linear(x, T, layer.q_proj, layer.q_bias, flops);
  rope_ref(q.data(), positions.data(), T, H, DH, inv_freq_);

  if (!swiftkv_layer) {
    // k, v[T, HKV, DH] into the cache.
    std::vector<float> k = linear(x, T, layer.k_proj, layer.k_bias, flops);
    std::vector<float> v = linear(x, T, layer.v_proj, layer.v_bias, flops);
    rope_ref(k.data(), positions.data(), T, HKV, DH, inv_freq_);
    for (int64_t t = 0; t < T; ++t) {
      std::copy_n(k.data() + t * HKV * DH, HKV * DH, cache.key(rows[t].seq, slot, rows[t].pos));
      std::copy_n(v.data() + t * HKV * DH, HKV * DH, cache.value(rows[t].seq, slot, rows[t].pos));
    }
  }

  std::vector<float> attn(static_cast<size_t>(T * H * DH));
  attend(rows, q.data(), slot, cache, attn.data(), flops);

  // Residual: h' = h + attention @ Wo^T
  std::vector<float> attn_out = linear(attn, T, layer.o_proj, Weight(), flops);
  for (size_t i = 0; i < hidden.size(); ++i) hidden[i] += attn_out[i];

  run_mlp(layer, T, hidden, flops);
}

void Model::attend(const std::vector<BatchRow>& rows, const float* q, int64_t slot, KVCache& cache,
                   float* out, FlopCount* flops) const {
  const int64_t T = static_cast<int64_t>(rows.size());
  const int64_t H = config_.num_attention_heads;
  const int64_t HKV = config_.num_key_value_heads;
  const int64_t DH = config_.head_dim;
  int64_t work = 0;
  for (const BatchRow& row : rows) work += (row.pos + 1) * H * DH;
#pragma omp parallel for schedule(dynamic) if (work >= (int64_t{1} << 16))
  for (int64_t t = 0; t < T; ++t) {
    const BatchRow& row = rows[t];
    attention_row_ref(q + t * H * DH, cache.key(row.seq, slot, 0), cache.value(row.seq, slot, 0),
                      row.pos + 1, cache.row_floats(), H, HKV, DH, out + t * H * DH);
  }
  if (flops == nullptr) return;
  for (const BatchRow& row : rows) {
    // q.k scores and the weighted sum over values: 2 * 2 * n * H * DH.
    flops->attention += 4.0 * static_cast<double>(row.pos + 1) * H * DH;
  }
}

// SwiftKV: s = rmsnorm(h_K, norm_swiftkv); each group leader projects the
// K/V of its whole group from s, for every row of the batch.
void Model::project_swiftkv_kv(const std::vector<BatchRow>& rows, const std::vector<float>& hidden,
                               KVCache& cache, FlopCount* flops) const {
  const int64_t T = static_cast<int64_t>(rows.size());
  if (T == 0) return;
  const int64_t HKV = config_.num_key_value_heads;
  const int64_t DH = config_.head_dim;
  const std::vector<int32_t> positions = positions_of(rows);
  const std::vector<float> s = rmsnorm(hidden, T, weights_.norm_swiftkv, config_.rms_norm_eps);

  for (int64_t leader = config_.num_key_value_layers; leader < config_.num_hidden_layers;
       leader += config_.key_value_group_size) {
    const LayerWeights& layer = weights_.layers[static_cast<size_t>(leader)];
    const int64_t slot = cache.slot_for_layer(leader);
    std::vector<float> k = linear(s, T, layer.k_proj_swiftkv, layer.k_bias_swiftkv, flops);
    std::vector<float> v = linear(s, T, layer.v_proj_swiftkv, layer.v_bias_swiftkv, flops);
    rope_ref(k.data(), positions.data(), T, HKV, DH, inv_freq_);
    for (int64_t t = 0; t < T; ++t) {
      std::copy_n(k.data() + t * HKV * DH, HKV * DH, cache.key(rows[t].seq, slot, rows[t].pos));
      std::copy_n(v.data() + t * HKV * DH, HKV * DH, cache.value(rows[t].seq, slot, rows[t].pos));
    }
  }
}

// h = h + down(silu(gate(x)) * up(x)), x = rmsnorm(h, post_attention_layernorm)
void Model::run_mlp(const LayerWeights& layer, int64_t T, std::vector<float>& hidden,
                    FlopCount* flops) const {
  std::vector<float> x = rmsnorm(hidden, T, layer.post_attn_norm, config_.rms_norm_eps);
  std::vector<float> gate = linear(x, T, layer.gate_proj, Weight(), flops);
  std::vector<float> up = linear(x, T, layer.up_proj, Weight(), flops);
  silu_mul_ref(gate.data(), up.data(), static_cast<int64_t>(gate.size()), gate.data());
  std::vector<float> down = linear(gate, T, layer.down_proj, Weight(), flops);
  for (size_t i = 0; i < hidden.size(); ++i) hidden[i] += down[i];
}

std::vector<float> Model::compute_logits(const std::vector<float>& hidden, int64_t T,
                                         FlopCount* flops) const {
  std::vector<float> normed = rmsnorm(hidden, T, weights_.final_norm, config_.rms_norm_eps);
  return linear(normed, T, weights_.output_weight(), Weight(), flops);
}

std::unique_ptr<Model> make_model(const Checkpoint& checkpoint, bool use_swiftkv) {
  ModelWeights weights = load_weights(checkpoint.config, *checkpoint.tensors);
  return std::make_unique<Model>(checkpoint.config, std::move(weights), use_swiftkv);
}

}  // namespace swiftkv
