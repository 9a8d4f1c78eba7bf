#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/text_utils.h"

namespace swiftkv::tok {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The Llama-3 pattern (tokenizer.json of Meta-Llama-3).
static const char* const kLlama3Pattern =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
static const char* const kQwen2Pattern =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

Regex::Regex(const std::string& pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                        PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code_ == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    fail("invalid pre-tokenizer regex '%s' at offset %zu: %s", pattern.c_str(),
         static_cast<size_t>(error_offset), reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(static_cast<pcre2_code*>(code_), PCRE2_JIT_COMPLETE);
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  auto* code = static_cast<pcre2_code*>(code_);
  pcre2_match_data* match = pcre2_match_data_create_from_pattern(code, nullptr);
  std::vector<std::pair<size_t, size_t>> ranges;
  size_t pos = 0;
  while (pos <= text.size()) {
    // NO_UTF_CHECK is unsafe on invalid UTF-8, so the subject is checked by PCRE2.
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos,
                               0, match, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t begin = ovector[0], end = ovector[1];
    if (end == begin) {
      // Skip an empty match by one whole character.
      pos = end + (end < text.size() ? utf8_sequence_length(static_cast<unsigned char>(text[end])) : 1);
      continue;
    }
    ranges.emplace_back(begin, end);
    pos = end;
  }
  pcre2_match_data_free(match);
  return ranges;
}

std::string normalize(std::string text, const std::vector<NormalizeStep>& steps) {
  for (const NormalizeStep& step : steps) {
    if (step.kind == NormalizeStep::Kind::kPrepend) {
      if (!text.empty()) text = step.content + text;
    } else {
      text = replace_all(text, step.pattern, step.content);
    }
  }
  return text;
}

namespace {

using Ranges = std::vector<std::pair<size_t, size_t>>;

// Splits `text` at the `matches` as a Hugging Face Split with `behavior` does.
std::vector<std::string> split_by_matches(std::string_view text, const Ranges& matches,
                                          SplitBehavior behavior) {
  // Mark every range of the text as a match or a gap, in order.
  std::vector<std::pair<std::string_view, bool>> parts;
  size_t pos = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > pos) parts.emplace_back(text.substr(pos, begin - pos), false);
    parts.emplace_back(text.substr(begin, end - begin), true);
    pos = end;
  }
  if (pos < text.size()) parts.emplace_back(text.substr(pos), false);

  std::vector<std::string> out;
  bool previous_was_match = false;
  for (const auto& [part, is_match] : parts) {
    switch (behavior) {
      case SplitBehavior::kIsolated:
        out.emplace_back(part);
        break;
      case SplitBehavior::kRemoved:
        if (!is_match) out.emplace_back(part);
        break;
      case SplitBehavior::kMergedWithPrevious:
        if (is_match && !out.empty() && !previous_was_match) {
          out.back() += part;
        } else {
          out.emplace_back(part);
        }
        break;
      case SplitBehavior::kMergedWithNext:
        if (!is_match && !out.empty() && previous_was_match) {
          out.back() += part;
        } else {
          out.emplace_back(part);
        }
        break;
      case SplitBehavior::kContiguous:
        if (is_match && previous_was_match && !out.empty()) {
          out.back() += part;
        } else {
          out.emplace_back(part);
        }
        break;
    }
    previous_was_match = is_match;
  }
  return out;
}

// Inverts matches into the gaps between them (Split with invert=true).
Ranges invert_ranges(const Ranges& matches, size_t size) {
  Ranges gaps;
  size_t pos = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > pos) gaps.emplace_back(pos, begin);
    pos = end;
  }
  if (pos < size) gaps.emplace_back(pos, size);
  return gaps;
}

bool is_digit_char(std::string_view ch) {
  static const Regex digit(R"(^\p{N}$)");
  return !digit.find_all(ch).empty();
}

std::vector<std::string> split_digits(std::string_view text, bool individual) {
  Ranges matches;
  size_t pos = 0;
  for (const std::string& ch : split_utf8_chars(text)) {
    if (is_digit_char(ch)) matches.emplace_back(pos, pos + ch.size());
    pos += ch.size();
  }
  return split_by_matches(text, matches,
                          individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
}

std::vector<std::string> apply_step(std::string_view piece, const PreTokenizeStep& step,
                                    bool first_piece) {
  switch (step.kind) {
    case PreTokenizeStep::Kind::kSplit: {
      Ranges matches = step.regex->find_all(piece);
      if (step.invert) matches = invert_ranges(matches, piece.size());
      return split_by_matches(piece, matches, step.behavior);
    }
    case PreTokenizeStep::Kind::kDigits:
      return split_digits(piece, step.individual_digits);
    case PreTokenizeStep::Kind::kByteLevel: {
      std::string text(piece);
      if (step.add_prefix_space && !text.empty() && text[0] != ' ') text = " " + text;
      if (!step.regex) return {text};
      return split_by_matches(text, step.regex->find_all(text), SplitBehavior::kIsolated);
    }
    case PreTokenizeStep::Kind::kMetaspace: {
      std::string text = replace_all(piece, " ", step.replacement);
      const bool prepend = step.prepend_scheme == "always" ||
                           (step.prepend_scheme == "first" && first_piece);
      if (prepend && !text.empty() && text.rfind(step.replacement, 0) != 0) {
        text = step.replacement + text;
      }
      if (!step.split) return {text};
      Ranges matches;
      for (size_t hit = text.find(step.replacement); hit != std::string::npos;
           hit = text.find(step.replacement, hit + step.replacement.size())) {
        matches.emplace_back(hit, hit + step.replacement.size());
      }
      return split_by_matches(text, matches, SplitBehavior::kMergedWithNext);
    }
  }
  return {std::string(piece)};
}

}  // namespace

std::vector<std::string> pre_tokenize(std::string_view text,
                                      const std::vector<PreTokenizeStep>& steps,
                                      bool first_segment) {
  std::vector<std::string> pieces;
  if (!text.empty()) pieces.emplace_back(text);
  for (const PreTokenizeStep& step : steps) {
    std::vector<std::string> next;
    for (size_t i = 0; i < pieces.size(); ++i) {
      for (std::string& sub : apply_step(pieces[i], step, first_segment && i == 0)) {
        if (!sub.empty()) next.push_back(std::move(sub));
      }
    }
    pieces = std::move(next);
  }
  return pieces;
}

std::vector<std::string> gguf_pre_patterns(const std::string& pre) {
  if (pre == "gpt2") return {kGpt2Pattern};
  if (pre == "smollm") return {R"(\p{N})", kGpt2Pattern};
  if (pre == "qwen2") return {kQwen2Pattern};
  // NOTE: "default" and an empty name also get the Llama-3 pattern; llama.cpp's
  // exact choice for them was not checked against its source.
  if (pre == "llama-bpe" || pre == "llama3" || pre == "default" || pre.empty()) return {kLlama3Pattern};
  fail("unsupported GGUF tokenizer.ggml.pre '%s': supported are gpt2, smollm, qwen2, "
       "llama-bpe, llama3 and default",
       pre.c_str());
}

std::vector<PreTokenizeStep> steps_for_gguf_pre(const std::string& pre) {
  std::vector<PreTokenizeStep> steps;
  for (const std::string& pattern : gguf_pre_patterns(pre)) {
    PreTokenizeStep step;
    step.kind = PreTokenizeStep::Kind::kSplit;
    step.regex = std::make_shared<const Regex>(pattern);
    steps.push_back(std::move(step));
  }
  return steps;
}

}  // namespace swiftkv::tok
