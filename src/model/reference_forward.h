// "Training-mode" forward of one whole sequence: every token runs every
// layer, with no KV cache. With SwiftKV on, layers >= K attend to K/V
// projected from norm_swiftkv(h_K). It is written to be read, and the batched
// engine forward is tested against it.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/model_config.h"
#include "model/weights.h"

namespace swiftkv {

// Returns logits [T, V] for every position of `tokens`.
std::vector<float> reference_sequence_logits(const ModelConfig& config, const ModelWeights& weights,
                                             const std::vector<int32_t>& tokens, bool use_swiftkv);

}  // namespace swiftkv
