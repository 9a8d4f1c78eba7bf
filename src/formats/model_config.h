// Typed model configuration, read from and written to Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace swiftkv {

// RoPE frequency scaling (config.json "rope_scaling"). Only the "llama3"
// type changes the frequencies; "default" or absent means none.
struct RopeScaling {
  std::string type;  // "" (none) or "llama3"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string model_type = "llama";  // llama, mistral, qwen2, llama_swiftkv, qwen2_swiftkv
  int64_t hidden_size = 0;           // D
  int64_t intermediate_size = 0;     // F
  int64_t num_hidden_layers = 0;     // L
  int64_t num_attention_heads = 0;   // H
  int64_t num_key_value_heads = 0;   // HKV
  int64_t head_dim = 0;              // DH (config "head_dim", else D / H)
  int64_t vocab_size = 0;            // V
  int64_t max_position_embeddings = 2048;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (always true for qwen2)
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;  // from config.json and generation_config.json

  // SwiftKV (model types *_swiftkv).
  bool swiftkv = false;
  int64_t num_key_value_layers = 0;  // K: layers >= K read K/V from norm_swiftkv
  int64_t key_value_group_size = 1;  // G: AcrossKV group size

  // Checks ranges and consistency; throws Error naming `origin` and the bad key.
  void validate(const std::string& origin) const;
};

// Parses config.json text; unknown model types and missing or out-of-range
// keys throw Error naming `origin` (the file path) and the key.
ModelConfig parse_model_config(const nlohmann::json& json, const std::string& origin);
ModelConfig load_model_config(const std::string& config_path);

// Adds eos ids (and bos if missing) from a generation_config.json, if present.
void merge_generation_config(ModelConfig& config, const std::string& generation_config_path);

// Returns config.json content for `config` in the form transformers reads;
// `torch_dtype` names the dtype the weights are saved in.
nlohmann::json model_config_to_json(const ModelConfig& config, const std::string& torch_dtype = "bfloat16");

}  // namespace swiftkv
