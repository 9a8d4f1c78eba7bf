// The transformer forward pass over a batch of token rows, with the SwiftKV
// path (rows that need no logits stop after layer K-1).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "formats/model_config.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "kernels/ops_ref.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace swiftkv {

// One token of one sequence in a forward batch.
struct BatchRow {
  int32_t token = 0;
  int32_t pos = 0;          // position in its sequence; positions < pos are cached
  int32_t seq = 0;          // sequence whose block table in the KV cache the row uses
  bool need_logits = false;
};

// Floating-point operations of the forward passes run so far, counted from
// the shapes actually run (a multiply-add counts as 2).
struct FlopCount {
  double linear = 0.0;     // projections, MLP and LM head
  double attention = 0.0;  // q.k scores and the weighted sum of values
  double total() const { return linear + attention; }
};

class Model {
 public:
  // `use_swiftkv` selects the SwiftKV path; it requires a SwiftKV config.
  // Without it a SwiftKV checkpoint runs as its original model. `format`
  // selects how linear weights are packed (kAuto per tensor, from the
  // dtype the file stores it in). kF32 runs the plain reference kernels.
  // Other formats run the kernels of active_cpu_level() and free the
  // float32 copies of the linear weights after packing.
  Model(ModelConfig config, ModelWeights weights, bool use_swiftkv, WeightFormat format = WeightFormat::kF32);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  bool uses_swiftkv() const { return use_swiftkv_; }
  WeightFormat weight_format() const { return format_; }
  CpuLevel cpu_level() const { return level_; }
  // "210 q4, 1 int8": how many linear layers each format packs.
  std::string layer_format_summary() const;
  // Linear layers an explicit q4 or int8 re-quantized from a tensor whose
  // stored values it cannot represent exactly (auto never does).
  int64_t requantized_layers() const { return requantized_layers_; }
  // Bytes of packed linear weights, LM head included.
  int64_t linear_weight_bytes() const;
  // Linear weight bytes one decode step streams: every projection and MLP
  // matrix a new token runs through (with SwiftKV on, layers >= K read the
  // group leader's k/v_proj_swiftkv once per group) plus the LM head, in the
  // size each layer reads for a step of `rows` rows (a quantized layer reads
  // its bf16 copy from 8 rows). Biases and norms are left out.
  int64_t decode_weight_bytes(int64_t rows = 1) const;

  // A contiguous cache with this model's slot map: one block of `capacity`
  // positions per sequence, sequence s using block s.
  KVCache make_cache(int64_t num_sequences, int64_t capacity) const;
  // A paged cache of `num_blocks` blocks of `block_size` positions, with no
  // block tables yet, for sequences of up to `max_positions` positions.
  KVCache make_paged_cache(int64_t num_blocks, int64_t block_size, int64_t max_positions) const;

  // Runs `rows` (any mix of sequences; rows of one sequence in position
  // order) and writes their K/V into `cache` through the block table of each
  // row's sequence, which must cover the row's position. Returns logits [R, V] for the R
  // rows with need_logits, in row order. Adds to `flops` when given.
  std::vector<float> forward(const std::vector<BatchRow>& rows, KVCache& cache,
                             FlopCount* flops = nullptr) const;

 private:
  // Linear layers packed for the chosen format; null where a layer has none.
  struct PackedLayer {
    std::unique_ptr<LinearWeight> q, k, v, o, gate, up, down;
    std::unique_ptr<LinearWeight> q_swiftkv, k_swiftkv, v_swiftkv;
  };

  void pack_weights();
  // Calls fn(layer) for the LM head and every packed linear layer.
  template <typename Fn>
  void for_each_linear(Fn&& fn) const;
  std::unique_ptr<LinearWeight> pack(const Weight& weight, const Weight& bias);
  void reserve_rope_positions(int64_t positions) const;
  std::vector<float> apply(const LinearWeight& weight, const std::vector<float>& x, int64_t T,
                           FlopCount* flops) const;
  std::vector<float> norm(const std::vector<float>& x, int64_t T, const Weight& weight) const;
  void apply_rope(std::vector<float>& x, const std::vector<int32_t>& positions, int64_t NH) const;
  void check_rows(const std::vector<BatchRow>& rows, const KVCache& cache) const;
  void run_layer(int64_t layer, bool swiftkv_layer, const std::vector<BatchRow>& rows,
                 std::vector<float>& hidden, KVCache& cache, FlopCount* flops) const;
  void attend(const std::vector<BatchRow>& rows, const float* q, int64_t slot, KVCache& cache,
              float* out, FlopCount* flops) const;
  void project_swiftkv_kv(const std::vector<BatchRow>& rows, const std::vector<float>& hidden,
                          KVCache& cache, FlopCount* flops) const;
  void run_mlp(int64_t layer_index, int64_t T, std::vector<float>& hidden, FlopCount* flops) const;
  std::vector<float> compute_logits(const std::vector<float>& hidden, int64_t T, FlopCount* flops) const;

  ModelConfig config_;
  ModelWeights weights_;
  bool use_swiftkv_;
  WeightFormat format_;
  CpuLevel level_;  // kScalar for the kF32 reference path
  std::vector<PackedLayer> packed_;
  int64_t requantized_layers_ = 0;
  std::unique_ptr<LinearWeight> lm_head_;
  std::vector<float> inv_freq_;  // [DH / 2]
  // cos/sin tables, grown by make_cache and make_paged_cache when a cache
  // needs more positions.
  mutable std::mutex rope_mutex_;
  mutable std::shared_ptr<const RopeTable> rope_table_;
};

// Reads the weights of a loaded checkpoint into a Model whose linear layers
// use `format` (kF32 is the reference path the tests compare against).
struct Checkpoint;
std::unique_ptr<Model> make_model(const Checkpoint& checkpoint, bool use_swiftkv,
                                  WeightFormat format = WeightFormat::kF32);

// Rope parameters of `config` for the kernels.
RopeScalingParams rope_scaling_params(const ModelConfig& config);

}  // namespace swiftkv
