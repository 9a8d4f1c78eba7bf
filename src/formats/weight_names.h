// Hugging Face tensor names and shapes implied by a model config, and the
// conversions that bring GGUF and llama2.c tensors into that form.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "formats/model_config.h"
#include "formats/tensor_source.h"

namespace swiftkv {

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};

// Every tensor `config` implies, under Hugging Face names: embeddings, per
// layer attention (with biases when attention_bias), MLP and norms, the final
// norm, lm_head when untied, and for SwiftKV configs norm_swiftkv, the
// q_proj_swiftkv of layers >= K and the k/v_proj_swiftkv of group leaders.
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config);

// Throws Error naming the tensor and `source`'s file when an expected tensor
// is missing or has another shape.
void check_tensors(const TensorSource& source, const ModelConfig& config);

// Maps a GGUF tensor name ("blk.3.attn_q.weight") to its Hugging Face name
// ("model.layers.3.self_attn.q_proj.weight"); returns "" for unknown names.
std::string gguf_to_hf_name(const std::string& gguf_name);

// Adds `view` (renamed to `hf_name`) to `out` with its rows reordered from the
// adjacent-pair RoPE layout (GGUF llama, llama2.c) to Hugging Face's
// rotate-half layout. Within each head of `head_dim` rows, output row j comes
// from input row 2j and output row j + head_dim/2 from input row 2j + 1.
// Rows are moved as whole byte ranges, so quantized tensors stay quantized.
void add_rotate_half_permuted(OwnedTensorSource& out, const TensorView& view, const std::string& hf_name,
                              int64_t head_dim);

}  // namespace swiftkv
