#include "engine/bench_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "formats/safetensors.h"
#include "model/convert.h"
#include "model/random_weights.h"
#include "model/weights.h"

namespace swiftkv {
namespace {

// One tensor under its Hugging Face name. encode() empties `weight` once its
// bytes are written, so a large model is never held whole in both dtypes.
struct NamedWeight {
  std::string name;
  Weight* weight;
};

std::vector<NamedWeight> named_weights(ModelWeights& weights) {
  std::vector<NamedWeight> out;
  auto add = [&out](std::string name, Weight& weight) {
    if (!weight.empty()) out.push_back({std::move(name), &weight});
  };
  add("model.embed_tokens.weight", weights.embed_tokens);
  for (size_t i = 0; i < weights.layers.size(); ++i) {
    LayerWeights& layer = weights.layers[i];
    const std::string prefix = "model.layers." + std::to_string(i) + ".";
    add(prefix + "input_layernorm.weight", layer.input_norm);
    add(prefix + "self_attn.q_proj.weight", layer.q_proj);
    add(prefix + "self_attn.k_proj.weight", layer.k_proj);
    add(prefix + "self_attn.v_proj.weight", layer.v_proj);
    add(prefix + "self_attn.q_proj.bias", layer.q_bias);
    add(prefix + "self_attn.k_proj.bias", layer.k_bias);
    add(prefix + "self_attn.v_proj.bias", layer.v_bias);
    add(prefix + "self_attn.o_proj.weight", layer.o_proj);
    add(prefix + "post_attention_layernorm.weight", layer.post_attn_norm);
    add(prefix + "mlp.gate_proj.weight", layer.gate_proj);
    add(prefix + "mlp.up_proj.weight", layer.up_proj);
    add(prefix + "mlp.down_proj.weight", layer.down_proj);
    add(prefix + "self_attn.q_proj_swiftkv.weight", layer.q_proj_swiftkv);
    add(prefix + "self_attn.q_proj_swiftkv.bias", layer.q_bias_swiftkv);
    add(prefix + "self_attn.k_proj_swiftkv.weight", layer.k_proj_swiftkv);
    add(prefix + "self_attn.k_proj_swiftkv.bias", layer.k_bias_swiftkv);
    add(prefix + "self_attn.v_proj_swiftkv.weight", layer.v_proj_swiftkv);
    add(prefix + "self_attn.v_proj_swiftkv.bias", layer.v_bias_swiftkv);
  }
  add("model.norm.weight", weights.final_norm);
  add("lm_head.weight", weights.lm_head);
  add("model.norm_swiftkv.weight", weights.norm_swiftkv);
  return out;
}

std::vector<uint8_t> encode(Weight& weight, DType dtype) {
  std::vector<uint8_t> bytes;
  if (dtype == DType::kF32) {
    bytes.resize(weight.values.size() * sizeof(float));
    std::memcpy(bytes.data(), weight.values.data(), bytes.size());
  } else {
    bytes.resize(weight.values.size() * sizeof(uint16_t));
    for (size_t i = 0; i < weight.values.size(); ++i) {
      const uint16_t bits = f32_to_bf16(weight.values[i]);
      std::memcpy(bytes.data() + i * sizeof(uint16_t), &bits, sizeof(bits));
    }
  }
  std::vector<float>().swap(weight.values);
  return bytes;
}

}  // namespace

DType parse_checkpoint_dtype(const std::string& name) {
  if (name == "f32") return DType::kF32;
  if (name == "bf16") return DType::kBF16;
  fail("invalid --dtype '%s'; pass f32 or bf16", name.c_str());
}

void write_random_checkpoint(const ModelConfig& config, uint64_t seed, DType dtype, const std::string& out_dir) {
  if (dtype != DType::kF32 && dtype != DType::kBF16) {
    fail("random checkpoints are written as F32 or BF16, not %s", dtype_name(dtype));
  }
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) fail("cannot create directory '%s': %s", out_dir.c_str(), error.message().c_str());

  ModelWeights weights = random_weights(config, seed);
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<SafetensorsEntry> entries;
  for (const NamedWeight& named : named_weights(weights)) {
    SafetensorsEntry entry;
    entry.name = named.name;
    entry.dtype = dtype;
    entry.shape = named.weight->shape;
    buffers.push_back(encode(*named.weight, dtype));
    entry.data = std::span<const uint8_t>(buffers.back().data(), buffers.back().size());
    entries.push_back(std::move(entry));
  }
  write_safetensors(out_dir + "/model.safetensors", entries);

  const std::string torch_dtype = dtype == DType::kF32 ? "float32" : "bfloat16";
  write_json_file(out_dir + "/config.json", model_config_to_json(config, torch_dtype));
  write_json_file(out_dir + "/generation_config.json", generation_config_json(config));
  SKV_LOG_INFO("init-random", "wrote %zu %s tensors (seed %llu) to %s", entries.size(), dtype_name(dtype),
               static_cast<unsigned long long>(seed), out_dir.c_str());
}

}  // namespace swiftkv
