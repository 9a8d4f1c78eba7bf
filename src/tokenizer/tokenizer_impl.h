// The internal form every tokenizer source is converted into, and the one
// Tokenizer implementation that runs it.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv::tok {

// A token that is matched in raw text before normalization (Hugging Face
// AddedToken). lstrip/rstrip make a match absorb whitespace on that side.
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = true;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool single_word = false;
};

struct TokenizerModel {
  std::vector<std::string> tokens;  // V vocabulary strings
  std::unordered_map<std::string, int32_t> ids;

  // Merge table: key (left id << 32 | right id) -> rank, used unless merge_by_score.
  std::unordered_map<uint64_t, int32_t> merge_ranks;
  // SentencePiece tables: merge the adjacent pair whose concatenation is a
  // token with the highest score (llama.cpp SPM, llama2.c run.c).
  bool merge_by_score = false;
  std::vector<float> scores;  // V entries when merge_by_score

  bool byte_level = false;    // tokens use the GPT-2 byte-level alphabet
  bool byte_fallback = false; // unknown characters become <0xAB> tokens
  bool ignore_merges = false; // a word that is itself a token skips BPE
  bool strip_leading_space = false;  // SentencePiece decode drops one leading space
  int32_t unk_id = -1;
  int32_t bos_id = -1;
  int32_t eos_id = -1;

  std::vector<NormalizeStep> normalizers;
  std::vector<PreTokenizeStep> pre_tokenizers;
  std::vector<AddedToken> added_tokens;
  std::vector<int32_t> prefix_ids;  // added at the start by encode(add_special)
  std::vector<int32_t> suffix_ids;  // added at the end by encode(add_special)
  std::vector<bool> special;        // V entries
  std::vector<int> byte_value;      // V entries: the byte of a <0xAB> token or -1
  std::string chat_template;
};

// Runs BPE on one word (already in vocabulary alphabet) and appends the ids.
void bpe_encode_word(const TokenizerModel& model, const std::string& word,
                     std::vector<int32_t>& out);

// The byte-fallback token name of `byte`, for example "<0x0A>".
std::string byte_token_name(unsigned char byte);

// Fills `ids`, `special` and `byte_value` from `tokens` and the added tokens.
void finish_model(TokenizerModel& model);

TokenizerModel model_from_hf_json(const VocabSpec& spec);
TokenizerModel model_from_tables(const VocabSpec& spec);

inline uint64_t merge_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
         static_cast<uint32_t>(right);
}

}  // namespace swiftkv::tok
