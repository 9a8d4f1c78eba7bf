#include "formats/llama2c.h"

#include <cctype>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "formats/weight_names.h"

namespace swiftkv {

namespace {

// Header fields in file order.
struct Llama2cHeader {
  int32_t dim;         // D
  int32_t hidden_dim;  // F
  int32_t n_layers;    // L
  int32_t n_heads;     // H
  int32_t n_kv_heads;  // HKV
  int32_t vocab_size;  // V, negative when the classifier is not shared
  int32_t seq_len;
};

// Limits far above any llama2.c model; they reject garbage headers before
// any size arithmetic can overflow.
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxSeqLen = 1 << 24;

void check_range(int64_t value, int64_t max, const char* field, const std::string& path) {
  if (value <= 0 || value > max) {
    fail("'%s' is not a valid llama2.c checkpoint: header field %s = %lld is outside [1, %lld]", path.c_str(),
         field, static_cast<long long>(value), static_cast<long long>(max));
  }
}

ModelConfig config_from_header(const Llama2cHeader& header, const std::string& path) {
  const int64_t vocab = header.vocab_size < 0 ? -static_cast<int64_t>(header.vocab_size) : header.vocab_size;
  check_range(header.dim, kMaxDim, "dim", path);
  check_range(header.hidden_dim, 4 * kMaxDim, "hidden_dim", path);
  check_range(header.n_layers, kMaxLayers, "n_layers", path);
  check_range(header.n_heads, header.dim, "n_heads", path);
  check_range(header.n_kv_heads, header.n_heads, "n_kv_heads", path);
  check_range(vocab, kMaxVocab, "vocab_size", path);
  check_range(header.seq_len, kMaxSeqLen, "seq_len", path);
  if (header.dim % header.n_heads != 0) {
    fail("'%s' is not a valid llama2.c checkpoint: dim %d is not a multiple of n_heads %d", path.c_str(),
         header.dim, header.n_heads);
  }

  ModelConfig config;
  config.model_type = "llama";
  config.hidden_size = header.dim;
  config.intermediate_size = header.hidden_dim;
  config.num_hidden_layers = header.n_layers;
  config.num_attention_heads = header.n_heads;
  config.num_key_value_heads = header.n_kv_heads;
  config.head_dim = header.dim / header.n_heads;
  config.vocab_size = vocab;
  config.max_position_embeddings = header.seq_len;
  config.rms_norm_eps = 1e-5f;
  config.rope_theta = 10000.0f;
  config.tie_word_embeddings = header.vocab_size > 0;
  config.bos_token_id = 1;
  config.eos_token_ids = {2};
  config.validate(path);
  return config;
}

// One float32 array of the file, in storage order.
struct Llama2cArray {
  const char* hf_suffix;  // Hugging Face name after "model.layers.{i}." or the full name
  bool per_layer;
  std::vector<int64_t> shape;  // per layer for per-layer arrays
  bool rope_permute;
};

std::vector<Llama2cArray> storage_order(const ModelConfig& c) {
  const int64_t d = c.hidden_size;
  const int64_t kv = c.num_key_value_heads * c.head_dim;
  const int64_t f = c.intermediate_size;
  return {
      {"model.embed_tokens.weight", false, {c.vocab_size, d}, false},
      {"input_layernorm.weight", true, {d}, false},
      {"self_attn.q_proj.weight", true, {d, d}, true},
      {"self_attn.k_proj.weight", true, {kv, d}, true},
      {"self_attn.v_proj.weight", true, {kv, d}, false},
      {"self_attn.o_proj.weight", true, {d, d}, false},
      {"post_attention_layernorm.weight", true, {d}, false},
      {"mlp.gate_proj.weight", true, {f, d}, false},  // w1
      {"mlp.down_proj.weight", true, {d, f}, false},  // w2
      {"mlp.up_proj.weight", true, {f, d}, false},    // w3
      {"model.norm.weight", false, {d}, false},
  };
}

int64_t elements_of(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

}  // namespace

VocabSpec read_llama2c_tokenizer(const std::string& path, int64_t vocab_size) {
  MappedFile file(path);
  const uint8_t* data = file.data();
  const uint64_t size = file.size();
  uint64_t position = 0;
  auto read_bytes = [&](void* out, uint64_t count, const char* what) {
    if (count > size - position) {
      fail("'%s' is truncated: reading %s needs %llu bytes at offset %llu but the file has %llu bytes; "
           "is it the tokenizer of this model (vocab_size %lld)?",
           path.c_str(), what, static_cast<unsigned long long>(count), static_cast<unsigned long long>(position),
           static_cast<unsigned long long>(size), static_cast<long long>(vocab_size));
    }
    std::memcpy(out, data + position, count);
    position += count;
  };

  int32_t max_token_length = 0;
  read_bytes(&max_token_length, 4, "max_token_length");
  if (max_token_length <= 0 || max_token_length > (1 << 16)) {
    fail("'%s' is not a llama2.c tokenizer: max_token_length = %d", path.c_str(), max_token_length);
  }

  VocabSpec vocab;
  vocab.model = "llama";
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  vocab.add_bos = true;
  vocab.add_space_prefix = true;
  for (int64_t id = 0; id < vocab_size; ++id) {
    float score = 0;
    int32_t length = 0;
    read_bytes(&score, 4, "a token score");
    read_bytes(&length, 4, "a token length");
    if (length < 0 || length > max_token_length) {
      fail("'%s' has token %lld of length %d outside [0, max_token_length = %d]", path.c_str(),
           static_cast<long long>(id), length, max_token_length);
    }
    std::string text(static_cast<size_t>(length), '\0');
    read_bytes(text.data(), static_cast<uint64_t>(length), "token bytes");

    // The stories260K tokenizer stores BOS and EOS as "\n<s>\n" and "\n</s>\n".
    // The text is kept as stored, but the type ignores the newlines.
    TokenType type = TokenType::kNormal;
    const size_t first = text.find_first_not_of('\n');
    const size_t last = text.find_last_not_of('\n');
    const std::string trimmed = first == std::string::npos ? "" : text.substr(first, last - first + 1);
    if (trimmed == "<unk>") type = TokenType::kUnknown;
    if (trimmed == "<s>" || trimmed == "</s>") type = TokenType::kControl;
    if (text.size() == 6 && text.rfind("<0x", 0) == 0 && text[5] == '>' && std::isxdigit(static_cast<unsigned char>(text[3])) &&
        std::isxdigit(static_cast<unsigned char>(text[4]))) {
      type = TokenType::kByte;
    }
    if (type == TokenType::kUnknown) vocab.unk_id = id;
    vocab.tokens.push_back(std::move(text));
    vocab.scores.push_back(score);
    vocab.token_types.push_back(type);
  }
  if (position != size) {
    fail("'%s' has %llu bytes after its %lld tokens; it is not the tokenizer of this model", path.c_str(),
         static_cast<unsigned long long>(size - position), static_cast<long long>(vocab_size));
  }
  return vocab;
}

Checkpoint load_llama2c_checkpoint(const std::string& path, const std::string& tokenizer_path) {
  auto file = std::make_shared<MappedFile>(path);
  Llama2cHeader header{};
  if (file->size() < sizeof(header)) {
    fail("'%s' is not a llama2.c checkpoint: it has %zu bytes, fewer than the 28-byte header", path.c_str(),
         file->size());
  }
  std::memcpy(&header, file->data(), sizeof(header));
  Checkpoint checkpoint;
  checkpoint.format = CheckpointFormat::kLlama2c;
  checkpoint.path = path;
  checkpoint.config = config_from_header(header, path);
  const ModelConfig& config = checkpoint.config;

  // Expected size: header, weights, two RoPE tables (seq_len x head_dim/2
  // each, optional when the classifier is shared), then the classifier.
  const std::vector<Llama2cArray> arrays = storage_order(config);
  int64_t weight_floats = 0;
  for (const Llama2cArray& array : arrays) {
    weight_floats += elements_of(array.shape) * (array.per_layer ? config.num_hidden_layers : 1);
  }
  const int64_t rope_floats = config.max_position_embeddings * config.head_dim;
  const int64_t classifier_floats = config.tie_word_embeddings ? 0 : config.vocab_size * config.hidden_size;
  const int64_t base_bytes = static_cast<int64_t>(sizeof(header)) + 4 * weight_floats;
  const int64_t full_bytes = base_bytes + 4 * (rope_floats + classifier_floats);
  const int64_t actual = static_cast<int64_t>(file->size());
  if (actual != full_bytes && !(config.tie_word_embeddings && actual == base_bytes)) {
    fail("'%s' has %lld bytes but its header (dim %d, hidden_dim %d, n_layers %d, n_heads %d, n_kv_heads %d, "
         "vocab_size %d, seq_len %d) implies %lld bytes; the file is truncated or not a llama2.c checkpoint",
         path.c_str(), static_cast<long long>(actual), header.dim, header.hidden_dim, header.n_layers,
         header.n_heads, header.n_kv_heads, header.vocab_size, header.seq_len, static_cast<long long>(full_bytes));
  }

  auto source = std::make_unique<OwnedTensorSource>(path);
  const uint8_t* cursor = file->data() + sizeof(header);
  for (const Llama2cArray& array : arrays) {
    const int64_t count = array.per_layer ? config.num_hidden_layers : 1;
    for (int64_t layer = 0; layer < count; ++layer) {
      TensorView view;
      view.name = array.per_layer ? "model.layers." + std::to_string(layer) + "." + array.hf_suffix : array.hf_suffix;
      view.dtype = DType::kF32;
      view.shape = array.shape;
      view.data = cursor;
      view.nbytes = 4 * elements_of(array.shape);
      view.file = path;
      cursor += view.nbytes;
      if (array.rope_permute) {
        add_rotate_half_permuted(*source, view, view.name, config.head_dim);
      } else {
        source->add_view(view, file);
      }
    }
  }
  if (!config.tie_word_embeddings) {
    TensorView view;
    view.name = "lm_head.weight";
    view.shape = {config.vocab_size, config.hidden_size};
    view.data = cursor + 4 * rope_floats;
    view.nbytes = 4 * classifier_floats;
    view.file = path;
    source->add_view(view, file);
  }
  checkpoint.tensors = std::move(source);
  checkpoint.vocab = read_llama2c_tokenizer(tokenizer_path, config.vocab_size);
  SKV_LOG_INFO("formats", "loaded llama2.c checkpoint %s (D %lld, L %lld, V %lld)", path.c_str(),
               static_cast<long long>(config.hidden_size), static_cast<long long>(config.num_hidden_layers),
               static_cast<long long>(config.vocab_size));
  return checkpoint;
}

}  // namespace swiftkv
