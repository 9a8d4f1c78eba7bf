#include "formats/model_config.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"

namespace swiftkv {

namespace {

using nlohmann::json;

bool is_swiftkv_type(const std::string& model_type) {
  return model_type == "llama_swiftkv" || model_type == "qwen2_swiftkv";
}

bool is_qwen2_type(const std::string& model_type) {
  return model_type == "qwen2" || model_type == "qwen2_swiftkv";
}

// True when `key` is present with a non-null value.
bool has_value(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && !it->is_null();
}

int64_t read_int(const json& object, const char* key, const std::string& origin) {
  if (!has_value(object, key)) fail("missing key '%s' in %s", key, origin.c_str());
  const json& value = object.at(key);
  if (!value.is_number_integer()) {
    fail("key '%s' in %s must be an integer, got %s", key, origin.c_str(), value.dump().c_str());
  }
  return value.get<int64_t>();
}

int64_t read_int_or(const json& object, const char* key, int64_t fallback, const std::string& origin) {
  return has_value(object, key) ? read_int(object, key, origin) : fallback;
}

double read_number_or(const json& object, const char* key, double fallback, const std::string& origin) {
  if (!has_value(object, key)) return fallback;
  const json& value = object.at(key);
  if (!value.is_number()) {
    fail("key '%s' in %s must be a number, got %s", key, origin.c_str(), value.dump().c_str());
  }
  return value.get<double>();
}

bool read_bool_or(const json& object, const char* key, bool fallback, const std::string& origin) {
  if (!has_value(object, key)) return fallback;
  const json& value = object.at(key);
  if (!value.is_boolean()) {
    fail("key '%s' in %s must be true or false, got %s", key, origin.c_str(), value.dump().c_str());
  }
  return value.get<bool>();
}

// "eos_token_id" may be one integer or a list of integers.
std::vector<int64_t> read_token_ids(const json& object, const char* key, const std::string& origin) {
  std::vector<int64_t> ids;
  if (!has_value(object, key)) return ids;
  const json& value = object.at(key);
  if (value.is_number_integer()) {
    ids.push_back(value.get<int64_t>());
    return ids;
  }
  if (!value.is_array()) {
    fail("key '%s' in %s must be an integer or a list of integers, got %s", key, origin.c_str(),
         value.dump().c_str());
  }
  for (const json& element : value) {
    if (!element.is_number_integer()) {
      fail("key '%s' in %s must list integers, got %s", key, origin.c_str(), element.dump().c_str());
    }
    ids.push_back(element.get<int64_t>());
  }
  return ids;
}

RopeScaling parse_rope_scaling(const json& object, const std::string& origin) {
  RopeScaling scaling;
  if (!has_value(object, "rope_scaling")) return scaling;
  const json& value = object.at("rope_scaling");
  if (!value.is_object()) {
    fail("key 'rope_scaling' in %s must be an object or null, got %s", origin.c_str(), value.dump().c_str());
  }
  std::string type;
  const char* type_key = has_value(value, "rope_type") ? "rope_type" : "type";
  if (has_value(value, type_key)) {
    if (!value.at(type_key).is_string()) {
      fail("rope_scaling.%s in %s must be a string, got %s", type_key, origin.c_str(),
           value.at(type_key).dump().c_str());
    }
    type = value.at(type_key).get<std::string>();
  }
  if (type.empty() || type == "default") return scaling;
  if (type != "llama3") {
    fail("unsupported rope_scaling type '%s' in %s; supported: llama3, default (or null for none)",
         type.c_str(), origin.c_str());
  }
  const std::string where = origin + " (rope_scaling)";
  scaling.type = type;
  scaling.factor = static_cast<float>(read_number_or(value, "factor", 0.0, where));
  scaling.low_freq_factor = static_cast<float>(read_number_or(value, "low_freq_factor", 0.0, where));
  scaling.high_freq_factor = static_cast<float>(read_number_or(value, "high_freq_factor", 0.0, where));
  scaling.original_max_position_embeddings = read_int(value, "original_max_position_embeddings", where);
  return scaling;
}

void parse_swiftkv_keys(const json& object, const std::string& origin, ModelConfig& config) {
  config.swiftkv = read_bool_or(object, "swiftkv", true, origin);
  if (!config.swiftkv) return;
  config.num_key_value_layers = read_int(object, "num_key_value_layers", origin);
  config.key_value_group_size = read_int_or(object, "key_value_group_size", 1, origin);
}

std::string read_text_file(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) fail("cannot open '%s'", path.c_str());
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

json parse_json_file(const std::string& path) {
  const std::string text = read_text_file(path);
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) fail("'%s' is not valid JSON", path.c_str());
  if (!parsed.is_object()) fail("'%s' must contain a JSON object", path.c_str());
  return parsed;
}

void check_positive(int64_t value, const char* key, const std::string& origin) {
  if (value <= 0) fail("invalid %s = %lld in %s: it must be positive", key, static_cast<long long>(value), origin.c_str());
}

void check_token_id(int64_t id, const char* key, int64_t vocab_size, const std::string& origin) {
  if (id < 0 || id >= vocab_size) {
    fail("invalid %s = %lld in %s: it must be a token id in [0, vocab_size = %lld)", key,
         static_cast<long long>(id), origin.c_str(), static_cast<long long>(vocab_size));
  }
}

void validate_swiftkv(const ModelConfig& config, const std::string& origin) {
  const long long layers = config.num_hidden_layers;
  const long long k = config.num_key_value_layers;
  const long long g = config.key_value_group_size;
  if (k < 1 || k >= layers) {
    fail("invalid num_key_value_layers = %lld in %s: it must satisfy 1 <= num_key_value_layers < "
         "num_hidden_layers (%lld); set it to the number of ordinary layers, for example %lld",
         k, origin.c_str(), layers, layers / 2);
  }
  if (g < 1) {
    fail("invalid key_value_group_size = %lld in %s: it must be at least 1 (1 means no AcrossKV sharing)",
         g, origin.c_str());
  }
  if ((layers - k) % g != 0) {
    fail("invalid key_value_group_size = %lld in %s: num_hidden_layers - num_key_value_layers = %lld "
         "must be divisible by it; choose a divisor of %lld",
         g, origin.c_str(), layers - k, layers - k);
  }
}

}  // namespace

void ModelConfig::validate(const std::string& origin) const {
  check_positive(hidden_size, "hidden_size", origin);
  check_positive(intermediate_size, "intermediate_size", origin);
  check_positive(num_hidden_layers, "num_hidden_layers", origin);
  check_positive(num_attention_heads, "num_attention_heads", origin);
  check_positive(num_key_value_heads, "num_key_value_heads", origin);
  check_positive(head_dim, "head_dim", origin);
  check_positive(vocab_size, "vocab_size", origin);
  check_positive(max_position_embeddings, "max_position_embeddings", origin);

  if (num_attention_heads % num_key_value_heads != 0) {
    fail("invalid num_key_value_heads = %lld in %s: num_attention_heads (%lld) must be a multiple of it",
         static_cast<long long>(num_key_value_heads), origin.c_str(),
         static_cast<long long>(num_attention_heads));
  }
  if (head_dim % 2 != 0) {
    fail("invalid head_dim = %lld in %s: RoPE needs an even head dimension",
         static_cast<long long>(head_dim), origin.c_str());
  }

  if (!(rms_norm_eps > 0.0f)) fail("invalid rms_norm_eps = %g in %s: it must be positive", rms_norm_eps, origin.c_str());
  if (!(rope_theta > 0.0f)) fail("invalid rope_theta = %g in %s: it must be positive", rope_theta, origin.c_str());
  if (rope_scaling.type == "llama3") {
    if (!(rope_scaling.factor > 0.0f) || !(rope_scaling.high_freq_factor > rope_scaling.low_freq_factor) ||
        rope_scaling.original_max_position_embeddings <= 0) {
      fail("invalid llama3 rope_scaling in %s: it needs factor > 0, high_freq_factor > low_freq_factor "
           "and original_max_position_embeddings > 0 (got %g, %g, %g, %lld)",
           origin.c_str(), rope_scaling.factor, rope_scaling.high_freq_factor, rope_scaling.low_freq_factor,
           static_cast<long long>(rope_scaling.original_max_position_embeddings));
    }
  }

  if (bos_token_id >= 0) check_token_id(bos_token_id, "bos_token_id", vocab_size, origin);
  for (int64_t id : eos_token_ids) check_token_id(id, "eos_token_id", vocab_size, origin);
  if (swiftkv) validate_swiftkv(*this, origin);
}

ModelConfig parse_model_config(const json& object, const std::string& origin) {
  if (!object.is_object()) fail("%s must contain a JSON object", origin.c_str());
  if (!has_value(object, "model_type") || !object.at("model_type").is_string()) {
    fail("missing key 'model_type' in %s; supported: llama, mistral, qwen2, llama_swiftkv, qwen2_swiftkv",
         origin.c_str());
  }
  ModelConfig config;
  config.model_type = object.at("model_type").get<std::string>();
  const std::string& type = config.model_type;
  if (type != "llama" && type != "mistral" && !is_qwen2_type(type) && !is_swiftkv_type(type)) {
    fail("unsupported model_type '%s' in %s; supported: llama, mistral, qwen2, llama_swiftkv, qwen2_swiftkv",
         type.c_str(), origin.c_str());
  }

  config.hidden_size = read_int(object, "hidden_size", origin);
  config.intermediate_size = read_int(object, "intermediate_size", origin);
  config.num_hidden_layers = read_int(object, "num_hidden_layers", origin);
  config.num_attention_heads = read_int(object, "num_attention_heads", origin);
  config.vocab_size = read_int(object, "vocab_size", origin);
  config.num_key_value_heads = read_int_or(object, "num_key_value_heads", config.num_attention_heads, origin);
  check_positive(config.num_attention_heads, "num_attention_heads", origin);
  if (has_value(object, "head_dim")) {
    config.head_dim = read_int(object, "head_dim", origin);
  } else {
    if (config.hidden_size % config.num_attention_heads != 0) {
      fail("hidden_size (%lld) in %s is not a multiple of num_attention_heads (%lld); set 'head_dim' explicitly",
           static_cast<long long>(config.hidden_size), origin.c_str(),
           static_cast<long long>(config.num_attention_heads));
    }
    config.head_dim = config.hidden_size / config.num_attention_heads;
  }
  config.max_position_embeddings = read_int_or(object, "max_position_embeddings", 2048, origin);
  config.rms_norm_eps = static_cast<float>(read_number_or(object, "rms_norm_eps", 1e-6, origin));
  config.rope_theta = static_cast<float>(read_number_or(object, "rope_theta", 10000.0, origin));
  config.rope_scaling = parse_rope_scaling(object, origin);
  // An absent key means untied, the default of transformers' LlamaConfig
  // (not checked for MistralConfig and Qwen2Config).
  config.tie_word_embeddings = read_bool_or(object, "tie_word_embeddings", false, origin);
  config.attention_bias = is_qwen2_type(type) || read_bool_or(object, "attention_bias", false, origin);
  config.bos_token_id = read_int_or(object, "bos_token_id", -1, origin);
  config.eos_token_ids = read_token_ids(object, "eos_token_id", origin);

  if (type == "mistral" && has_value(object, "sliding_window")) {
    // NOTE: attention is computed over the whole context; a sliding window
    // shorter than the context changes results only past that length.
    SKV_LOG_WARN("formats", "%s sets sliding_window = %s, which is ignored (full attention is used)",
                 origin.c_str(), object.at("sliding_window").dump().c_str());
  }
  if (is_swiftkv_type(type)) parse_swiftkv_keys(object, origin, config);
  config.validate(origin);
  return config;
}

ModelConfig load_model_config(const std::string& config_path) {
  return parse_model_config(parse_json_file(config_path), config_path);
}

void merge_generation_config(ModelConfig& config, const std::string& generation_config_path) {
  std::ifstream probe(generation_config_path);
  if (!probe) return;
  const json object = parse_json_file(generation_config_path);
  for (int64_t id : read_token_ids(object, "eos_token_id", generation_config_path)) {
    bool known = false;
    for (int64_t existing : config.eos_token_ids) known = known || existing == id;
    if (!known) config.eos_token_ids.push_back(id);
  }
  if (config.bos_token_id < 0) config.bos_token_id = read_int_or(object, "bos_token_id", -1, generation_config_path);
  config.validate(generation_config_path);
}

nlohmann::json model_config_to_json(const ModelConfig& config, const std::string& torch_dtype) {
  const bool qwen2 = is_qwen2_type(config.model_type);
  const bool swiftkv = is_swiftkv_type(config.model_type);
  std::string architecture = "LlamaForCausalLM";
  if (config.model_type == "mistral") architecture = "MistralForCausalLM";
  if (config.model_type == "qwen2") architecture = "Qwen2ForCausalLM";
  if (config.model_type == "llama_swiftkv") architecture = "LlamaSwiftKVForCausalLM";
  if (config.model_type == "qwen2_swiftkv") architecture = "Qwen2SwiftKVForCausalLM";

  json out;
  out["architectures"] = json::array({architecture});
  out["model_type"] = config.model_type;
  out["hidden_size"] = config.hidden_size;
  out["intermediate_size"] = config.intermediate_size;
  out["num_hidden_layers"] = config.num_hidden_layers;
  out["num_attention_heads"] = config.num_attention_heads;
  out["num_key_value_heads"] = config.num_key_value_heads;
  out["head_dim"] = config.head_dim;
  out["vocab_size"] = config.vocab_size;
  out["max_position_embeddings"] = config.max_position_embeddings;
  out["hidden_act"] = "silu";
  out["rms_norm_eps"] = config.rms_norm_eps;
  out["rope_theta"] = config.rope_theta;
  if (config.rope_scaling.type.empty()) {
    out["rope_scaling"] = nullptr;
  } else {
    out["rope_scaling"] = {
        {"rope_type", config.rope_scaling.type},
        {"factor", config.rope_scaling.factor},
        {"low_freq_factor", config.rope_scaling.low_freq_factor},
        {"high_freq_factor", config.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", config.rope_scaling.original_max_position_embeddings},
    };
  }
  out["tie_word_embeddings"] = config.tie_word_embeddings;
  // Qwen2 always has q/k/v biases; transformers' Qwen2Config has no such key.
  if (!qwen2) out["attention_bias"] = config.attention_bias;
  if (config.bos_token_id >= 0) out["bos_token_id"] = config.bos_token_id;
  if (config.eos_token_ids.size() == 1) out["eos_token_id"] = config.eos_token_ids[0];
  if (config.eos_token_ids.size() > 1) out["eos_token_id"] = config.eos_token_ids;
  out["torch_dtype"] = torch_dtype;
  out["use_cache"] = true;
  if (swiftkv) {
    out["swiftkv"] = config.swiftkv;
    out["num_key_value_layers"] = config.num_key_value_layers;
    out["key_value_group_size"] = config.key_value_group_size;
  }
  return out;
}

}  // namespace swiftkv
