// Text <-> token ids for the two tokenizer families the supported models use:
// byte-level BPE (GPT-2, Llama-3, SmolLM2) and SentencePiece-style BPE with
// byte fallback (Llama-2, TinyLlama, llama2.c models). Built from a VocabSpec,
// either a Hugging Face tokenizer.json or GGUF / llama2.c token tables.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/vocab_spec.h"

namespace swiftkv {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Splits out added tokens (special tokens such as `<|im_start|>` or `<s>`),
  // then normalizes, pre-tokenizes and runs BPE on the text between them.
  // `add_special` adds BOS/EOS as the tokenizer's configuration sets, like
  // Hugging Face `add_special_tokens=True`.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special) const = 0;

  // Joins the bytes of `ids` and decodes them the Hugging Face way: the
  // SentencePiece dummy-prefix space is stripped once at the start, and
  // invalid UTF-8 becomes U+FFFD. `skip_special` drops special tokens.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special) const = 0;

  // The raw bytes a token stands for: GPT-2 byte-level characters mapped back
  // to bytes, `▁` as a space, `<0xAB>` as the byte 0xAB. Special tokens
  // return their text. Throws Error for an id outside [0, vocab_size).
  virtual std::string token_bytes(int32_t id) const = 0;

  // The token string as stored in the vocabulary (for example "Ġthe").
  virtual const std::string& token_text(int32_t id) const = 0;
  // The id of a vocabulary token string, or -1 when it is not in the vocabulary.
  virtual int32_t token_id(std::string_view token) const = 0;

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when the vocabulary has none
  virtual int32_t eos_id() const = 0;  // -1 when the vocabulary has none
  virtual bool is_special(int32_t id) const = 0;
  // True for SentencePiece-style vocabularies, whose decode strips one
  // leading space (the dummy prefix).
  virtual bool strips_leading_space() const = 0;
  virtual const std::string& chat_template() const = 0;
};

// Builds a tokenizer from `spec.tokenizer_json` when present, else from the
// token tables. Throws Error naming the field for unsupported or malformed input.
std::unique_ptr<Tokenizer> make_tokenizer(const VocabSpec& spec);

// Turns token ids into text incrementally for streaming output. Each push
// returns only complete UTF-8 characters: bytes of a character split across
// tokens are held back until it is complete.
class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tokenizer, bool skip_special);

  // Returns the text that became complete with `id` (possibly empty).
  std::string push(int32_t id);
  // Returns the held-back bytes, each incomplete sequence as U+FFFD, and resets.
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool at_start_ = true;
  std::string pending_;  // bytes of an incomplete UTF-8 sequence
};

// Writes a Hugging Face tokenizer.json for a table-based vocabulary (GGUF
// "gpt2" or "llama", llama2.c), so that the `tokenizers` library tokenizes as
// make_tokenizer(spec) does. A spec that already has tokenizer_json returns it parsed.
nlohmann::json tokenizer_json_from_vocab(const VocabSpec& spec);
// The matching tokenizer_config.json (BOS/EOS, add_bos/add_eos, chat template).
nlohmann::json tokenizer_config_from_vocab(const VocabSpec& spec);

}  // namespace swiftkv
