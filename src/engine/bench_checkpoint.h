// Checkpoints with random weights, for speed benchmarks of model shapes
// whose real weights are not at hand (speed does not depend on the values).
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "formats/model_config.h"

namespace swiftkv {

// Writes a Hugging Face directory for `config` with weights drawn by
// random_weights(config, seed): config.json, generation_config.json and
// model.safetensors with every tensor in `dtype` (kF32 or kBF16). No
// tokenizer is written, so the result runs on token ids only. Creates
// `out_dir` if needed; throws Error for an unsupported dtype or I/O failure.
void write_random_checkpoint(const ModelConfig& config, uint64_t seed, DType dtype, const std::string& out_dir);

// Parses "f32" or "bf16"; throws Error naming the value otherwise.
DType parse_checkpoint_dtype(const std::string& name);

}  // namespace swiftkv
