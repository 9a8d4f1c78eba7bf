// The Tokenizer implementation: added-token splitting, encode and decode.
#include <cctype>

#include "core/error.h"
#include "tokenizer/text_utils.h"
#include "tokenizer/tokenizer_impl.h"

namespace swiftkv {

namespace tok {

void finish_model(TokenizerModel& model) {
  const size_t vocab_size = model.tokens.size();
  model.ids.clear();
  model.ids.reserve(vocab_size);
  for (size_t id = 0; id < vocab_size; ++id) {
    // The first id wins for duplicate strings, as in llama.cpp.
    model.ids.emplace(model.tokens[id], static_cast<int32_t>(id));
  }
  model.special.assign(vocab_size, false);
  for (const AddedToken& token : model.added_tokens) {
    if (token.special && token.id >= 0 && static_cast<size_t>(token.id) < vocab_size) {
      model.special[token.id] = true;
    }
  }
  model.byte_value.assign(vocab_size, -1);
  if (model.byte_fallback) {
    for (size_t id = 0; id < vocab_size; ++id) model.byte_value[id] = parse_byte_token(model.tokens[id]);
  }
}

}  // namespace tok

namespace {

using tok::AddedToken;
using tok::TokenizerModel;

// A stretch of input: plain text, or an added token matched in it.
struct Segment {
  std::string_view text;
  int32_t added_id = -1;
};

bool is_word_char(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(TokenizerModel model) : model_(std::move(model)) {}

  std::vector<int32_t> encode(std::string_view text, bool add_special) const override {
    std::vector<int32_t> ids;
    if (add_special) ids = model_.prefix_ids;
    bool first = true;
    for (const Segment& segment : split_added_tokens(text)) {
      if (segment.added_id >= 0) {
        ids.push_back(segment.added_id);
      } else {
        encode_text(segment.text, first, ids);
      }
      first = false;
    }
    if (add_special) ids.insert(ids.end(), model_.suffix_ids.begin(), model_.suffix_ids.end());
    return ids;
  }

  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override {
    std::string bytes;
    for (int32_t id : ids) {
      if (skip_special && is_special(id)) continue;
      bytes += token_bytes(id);
    }
    if (model_.strip_leading_space && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
    return tok::sanitize_utf8(bytes);
  }

  std::string token_bytes(int32_t id) const override {
    const std::string& text = token_text(id);
    if (model_.special[id]) return text;
    if (model_.byte_value[id] >= 0) return std::string(1, static_cast<char>(model_.byte_value[id]));
    if (model_.byte_level) return tok::byte_level_to_bytes(text);
    return tok::replace_all(text, tok::kSpmSpace, " ");
  }

  const std::string& token_text(int32_t id) const override {
    if (id < 0 || id >= vocab_size()) {
      fail("token id %d is outside the vocabulary [0, %d)", id, vocab_size());
    }
    return model_.tokens[id];
  }

  int32_t token_id(std::string_view token) const override {
    const auto it = model_.ids.find(std::string(token));
    return it == model_.ids.end() ? -1 : it->second;
  }

  int32_t vocab_size() const override { return static_cast<int32_t>(model_.tokens.size()); }
  int32_t bos_id() const override { return model_.bos_id; }
  int32_t eos_id() const override { return model_.eos_id; }
  bool is_special(int32_t id) const override {
    return id >= 0 && id < vocab_size() && model_.special[id];
  }
  bool strips_leading_space() const override { return model_.strip_leading_space; }
  const std::string& chat_template() const override { return model_.chat_template; }

 private:
  // Finds the longest added token that matches at `pos`, or nullptr.
  const AddedToken* match_added(std::string_view text, size_t pos) const {
    const AddedToken* best = nullptr;
    for (const AddedToken& token : model_.added_tokens) {
      if (token.content.empty() || text.compare(pos, token.content.size(), token.content) != 0) {
        continue;
      }
      if (token.single_word) {
        const size_t end = pos + token.content.size();
        const bool left_ok = pos == 0 || !is_word_char(text[pos - 1]);
        const bool right_ok = end == text.size() || !is_word_char(text[end]);
        if (!left_ok || !right_ok) continue;
      }
      if (best == nullptr || token.content.size() > best->content.size()) best = &token;
    }
    return best;
  }

  // Splits the raw text at added tokens, leftmost first, longest on ties.
  // NOTE: tokens with normalized=true are matched in the raw text too, which
  // differs from Hugging Face only when normalization changes their text.
  std::vector<Segment> split_added_tokens(std::string_view text) const {
    std::vector<Segment> segments;
    size_t start = 0;
    size_t pos = 0;
    while (pos < text.size()) {
      const AddedToken* token = model_.added_tokens.empty() ? nullptr : match_added(text, pos);
      if (token == nullptr) {
        ++pos;
        continue;
      }
      size_t text_end = pos;
      if (token->lstrip) {
        while (text_end > start && std::isspace(static_cast<unsigned char>(text[text_end - 1]))) --text_end;
      }
      if (text_end > start) segments.push_back({text.substr(start, text_end - start)});
      segments.push_back({{}, token->id});
      pos += token->content.size();
      if (token->rstrip) {
        while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
      }
      start = pos;
    }
    if (start < text.size()) segments.push_back({text.substr(start)});
    return segments;
  }

  void encode_text(std::string_view text, bool first_segment, std::vector<int32_t>& ids) const {
    const std::string normalized = tok::normalize(std::string(text), model_.normalizers);
    for (const std::string& word : tok::pre_tokenize(normalized, model_.pre_tokenizers, first_segment)) {
      if (model_.byte_level) {
        tok::bpe_encode_word(model_, tok::bytes_to_byte_level(word), ids);
      } else {
        tok::bpe_encode_word(model_, word, ids);
      }
    }
  }

  TokenizerModel model_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_tokenizer(const VocabSpec& spec) {
  tok::TokenizerModel model =
      spec.tokenizer_json.empty() ? tok::model_from_tables(spec) : tok::model_from_hf_json(spec);
  tok::finish_model(model);
  if (model.tokens.empty()) fail("the tokenizer has an empty vocabulary; check the model files");
  return std::make_unique<BpeTokenizer>(std::move(model));
}

}  // namespace swiftkv
