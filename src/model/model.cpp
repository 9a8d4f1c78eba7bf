#include "model/model.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "kernels/attention.h"

namespace swiftkv {
namespace {

std::vector<int32_t> positions_of(const std::vector<BatchRow>& rows) {
  std::vector<int32_t> positions(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) positions[i] = rows[i].pos;
  return positions;
}

// Returns true when a layer packed as `format` cannot represent every value
// of a tensor stored as `source`. q4 represents Q4_0 and Q4_1 blocks exactly,
// and int8 represents Q8_0 blocks.
// (bf16 rounding of float tensors is the documented cost of the fast path.)
bool loses_stored_values(WeightFormat format, DType source) {
  if (format == WeightFormat::kQ4) return source != DType::kQ4_0 && source != DType::kQ4_1;
  if (format == WeightFormat::kInt8) return source != DType::kQ8_0;
  return false;
}

int64_t bytes_read(const std::unique_ptr<LinearWeight>& weight, int64_t rows) {
  return weight ? weight->weight_bytes_read(rows) : 0;
}

void release(Weight& weight) {
  weight.values.clear();
  weight.values.shrink_to_fit();
}

void add_into(std::vector<float>& acc, const std::vector<float>& x) {
  for (size_t i = 0; i < acc.size(); ++i) acc[i] += x[i];
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

Model::Model(ModelConfig config, ModelWeights weights, bool use_swiftkv, WeightFormat format)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      use_swiftkv_(use_swiftkv),
      format_(format),
      level_(format == WeightFormat::kF32 ? CpuLevel::kScalar : active_cpu_level()) {
  if (use_swiftkv_ && !config_.swiftkv) {
    fail("SwiftKV was requested but model_type '%s' is not a SwiftKV checkpoint; "
         "create one with 'swiftkv convert --swiftkv'", config_.model_type.c_str());
  }
  inv_freq_ = rope_inv_freq(config_.head_dim, config_.rope_theta, rope_scaling_params(config_));
  rope_table_ = std::make_shared<RopeTable>(make_rope_table(inv_freq_, config_.max_position_embeddings));
  pack_weights();
}

// Packs W (and its bias) in the format `format_` gives its stored dtype;
// make_linear copies the values.
std::unique_ptr<LinearWeight> Model::pack(const Weight& weight, const Weight& bias) {
  if (weight.empty()) return nullptr;
  const WeightFormat format = layer_weight_format(format_, weight.source_dtype);
  if (loses_stored_values(format, weight.source_dtype)) ++requantized_layers_;
  return make_linear(weight.data(), bias.data(), weight.shape[0], weight.shape[1], format, level_);
}

template <typename Fn>
void Model::for_each_linear(Fn&& fn) const {
  fn(*lm_head_);
  for (const PackedLayer& layer : packed_) {
    for (const auto* weight : {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down,
                               &layer.q_swiftkv, &layer.k_swiftkv, &layer.v_swiftkv}) {
      if (*weight) fn(**weight);
    }
  }
}

std::string Model::layer_format_summary() const {
  std::map<std::string, int64_t> counts;
  for_each_linear([&](const LinearWeight& weight) { ++counts[weight_format_name(weight.format())]; });
  std::string summary;
  for (const auto& [name, layers] : counts) {
    summary += (summary.empty() ? "" : ", ") + std::to_string(layers) + " " + name;
  }
  return summary;
}

void Model::pack_weights() {
  // A tied LM head packs the embedding matrix, whose float32 rows stay for lookups.
  lm_head_ = pack(weights_.output_weight(), Weight());

  packed_.resize(weights_.layers.size());
  for (size_t i = 0; i < weights_.layers.size(); ++i) {
    const LayerWeights& layer = weights_.layers[i];
    PackedLayer& out = packed_[i];
    out.q = pack(layer.q_proj, layer.q_bias);
    out.k = pack(layer.k_proj, layer.k_bias);
    out.v = pack(layer.v_proj, layer.v_bias);
    out.o = pack(layer.o_proj, Weight());
    out.gate = pack(layer.gate_proj, Weight());
    out.up = pack(layer.up_proj, Weight());
    out.down = pack(layer.down_proj, Weight());
    out.q_swiftkv = pack(layer.q_proj_swiftkv, layer.q_bias_swiftkv);
    out.k_swiftkv = pack(layer.k_proj_swiftkv, layer.k_bias_swiftkv);
    out.v_swiftkv = pack(layer.v_proj_swiftkv, layer.v_bias_swiftkv);
  }
  // The reference path keeps float32 weights for reference_sequence_logits.
  if (format_ == WeightFormat::kF32) return;
  release(weights_.lm_head);
  for (LayerWeights& layer : weights_.layers) {
    for (Weight* weight : {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.gate_proj,
                           &layer.up_proj, &layer.down_proj, &layer.q_proj_swiftkv, &layer.k_proj_swiftkv,
                           &layer.v_proj_swiftkv}) {
      release(*weight);
    }
  }
}

int64_t Model::linear_weight_bytes() const {
  int64_t bytes = 0;
  for_each_linear([&](const LinearWeight& weight) { bytes += weight.weight_bytes(); });
  return bytes;
}

int64_t Model::decode_weight_bytes(int64_t rows) const {
  const auto read = [rows](const std::unique_ptr<LinearWeight>& weight) { return bytes_read(weight, rows); };
  int64_t bytes = read(lm_head_);
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    const PackedLayer& layer = packed_[static_cast<size_t>(i)];
    const bool swiftkv_layer = use_swiftkv_ && i >= config_.num_key_value_layers;
    bytes += read(swiftkv_layer ? layer.q_swiftkv : layer.q) + read(layer.o) + read(layer.gate) + read(layer.up) +
             read(layer.down);
    if (!swiftkv_layer) {
      bytes += read(layer.k) + read(layer.v);
    } else if (swiftkv_leader(config_, i) == i) {
      bytes += read(layer.k_swiftkv) + read(layer.v_swiftkv);
    }
  }
  return bytes;
}

void Model::reserve_rope_positions(int64_t positions) const {
  std::lock_guard<std::mutex> lock(rope_mutex_);
  if (positions > rope_table_->max_positions) {
    rope_table_ = std::make_shared<RopeTable>(make_rope_table(inv_freq_, positions));
  }
}

KVCache Model::make_cache(int64_t num_sequences, int64_t capacity) const {
  reserve_rope_positions(capacity);
  KVCache cache(config_, use_swiftkv_, num_sequences, capacity);
  for (int64_t seq = 0; seq < num_sequences; ++seq) cache.set_block_table(seq, {static_cast<int32_t>(seq)});
  return cache;
}

KVCache Model::make_paged_cache(int64_t num_blocks, int64_t block_size, int64_t max_positions) const {
  reserve_rope_positions(max_positions);
  return KVCache(config_, use_swiftkv_, num_blocks, block_size);
}

std::vector<float> Model::apply(const LinearWeight& weight, const std::vector<float>& x, int64_t T,
                                FlopCount* flops) const {
  std::vector<float> out(static_cast<size_t>(T * weight.out_features()));
  weight.forward(x.data(), T, out.data());
  if (flops != nullptr) flops->linear += 2.0 * static_cast<double>(T) * weight.in_features() * weight.out_features();
  return out;
}

std::vector<float> Model::norm(const std::vector<float>& x, int64_t T, const Weight& weight) const {
  std::vector<float> out(x.size());
  rmsnorm(x.data(), weight.data(), T, weight.shape[0], config_.rms_norm_eps, out.data(), level_);
  return out;
}

void Model::apply_rope(std::vector<float>& x, const std::vector<int32_t>& positions, int64_t NH) const {
  std::shared_ptr<const RopeTable> table;
  {
    std::lock_guard<std::mutex> lock(rope_mutex_);
    table = rope_table_;
  }
  const int64_t T = static_cast<int64_t>(positions.size());
  rope(x.data(), positions.data(), T, NH, config_.head_dim, *table, level_);
}

void Model::check_rows(const std::vector<BatchRow>& rows, const KVCache& cache) const {
  for (const BatchRow& row : rows) {
    if (row.token < 0 || row.token >= config_.vocab_size) {
      fail("token id %d is out of range for a vocabulary of %lld tokens", row.token,
           static_cast<long long>(config_.vocab_size));
    }
    SKV_ASSERT(row.seq >= 0 && row.seq < cache.num_sequences());
    if (row.pos < 0 || row.pos >= cache.capacity(row.seq)) {
      fail("position %d is beyond the context of %lld tokens; shorten the prompt or "
           "max_tokens, or raise the context size", row.pos,
           static_cast<long long>(cache.capacity(row.seq)));
    }
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
  const PackedLayer& packed = packed_[static_cast<size_t>(layer_index)];
  const int64_t T = static_cast<int64_t>(rows.size());
  if (T == 0) return;
  const int64_t H = config_.num_attention_heads;
  const int64_t HKV = config_.num_key_value_heads;
  const int64_t DH = config_.head_dim;
  const int64_t slot = cache.slot_for_layer(layer_index);
  const std::vector<int32_t> positions = positions_of(rows);

  const std::vector<float> x = norm(hidden, T, layer.input_norm);

  // q[T, H, DH]
  std::vector<float> q = apply(swiftkv_layer ? *packed.q_swiftkv : *packed.q, x, T, flops);
  apply_rope(q, positions, H);

  if (!swiftkv_layer) {
    // k, v[T, HKV, DH] into the cache.
    std::vector<float> k = apply(*packed.k, x, T, flops);
    const std::vector<float> v = apply(*packed.v, x, T, flops);
    apply_rope(k, positions, HKV);
    for (int64_t t = 0; t < T; ++t) {
      std::copy_n(k.data() + t * HKV * DH, HKV * DH, cache.key(rows[t].seq, slot, rows[t].pos));
      std::copy_n(v.data() + t * HKV * DH, HKV * DH, cache.value(rows[t].seq, slot, rows[t].pos));
    }
  }

  std::vector<float> attn(static_cast<size_t>(T * H * DH));
  attend(rows, q.data(), slot, cache, attn.data(), flops);

  // Residual: h' = h + attention @ Wo^T
  add_into(hidden, apply(*packed.o, attn, T, flops));

  run_mlp(layer_index, T, hidden, flops);
}

void Model::attend(const std::vector<BatchRow>& rows, const float* q, int64_t slot, KVCache& cache,
                   float* out, FlopCount* flops) const {
  const int64_t T = static_cast<int64_t>(rows.size());
  const int64_t H = config_.num_attention_heads;
  const int64_t DH = config_.head_dim;
  std::vector<AttentionRow> work(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    const BatchRow& row = rows[t];
    work[t] = {q + t * H * DH,    cache.slot_keys(slot), cache.slot_values(slot),
               row.pos + 1,       out + t * H * DH,      cache.block_table(row.seq).data(),
               cache.block_size(), cache.block_stride()};
  }
  attention_rows(work.data(), T, cache.row_floats(), H, config_.num_key_value_heads, DH, level_);
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
  const std::vector<float> s = norm(hidden, T, weights_.norm_swiftkv);

  for (int64_t leader = config_.num_key_value_layers; leader < config_.num_hidden_layers;
       leader += config_.key_value_group_size) {
    const PackedLayer& packed = packed_[static_cast<size_t>(leader)];
    const int64_t slot = cache.slot_for_layer(leader);
    std::vector<float> k = apply(*packed.k_swiftkv, s, T, flops);
    const std::vector<float> v = apply(*packed.v_swiftkv, s, T, flops);
    apply_rope(k, positions, HKV);
    for (int64_t t = 0; t < T; ++t) {
      std::copy_n(k.data() + t * HKV * DH, HKV * DH, cache.key(rows[t].seq, slot, rows[t].pos));
      std::copy_n(v.data() + t * HKV * DH, HKV * DH, cache.value(rows[t].seq, slot, rows[t].pos));
    }
  }
}

// h = h + down(silu(gate(x)) * up(x)), x = rmsnorm(h, post_attention_layernorm)
void Model::run_mlp(int64_t layer_index, int64_t T, std::vector<float>& hidden, FlopCount* flops) const {
  const PackedLayer& packed = packed_[static_cast<size_t>(layer_index)];
  const std::vector<float> x = norm(hidden, T, weights_.layers[static_cast<size_t>(layer_index)].post_attn_norm);
  std::vector<float> gate = apply(*packed.gate, x, T, flops);
  const std::vector<float> up = apply(*packed.up, x, T, flops);
  silu_mul(gate.data(), up.data(), static_cast<int64_t>(gate.size()), gate.data(), level_);
  add_into(hidden, apply(*packed.down, gate, T, flops));
}

std::vector<float> Model::compute_logits(const std::vector<float>& hidden, int64_t T, FlopCount* flops) const {
  return apply(*lm_head_, norm(hidden, T, weights_.final_norm), T, flops);
}

std::unique_ptr<Model> make_model(const Checkpoint& checkpoint, bool use_swiftkv, WeightFormat format) {
  ModelWeights weights = load_weights(checkpoint.config, *checkpoint.tensors);
  return std::make_unique<Model>(checkpoint.config, std::move(weights), use_swiftkv, format);
}

}  // namespace swiftkv
