#include "model/flops.h"

#include <algorithm>

namespace swiftkv {
namespace {

struct LayerCost {
  double q, kv, o, mlp;  // linear FLOPs per row
};

LayerCost layer_cost(const ModelConfig& config) {
  const double D = static_cast<double>(config.hidden_size);
  const double q_width = static_cast<double>(config.num_attention_heads * config.head_dim);
  const double kv_width = static_cast<double>(config.num_key_value_heads * config.head_dim);
  const double F = static_cast<double>(config.intermediate_size);
  return {2 * D * q_width, 2 * 2 * D * kv_width, 2 * q_width * D, 2 * 3 * D * F};
}

}  // namespace

FlopCount prefill_flops(const ModelConfig& config, bool use_swiftkv, int64_t prompt_length) {
  const LayerCost cost = layer_cost(config);
  const double L = static_cast<double>(config.num_hidden_layers);
  const double attention_width = static_cast<double>(config.num_attention_heads * config.head_dim);
  const double ordinary_layers = use_swiftkv ? static_cast<double>(config.num_key_value_layers) : L;
  const double later_layers = L - ordinary_layers;
  const double leaders = use_swiftkv ? later_layers / static_cast<double>(config.key_value_group_size) : 0.0;
  const double full_layer = cost.q + cost.kv + cost.o + cost.mlp;

  FlopCount flops;
  // Every prompt row: the ordinary layers, and in SwiftKV mode the leaders' K/V.
  const double rows = static_cast<double>(prompt_length);
  flops.linear += rows * (ordinary_layers * full_layer + leaders * cost.kv);
  // Row t attends to t + 1 positions in each ordinary layer.
  const double positions = rows * (rows + 1) / 2;
  flops.attention += ordinary_layers * 4.0 * positions * attention_width;

  // The last row alone runs the later layers (no K/V projection) and the LM head.
  const double last_positions = static_cast<double>(prompt_length);
  flops.linear += later_layers * (cost.q + cost.o + cost.mlp);
  flops.attention += later_layers * 4.0 * last_positions * attention_width;
  flops.linear += 2.0 * static_cast<double>(config.hidden_size) * static_cast<double>(config.vocab_size);
  return flops;
}

}  // namespace swiftkv
