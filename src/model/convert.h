// Checkpoint conversion: any supported input to a Hugging Face directory, and
// ordinary checkpoints to SwiftKV ones.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "formats/checkpoint.h"

namespace swiftkv {

// Turns an ordinary checkpoint into a SwiftKV one with K = `num_kv_layers`
// and AcrossKV group size G = `group_size`, initialised as the distillation
// recipe starts: norm_swiftkv = input_layernorm of layer K, q_proj_swiftkv of
// layer i = q_proj of layer i, and each group leader's k/v_proj_swiftkv =
// the mean of k/v_proj over its group (biases likewise). The original tensors
// are kept, so the result still runs as the original model with SwiftKV off.
// Throws Error for K < 1, K >= L, (L - K) not divisible by G, or an input
// that is already a SwiftKV checkpoint.
void make_swiftkv_checkpoint(Checkpoint& checkpoint, int64_t num_kv_layers, int64_t group_size);

// Writes `checkpoint` as a Hugging Face directory: config.json,
// generation_config.json, model.safetensors, tokenizer.json and
// tokenizer_config.json. F32, F16 and BF16 tensors keep their dtype;
// quantized ones are written dequantized as F32. Creates `out_dir` if needed.
void write_hf_directory(const Checkpoint& checkpoint, const std::string& out_dir);

// generation_config.json contents (bos and eos ids) for `config`.
nlohmann::json generation_config_json(const ModelConfig& config);

// Writes `json` indented to `path`; throws Error when the file cannot be written.
void write_json_file(const std::string& path, const nlohmann::json& json);

}  // namespace swiftkv
