// The tokenizer description a checkpoint contains, before a Tokenizer is built.
// Hugging Face directories supply their JSON files; GGUF and llama2.c files
// supply token tables.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace swiftkv {

// GGUF token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3,
  kUserDefined = 4, kUnused = 5, kByte = 6,
};

struct VocabSpec {
  // Hugging Face source: raw file contents (empty when absent).
  std::string tokenizer_json;
  std::string tokenizer_config_json;

  // Table source (GGUF or llama2.c), used when tokenizer_json is empty.
  // model: "llama" = SentencePiece-style BPE merging by score with byte
  // fallback; "gpt2" = byte-level BPE merging by merge rank.
  std::string model;
  std::string pre;  // GGUF tokenizer.ggml.pre ("smollm", "llama-bpe", "gpt2", ...)
  std::vector<std::string> tokens;  // V entries
  std::vector<float> scores;        // V entries or empty
  std::vector<TokenType> token_types;  // V entries or empty
  std::vector<std::pair<std::string, std::string>> merges;  // by rank
  int64_t bos_id = -1;
  int64_t eos_id = -1;
  int64_t unk_id = -1;
  int64_t pad_id = -1;
  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = true;  // SentencePiece dummy prefix
  std::string chat_template;     // Jinja text, may be empty
};

}  // namespace swiftkv
