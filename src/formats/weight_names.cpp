#include "formats/weight_names.h"

#include <cstring>
#include <map>
#include <memory>

#include "core/error.h"

namespace swiftkv {

namespace {

std::string layer_prefix(int64_t layer) { return "model.layers." + std::to_string(layer) + "."; }

void add_attention_projection(std::vector<ExpectedTensor>& out, const std::string& name, int64_t rows,
                              int64_t columns, bool bias) {
  out.push_back({name + ".weight", {rows, columns}});
  if (bias) out.push_back({name + ".bias", {rows}});
}

}  // namespace

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config) {
  const int64_t d = config.hidden_size;
  const int64_t q_rows = config.num_attention_heads * config.head_dim;
  const int64_t kv_rows = config.num_key_value_heads * config.head_dim;
  const bool bias = config.attention_bias;

  std::vector<ExpectedTensor> out;
  out.push_back({"model.embed_tokens.weight", {config.vocab_size, d}});
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    const std::string prefix = layer_prefix(layer);
    add_attention_projection(out, prefix + "self_attn.q_proj", q_rows, d, bias);
    add_attention_projection(out, prefix + "self_attn.k_proj", kv_rows, d, bias);
    add_attention_projection(out, prefix + "self_attn.v_proj", kv_rows, d, bias);
    out.push_back({prefix + "self_attn.o_proj.weight", {d, q_rows}});
    out.push_back({prefix + "mlp.gate_proj.weight", {config.intermediate_size, d}});
    out.push_back({prefix + "mlp.up_proj.weight", {config.intermediate_size, d}});
    out.push_back({prefix + "mlp.down_proj.weight", {d, config.intermediate_size}});
    out.push_back({prefix + "input_layernorm.weight", {d}});
    out.push_back({prefix + "post_attention_layernorm.weight", {d}});

    const int64_t first_swiftkv = config.num_key_value_layers;
    if (config.swiftkv && layer >= first_swiftkv) {
      add_attention_projection(out, prefix + "self_attn.q_proj_swiftkv", q_rows, d, bias);
      if ((layer - first_swiftkv) % config.key_value_group_size == 0) {
        add_attention_projection(out, prefix + "self_attn.k_proj_swiftkv", kv_rows, d, bias);
        add_attention_projection(out, prefix + "self_attn.v_proj_swiftkv", kv_rows, d, bias);
      }
    }
  }
  out.push_back({"model.norm.weight", {d}});
  if (config.swiftkv) out.push_back({"model.norm_swiftkv.weight", {d}});
  if (!config.tie_word_embeddings) out.push_back({"lm_head.weight", {config.vocab_size, d}});
  return out;
}

void check_tensors(const TensorSource& source, const ModelConfig& config) {
  for (const ExpectedTensor& expected : expected_tensors(config)) {
    const TensorView* view = source.find(expected.name);
    if (view == nullptr) {
      fail("missing tensor '%s' in '%s'; the checkpoint is incomplete or does not match its config",
           expected.name.c_str(), source.origin().c_str());
    }
    if (view->shape != expected.shape) {
      TensorView shape_only;
      shape_only.shape = expected.shape;
      fail("tensor '%s' in '%s' has shape %s but the model config implies %s", expected.name.c_str(),
           view->file.c_str(), view->shape_string().c_str(), shape_only.shape_string().c_str());
    }
  }
}

std::string gguf_to_hf_name(const std::string& gguf_name) {
  static const std::map<std::string, std::string> kGlobal = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  static const std::map<std::string, std::string> kPerLayer = {
      {"attn_q", "self_attn.q_proj"},           {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},           {"attn_output", "self_attn.o_proj"},
      {"ffn_gate", "mlp.gate_proj"},            {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},            {"attn_norm", "input_layernorm"},
      {"ffn_norm", "post_attention_layernorm"},
  };
  auto global = kGlobal.find(gguf_name);
  if (global != kGlobal.end()) return global->second;

  // "blk.{N}.{part}.{weight|bias}"
  if (gguf_name.rfind("blk.", 0) != 0) return "";
  const size_t layer_end = gguf_name.find('.', 4);
  const size_t part_end = gguf_name.rfind('.');
  if (layer_end == std::string::npos || layer_end == 4 || part_end <= layer_end) return "";
  const std::string layer = gguf_name.substr(4, layer_end - 4);
  if (layer.find_first_not_of("0123456789") != std::string::npos) return "";
  const std::string suffix = gguf_name.substr(part_end + 1);
  if (suffix != "weight" && suffix != "bias") return "";
  auto part = kPerLayer.find(gguf_name.substr(layer_end + 1, part_end - layer_end - 1));
  if (part == kPerLayer.end()) return "";
  return "model.layers." + layer + "." + part->second + "." + suffix;
}

void add_rotate_half_permuted(OwnedTensorSource& out, const TensorView& view, const std::string& hf_name,
                              int64_t head_dim) {
  const int64_t rows = view.shape.empty() ? 0 : view.shape[0];
  if (head_dim <= 0 || head_dim % 2 != 0 || rows % head_dim != 0) {
    fail("tensor '%s' in '%s' has %lld rows, which do not split into heads of %lld rows for the RoPE permutation",
         view.name.c_str(), view.file.c_str(), static_cast<long long>(rows), static_cast<long long>(head_dim));
  }
  const int64_t row_bytes = view.nbytes / rows;
  SKV_ASSERT(row_bytes * rows == view.nbytes);
  auto buffer = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(view.nbytes));
  const int64_t half = head_dim / 2;
  for (int64_t head_start = 0; head_start < rows; head_start += head_dim) {
    for (int64_t j = 0; j < half; ++j) {
      const uint8_t* even = view.data + (head_start + 2 * j) * row_bytes;
      const uint8_t* odd = even + row_bytes;
      std::memcpy(buffer->data() + (head_start + j) * row_bytes, even, static_cast<size_t>(row_bytes));
      std::memcpy(buffer->data() + (head_start + half + j) * row_bytes, odd, static_cast<size_t>(row_bytes));
    }
  }
  TensorView permuted = view;
  permuted.name = hf_name;
  permuted.data = buffer->data();
  out.add_view(std::move(permuted), buffer);
}

}  // namespace swiftkv
