// Prefill FLOPs of a prompt computed from the shapes the forward runs, so a
// run in one mode can report the cost of the other mode as well.
#pragma once

#include <cstdint>

#include "formats/model_config.h"
#include "model/model.h"

namespace swiftkv {

// FLOPs of Model::forward over a prompt of `prompt_length` tokens, with
// logits for the last row only. Chunking the prompt changes no shape that
// costs FLOPs. Equals what forward() adds to its FlopCount (a test checks this).
FlopCount prefill_flops(const ModelConfig& config, bool use_swiftkv, int64_t prompt_length);

}  // namespace swiftkv
