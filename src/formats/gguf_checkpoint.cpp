#include "formats/gguf_checkpoint.h"

#include "core/error.h"
#include "core/log.h"
#include "formats/checkpoint.h"
#include "formats/weight_names.h"

namespace swiftkv {

namespace {

const GgufTensorInfo* find_tensor(const GgufFile& gguf, const std::string& name) {
  for (const GgufTensorInfo& info : gguf.tensors()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

RopeScaling gguf_rope_scaling(const GgufFile& gguf, const std::string& arch) {
  const std::string type = gguf.get_string_or(arch + ".rope.scaling.type", "none");
  if (type != "none") {
    fail("'%s' uses RoPE scaling type '%s' (%s.rope.scaling.type), which is not supported; supported: none",
         gguf.path().c_str(), type.c_str(), arch.c_str());
  }
  return RopeScaling{};
}

// True for the q/k projections that llama.cpp's converter stores in the
// adjacent-pair RoPE layout. It permutes them only for arch llama, not qwen2
// (convert_hf_to_gguf.py: LlamaModel.modify_tensors permutes q_proj/k_proj,
// Qwen2Model.modify_tensors passes tensors through).
bool needs_rope_permute(const std::string& arch, const std::string& hf_name) {
  if (arch != "llama") return false;
  return hf_name.find("self_attn.q_proj.") != std::string::npos ||
         hf_name.find("self_attn.k_proj.") != std::string::npos;
}

TokenType token_type_from_id(int64_t id, int64_t token, const std::string& path) {
  if (id < 0 || id > static_cast<int64_t>(TokenType::kByte)) {
    fail("'%s' gives token %lld the invalid tokenizer.ggml.token_type %lld; valid types are 0 to 6", path.c_str(),
         static_cast<long long>(token), static_cast<long long>(id));
  }
  return static_cast<TokenType>(id);
}

// Reads a special token id. Absent keys, -1 written as u32 0xFFFFFFFF (as
// some converters do) and ids past the token table all give -1.
int64_t special_token_id(const GgufFile& gguf, const std::string& key, size_t token_count) {
  const int64_t id = gguf.get_int_or(key, -1);
  if (id == 0xFFFFFFFFll || id < 0) return -1;
  if (id >= static_cast<int64_t>(token_count)) {
    SKV_LOG_WARN("formats", "%s: %s = %lld is not below the %zu tokens; ignoring it", gguf.path().c_str(),
                 key.c_str(), static_cast<long long>(id), token_count);
    return -1;
  }
  return id;
}

}  // namespace

ModelConfig gguf_model_config(const GgufFile& gguf) {
  const std::string arch = gguf.get_string("general.architecture");
  if (arch != "llama" && arch != "qwen2") {
    fail("'%s' has general.architecture '%s'; supported: llama, qwen2", gguf.path().c_str(), arch.c_str());
  }
  const GgufTensorInfo* embedding = find_tensor(gguf, "token_embd.weight");
  if (embedding == nullptr || embedding->shape.size() != 2) {
    fail("'%s' has no 2-dimensional tensor 'token_embd.weight'; the file is incomplete", gguf.path().c_str());
  }

  ModelConfig config;
  config.model_type = arch;
  config.num_hidden_layers = gguf.get_int(arch + ".block_count");
  config.hidden_size = gguf.get_int(arch + ".embedding_length");
  config.intermediate_size = gguf.get_int(arch + ".feed_forward_length");
  config.num_attention_heads = gguf.get_int(arch + ".attention.head_count");
  config.num_key_value_heads = gguf.get_int_or(arch + ".attention.head_count_kv", config.num_attention_heads);
  if (config.num_attention_heads <= 0) {
    fail("'%s' has %s.attention.head_count = %lld; it must be positive", gguf.path().c_str(), arch.c_str(),
         static_cast<long long>(config.num_attention_heads));
  }
  config.head_dim = gguf.get_int_or(arch + ".attention.key_length", config.hidden_size / config.num_attention_heads);
  const int64_t rope_dims = gguf.get_int_or(arch + ".rope.dimension_count", config.head_dim);
  if (rope_dims != config.head_dim) {
    fail("'%s' rotates %lld of %lld head dimensions (%s.rope.dimension_count); partial RoPE is not supported",
         gguf.path().c_str(), static_cast<long long>(rope_dims), static_cast<long long>(config.head_dim), arch.c_str());
  }
  config.vocab_size = embedding->shape[0];
  config.max_position_embeddings = gguf.get_int_or(arch + ".context_length", 2048);
  config.rms_norm_eps = static_cast<float>(gguf.get_float(arch + ".attention.layer_norm_rms_epsilon"));
  config.rope_theta = static_cast<float>(gguf.get_float_or(arch + ".rope.freq_base", 10000.0));
  config.rope_scaling = gguf_rope_scaling(gguf, arch);
  config.tie_word_embeddings = find_tensor(gguf, "output.weight") == nullptr;
  config.attention_bias = arch == "qwen2";
  const size_t token_count = static_cast<size_t>(config.vocab_size);
  config.bos_token_id = special_token_id(gguf, "tokenizer.ggml.bos_token_id", token_count);
  // Chat models mark the end of a turn with an end-of-turn token besides EOS.
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    const int64_t id = special_token_id(gguf, key, token_count);
    bool known = false;
    for (int64_t existing : config.eos_token_ids) known = known || existing == id;
    if (id >= 0 && !known) config.eos_token_ids.push_back(id);
  }
  config.validate(gguf.path());
  return config;
}

VocabSpec gguf_vocab_spec(const GgufFile& gguf) {
  VocabSpec vocab;
  vocab.model = gguf.get_string("tokenizer.ggml.model");
  vocab.pre = gguf.get_string_or("tokenizer.ggml.pre", "");
  vocab.tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  const size_t count = vocab.tokens.size();

  if (gguf.has("tokenizer.ggml.scores")) {
    for (double score : gguf.get_float_array("tokenizer.ggml.scores")) vocab.scores.push_back(static_cast<float>(score));
    if (vocab.scores.size() != count) {
      fail("'%s' has %zu tokenizer.ggml.scores for %zu tokens", gguf.path().c_str(), vocab.scores.size(), count);
    }
  }

  if (gguf.has("tokenizer.ggml.token_type")) {
    const std::vector<int64_t> types = gguf.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != count) {
      fail("'%s' has %zu tokenizer.ggml.token_type entries for %zu tokens", gguf.path().c_str(), types.size(), count);
    }
    for (size_t i = 0; i < count; ++i) {
      vocab.token_types.push_back(token_type_from_id(types[i], static_cast<int64_t>(i), gguf.path()));
    }
  }

  if (gguf.has("tokenizer.ggml.merges")) {
    for (const std::string& merge : gguf.get_string_array("tokenizer.ggml.merges")) {
      const size_t space = merge.find(' ');
      if (space == std::string::npos) {
        fail("'%s' has tokenizer.ggml.merges entry '%s' without a space between its two parts",
             gguf.path().c_str(), merge.c_str());
      }
      vocab.merges.emplace_back(merge.substr(0, space), merge.substr(space + 1));
    }
  }

  vocab.bos_id = special_token_id(gguf, "tokenizer.ggml.bos_token_id", count);
  vocab.eos_id = special_token_id(gguf, "tokenizer.ggml.eos_token_id", count);
  vocab.unk_id = special_token_id(gguf, "tokenizer.ggml.unknown_token_id", count);
  vocab.pad_id = special_token_id(gguf, "tokenizer.ggml.padding_token_id", count);
  const bool sentencepiece = vocab.model == "llama";
  vocab.add_bos = gguf.get_bool_or("tokenizer.ggml.add_bos_token", sentencepiece);
  vocab.add_eos = gguf.get_bool_or("tokenizer.ggml.add_eos_token", false);
  vocab.add_space_prefix = gguf.get_bool_or("tokenizer.ggml.add_space_prefix", sentencepiece);
  vocab.chat_template = gguf.get_string_or("tokenizer.chat_template", "");
  return vocab;
}

Checkpoint load_gguf_checkpoint(const std::string& path) {
  auto gguf = std::make_shared<GgufFile>(path);
  Checkpoint checkpoint;
  checkpoint.format = CheckpointFormat::kGguf;
  checkpoint.path = path;
  checkpoint.config = gguf_model_config(*gguf);
  checkpoint.vocab = gguf_vocab_spec(*gguf);
  if (static_cast<int64_t>(checkpoint.vocab.tokens.size()) > checkpoint.config.vocab_size) {
    fail("'%s' has %zu tokens but token_embd.weight has only %lld rows", path.c_str(),
         checkpoint.vocab.tokens.size(), static_cast<long long>(checkpoint.config.vocab_size));
  }

  const std::string arch = checkpoint.config.model_type;
  auto source = std::make_unique<OwnedTensorSource>(path);
  std::shared_ptr<const void> keep_alive = gguf->mapping();
  for (const GgufTensorInfo& info : gguf->tensors()) {
    TensorView view = gguf->tensor_view(info);
    std::string hf_name = gguf_to_hf_name(info.name);
    if (hf_name.empty()) {
      // NOTE: unmapped tensors (for example rope_freqs.weight, the llama3
      // RoPE frequency factors) stay under their GGUF names and are unused.
      SKV_LOG_WARN("formats", "%s: tensor '%s' has no Hugging Face name and is kept as is", path.c_str(),
                   info.name.c_str());
      source->add_view(std::move(view), keep_alive);
      continue;
    }
    if (needs_rope_permute(arch, hf_name)) {
      add_rotate_half_permuted(*source, view, hf_name, checkpoint.config.head_dim);
      continue;
    }
    view.name = hf_name;
    source->add_view(std::move(view), keep_alive);
  }
  check_tensors(*source, checkpoint.config);
  checkpoint.tensors = std::move(source);
  SKV_LOG_INFO("formats", "loaded GGUF %s (arch %s, L %lld, D %lld, V %lld)", path.c_str(), arch.c_str(),
               static_cast<long long>(checkpoint.config.num_hidden_layers),
               static_cast<long long>(checkpoint.config.hidden_size),
               static_cast<long long>(checkpoint.config.vocab_size));
  return checkpoint;
}

}  // namespace swiftkv
