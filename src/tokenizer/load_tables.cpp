// Builds the tokenizer model from GGUF or llama2.c token tables.
#include "core/error.h"
#include "tokenizer/text_utils.h"
#include "tokenizer/tokenizer_impl.h"

namespace swiftkv::tok {

namespace {

int32_t checked_id(int64_t id, size_t vocab_size, const char* token_name) {
  if (id < 0) return -1;
  // GGUF files store "no token" as 0xFFFFFFFF in a uint32 field.
  if (id >= static_cast<int64_t>(vocab_size)) {
    if (id == 0xFFFFFFFFLL) return -1;
    fail("%s id %lld is outside the vocabulary of %zu tokens; the tokenizer metadata is invalid",
         token_name, static_cast<long long>(id), vocab_size);
  }
  return static_cast<int32_t>(id);
}

// llama2.c tokenizer files store spaces as ' ' and BOS/EOS as "\n<s>\n";
// rewrite them to the SentencePiece form that GGUF uses.
void to_sentencepiece_form(std::vector<std::string>& tokens, int32_t bos, int32_t eos) {
  for (const std::string& token : tokens) {
    if (token.find(kSpmSpace) != std::string::npos) return;  // already in that form
  }
  for (size_t id = 0; id < tokens.size(); ++id) {
    std::string& token = tokens[id];
    if (static_cast<int32_t>(id) == bos || static_cast<int32_t>(id) == eos) {
      const size_t begin = token.find_first_not_of('\n');
      const size_t end = token.find_last_not_of('\n');
      token = begin == std::string::npos ? "" : token.substr(begin, end - begin + 1);
    } else {
      token = replace_all(token, " ", kSpmSpace);
    }
  }
}

TokenType type_of(const VocabSpec& spec, const std::vector<std::string>& tokens, int32_t id,
                  int32_t unk, int32_t bos, int32_t eos) {
  // BOS and EOS are control tokens even where llama2.c files mark them normal.
  if (id == bos || id == eos) return TokenType::kControl;
  if (!spec.token_types.empty()) return spec.token_types[id];
  if (id == unk) return TokenType::kUnknown;
  if (spec.model == "llama" && parse_byte_token(tokens[id]) >= 0) return TokenType::kByte;
  return TokenType::kNormal;
}

}  // namespace

TokenizerModel model_from_tables(const VocabSpec& spec) {
  const size_t vocab_size = spec.tokens.size();
  if (vocab_size == 0) fail("the token table is empty; the tokenizer metadata is missing");
  if (!spec.scores.empty() && spec.scores.size() != vocab_size) {
    fail("the tokenizer has %zu scores for %zu tokens; the file is malformed", spec.scores.size(), vocab_size);
  }
  if (!spec.token_types.empty() && spec.token_types.size() != vocab_size) {
    fail("the tokenizer has %zu token types for %zu tokens; the file is malformed",
         spec.token_types.size(), vocab_size);
  }

  TokenizerModel model;
  model.tokens = spec.tokens;
  model.bos_id = checked_id(spec.bos_id, vocab_size, "BOS");
  model.eos_id = checked_id(spec.eos_id, vocab_size, "EOS");
  model.unk_id = checked_id(spec.unk_id, vocab_size, "unknown-token");
  model.chat_template = spec.chat_template;
  if (spec.add_bos && model.bos_id >= 0) model.prefix_ids.push_back(model.bos_id);
  if (spec.add_eos && model.eos_id >= 0) model.suffix_ids.push_back(model.eos_id);

  if (spec.model == "llama") {
    to_sentencepiece_form(model.tokens, model.bos_id, model.eos_id);
    model.merge_by_score = true;
    model.scores = spec.scores;
    if (model.scores.empty()) fail("the SentencePiece (llama) tokenizer has no scores; the file is malformed");
    model.byte_fallback = true;
    model.strip_leading_space = spec.add_space_prefix;
    if (spec.add_space_prefix) model.normalizers.push_back({NormalizeStep::Kind::kPrepend, "", kSpmSpace});
    model.normalizers.push_back({NormalizeStep::Kind::kReplace, " ", kSpmSpace});
  } else if (spec.model == "gpt2") {
    model.byte_level = true;
    model.pre_tokenizers = steps_for_gguf_pre(spec.pre);
  } else {
    fail("unsupported tokenizer model '%s': supported are 'llama' (SentencePiece) and 'gpt2' "
         "(byte-level BPE)", spec.model.c_str());
  }

  // Control, user-defined and unknown tokens are matched in the text, as
  // llama.cpp does when it parses special tokens.
  for (size_t id = 0; id < vocab_size; ++id) {
    const TokenType type = type_of(spec, model.tokens, static_cast<int32_t>(id), model.unk_id,
                                   model.bos_id, model.eos_id);
    if (type == TokenType::kControl || type == TokenType::kUserDefined || type == TokenType::kUnknown) {
      AddedToken token;
      token.id = static_cast<int32_t>(id);
      token.content = model.tokens[id];
      token.special = type != TokenType::kUserDefined;
      model.added_tokens.push_back(token);
    }
  }

  finish_model(model);
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto left = model.ids.find(spec.merges[rank].first);
    const auto right = model.ids.find(spec.merges[rank].second);
    if (left == model.ids.end() || right == model.ids.end()) continue;
    model.merge_ranks.emplace(merge_key(left->second, right->second), static_cast<int32_t>(rank));
  }
  return model;
}

}  // namespace swiftkv::tok
