#include "model/convert.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/log.h"
#include "formats/safetensors.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {
namespace {

void validate_swiftkv_shape(const ModelConfig& config, int64_t K, int64_t G) {
  const int64_t L = config.num_hidden_layers;
  if (K < 1 || K >= L) {
    fail("--num-key-value-layers %lld is invalid for a model of %lld layers; pass a value from 1 to %lld",
         static_cast<long long>(K), static_cast<long long>(L), static_cast<long long>(L - 1));
  }
  if (G < 1 || (L - K) % G != 0) {
    fail("--key-value-group-size %lld is invalid: the %lld layers from %lld to %lld must split into groups "
         "of that size; pass a divisor of %lld", static_cast<long long>(G), static_cast<long long>(L - K),
         static_cast<long long>(K), static_cast<long long>(L - 1), static_cast<long long>(L - K));
  }
}

std::string layer_name(int64_t layer, const std::string& suffix) {
  return "model.layers." + std::to_string(layer) + "." + suffix;
}

// Mean of the float32 values of the same tensor over layers [first, first + count).
std::vector<float> mean_over_layers(const TensorSource& tensors, const std::string& suffix, int64_t first,
                                    int64_t count, const std::vector<int64_t>& shape) {
  std::vector<float> mean;
  for (int64_t layer = first; layer < first + count; ++layer) {
    const std::vector<float> values = tensors.read_f32(layer_name(layer, suffix), shape);
    if (mean.empty()) mean.assign(values.size(), 0.0f);
    for (size_t i = 0; i < values.size(); ++i) mean[i] += values[i];
  }
  for (float& value : mean) value /= static_cast<float>(count);
  return mean;
}

void add_swiftkv_attention(const ModelConfig& config, const TensorSource& old, OwnedTensorSource& out) {
  const int64_t K = config.num_key_value_layers;
  const int64_t G = config.key_value_group_size;
  const int64_t D = config.hidden_size;
  const int64_t q_rows = config.num_attention_heads * config.head_dim;
  const int64_t kv_rows = config.num_key_value_heads * config.head_dim;
  const bool bias = config.attention_bias;

  for (int64_t layer = K; layer < config.num_hidden_layers; ++layer) {
    out.add_f32(layer_name(layer, "self_attn.q_proj_swiftkv.weight"), {q_rows, D},
                old.read_f32(layer_name(layer, "self_attn.q_proj.weight"), {q_rows, D}));
    if (bias) {
      out.add_f32(layer_name(layer, "self_attn.q_proj_swiftkv.bias"), {q_rows},
                  old.read_f32(layer_name(layer, "self_attn.q_proj.bias"), {q_rows}));
    }
    if (swiftkv_leader(config, layer) != layer) continue;
    for (const char* kind : {"k", "v"}) {
      const std::string original = std::string("self_attn.") + kind + "_proj.";
      const std::string swiftkv = std::string("self_attn.") + kind + "_proj_swiftkv.";
      out.add_f32(layer_name(layer, swiftkv + "weight"), {kv_rows, D},
                  mean_over_layers(old, original + "weight", layer, G, {kv_rows, D}));
      if (bias) {
        out.add_f32(layer_name(layer, swiftkv + "bias"), {kv_rows},
                    mean_over_layers(old, original + "bias", layer, G, {kv_rows}));
      }
    }
  }
}

// The tensor bytes to write: stored bytes for F32/F16/BF16, float32 otherwise.
SafetensorsEntry entry_for(const TensorView& view, std::vector<std::vector<float>>& scratch) {
  SafetensorsEntry entry;
  entry.name = view.name;
  entry.shape = view.shape;
  if (view.dtype == DType::kF32 || view.dtype == DType::kF16 || view.dtype == DType::kBF16) {
    entry.dtype = view.dtype;
    entry.data = std::span<const uint8_t>(view.data, static_cast<size_t>(view.nbytes));
    return entry;
  }
  scratch.emplace_back(static_cast<size_t>(view.elements()));
  convert_to_f32(view.dtype, view.data, view.elements(), scratch.back().data());
  entry.dtype = DType::kF32;
  entry.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(scratch.back().data()),
                                        scratch.back().size() * sizeof(float));
  return entry;
}

}  // namespace

void write_json_file(const std::string& path, const nlohmann::json& json) {
  std::ofstream out(path);
  out << json.dump(2) << "\n";
  if (!out) fail("cannot write '%s'; check that the directory is writable", path.c_str());
}

nlohmann::json generation_config_json(const ModelConfig& config) {
  nlohmann::json json = {{"_from_model_config", true}};
  if (config.bos_token_id >= 0) json["bos_token_id"] = config.bos_token_id;
  if (config.eos_token_ids.size() == 1) json["eos_token_id"] = config.eos_token_ids[0];
  if (config.eos_token_ids.size() > 1) json["eos_token_id"] = config.eos_token_ids;
  return json;
}

void make_swiftkv_checkpoint(Checkpoint& checkpoint, int64_t num_kv_layers, int64_t group_size) {
  ModelConfig& config = checkpoint.config;
  if (config.swiftkv) {
    fail("'%s' is already a SwiftKV checkpoint (model_type %s); convert its original model instead",
         checkpoint.path.c_str(), config.model_type.c_str());
  }
  validate_swiftkv_shape(config, num_kv_layers, group_size);
  config.model_type = config.model_type == "qwen2" ? "qwen2_swiftkv" : "llama_swiftkv";
  config.swiftkv = true;
  config.num_key_value_layers = num_kv_layers;
  config.key_value_group_size = group_size;

  // Keep every original tensor (viewed, not copied) and add the SwiftKV ones.
  std::shared_ptr<const TensorSource> old(std::move(checkpoint.tensors));
  auto out = std::make_unique<OwnedTensorSource>(old->origin());
  for (const std::string& name : old->names()) out->add_view(old->get(name), old);

  const int64_t D = config.hidden_size;
  out->add_f32("model.norm_swiftkv.weight", {D},
               old->read_f32(layer_name(num_kv_layers, "input_layernorm.weight"), {D}));
  add_swiftkv_attention(config, *old, *out);
  checkpoint.tensors = std::move(out);
}

void write_hf_directory(const Checkpoint& checkpoint, const std::string& out_dir) {
  // The input tensors are memory-mapped, so writing over them would corrupt
  // the source while it is read.
  std::error_code same_error;
  if (std::filesystem::is_directory(checkpoint.path) && std::filesystem::exists(out_dir) &&
      std::filesystem::equivalent(checkpoint.path, out_dir, same_error)) {
    fail("output directory '%s' is the input checkpoint; choose another output directory", out_dir.c_str());
  }
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) fail("cannot create directory '%s': %s", out_dir.c_str(), error.message().c_str());

  std::vector<std::vector<float>> scratch;
  std::vector<SafetensorsEntry> entries;
  for (const std::string& name : checkpoint.tensors->names()) {
    entries.push_back(entry_for(checkpoint.tensors->get(name), scratch));
  }
  const std::string tensors_path = out_dir + "/model.safetensors";
  write_safetensors(tensors_path + ".partial", entries);
  std::filesystem::rename(tensors_path + ".partial", tensors_path, error);
  if (error) fail("cannot rename '%s.partial' to '%s': %s", tensors_path.c_str(), tensors_path.c_str(), error.message().c_str());

  // transformers loads weights in the config's torch_dtype, so name the
  // widest dtype that was written.
  std::string torch_dtype = "bfloat16";
  for (const SafetensorsEntry& entry : entries) {
    if (entry.dtype == DType::kF32) torch_dtype = "float32";
    if (entry.dtype == DType::kF16 && torch_dtype == "bfloat16") torch_dtype = "float16";
  }
  write_json_file(out_dir + "/config.json", model_config_to_json(checkpoint.config, torch_dtype));
  write_json_file(out_dir + "/generation_config.json", generation_config_json(checkpoint.config));
  write_json_file(out_dir + "/tokenizer.json", tokenizer_json_from_vocab(checkpoint.vocab));
  nlohmann::json tokenizer_config = tokenizer_config_from_vocab(checkpoint.vocab);
  write_json_file(out_dir + "/tokenizer_config.json", tokenizer_config);
  SKV_LOG_INFO("checkpoint", "wrote %zu tensors to %s", entries.size(), out_dir.c_str());
}

}  // namespace swiftkv
