// Incremental detokenizing for streaming output.
#include "tokenizer/text_utils.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {}

std::string StreamDecoder::push(int32_t id) {
  if (skip_special_ && tokenizer_.is_special(id)) return "";
  pending_ += tokenizer_.token_bytes(id);
  if (at_start_ && !pending_.empty()) {
    // The first byte decides the dummy-prefix strip, as in Tokenizer::decode.
    if (tokenizer_.strips_leading_space() && pending_[0] == ' ') pending_.erase(0, 1);
    at_start_ = pending_.empty();
  }
  const size_t complete = tok::complete_utf8_prefix(pending_);
  std::string out = tok::sanitize_utf8(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = tok::sanitize_utf8(pending_);
  pending_.clear();
  at_start_ = true;
  return out;
}

}  // namespace swiftkv
