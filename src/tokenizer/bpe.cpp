// The BPE merge loop shared by both tokenizer families.
#include <limits>

#include "tokenizer/text_utils.h"
#include "tokenizer/tokenizer_impl.h"

namespace swiftkv::tok {

namespace {

struct Symbol {
  std::string text;
  int32_t id = -1;  // -1 when the text is not a vocabulary token
};

// Returns the priority of merging `left` and `right` (lower merges first) and
// the merged token id, or false when the pair does not merge.
bool merge_priority(const TokenizerModel& model, const Symbol& left, const Symbol& right,
                    double& priority, int32_t& merged_id) {
  if (model.merge_by_score) {
    const auto it = model.ids.find(left.text + right.text);
    if (it == model.ids.end()) return false;
    priority = -static_cast<double>(model.scores[it->second]);
    merged_id = it->second;
    return true;
  }
  if (left.id < 0 || right.id < 0) return false;
  const auto it = model.merge_ranks.find(merge_key(left.id, right.id));
  if (it == model.merge_ranks.end()) return false;
  const auto merged = model.ids.find(left.text + right.text);
  if (merged == model.ids.end()) return false;
  priority = it->second;
  merged_id = merged->second;
  return true;
}

void append_unknown(const TokenizerModel& model, const std::string& text,
                    std::vector<int32_t>& out) {
  if (model.byte_fallback) {
    bool all_found = true;
    std::vector<int32_t> bytes;
    for (unsigned char c : text) {
      const auto it = model.ids.find(byte_token_name(c));
      if (it == model.ids.end()) {
        all_found = false;
        break;
      }
      bytes.push_back(it->second);
    }
    if (all_found) {
      out.insert(out.end(), bytes.begin(), bytes.end());
      return;
    }
  }
  // Hugging Face fuses consecutive unknown pieces into one unk (fuse_unk).
  if (model.unk_id >= 0 && (out.empty() || out.back() != model.unk_id)) {
    out.push_back(model.unk_id);
  }
}

}  // namespace

std::string byte_token_name(unsigned char byte) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string token = "<0x00>";
  token[3] = kHex[byte >> 4];
  token[4] = kHex[byte & 15];
  return token;
}

void bpe_encode_word(const TokenizerModel& model, const std::string& word,
                     std::vector<int32_t>& out) {
  if (model.ignore_merges) {
    const auto it = model.ids.find(word);
    if (it != model.ids.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<Symbol> symbols;
  for (std::string& ch : split_utf8_chars(word)) {
    const auto it = model.ids.find(ch);
    symbols.push_back({std::move(ch), it == model.ids.end() ? -1 : it->second});
  }

  // Merge the best pair (leftmost on ties) until no pair merges. This is
  // quadratic in the word length.
  // TODO: use a priority queue if long words without pre-tokenizer splits
  // (SentencePiece inputs) turn out to be slow.
  while (symbols.size() > 1) {
    double best = std::numeric_limits<double>::infinity();
    size_t best_index = 0;
    int32_t best_id = -1;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      double priority = 0;
      int32_t merged_id = -1;
      if (merge_priority(model, symbols[i], symbols[i + 1], priority, merged_id) &&
          priority < best) {
        best = priority;
        best_index = i;
        best_id = merged_id;
      }
    }
    if (best_id < 0) break;
    symbols[best_index].text += symbols[best_index + 1].text;
    symbols[best_index].id = best_id;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_index) + 1);
  }

  for (const Symbol& symbol : symbols) {
    if (symbol.id >= 0) {
      out.push_back(symbol.id);
    } else {
      append_unknown(model, symbol.text, out);
    }
  }
}

}  // namespace swiftkv::tok
