// Normalizers and pre-tokenizers: the steps that turn a piece of input text
// into the words that BPE runs on, following Hugging Face tokenizers.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace swiftkv::tok {

// A compiled PCRE2 pattern in UTF mode with Unicode properties (UCP), so
// \s, \p{L} and \p{N} follow Unicode as the Oniguruma patterns of
// tokenizer.json do.
class Regex {
 public:
  explicit Regex(const std::string& pattern);  // throws Error on a bad pattern
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Byte ranges [begin, end) of all non-overlapping matches, left to right.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
};

// The handling of Split matches (Hugging Face SplitDelimiterBehavior).
enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct NormalizeStep {
  enum class Kind { kPrepend, kReplace } kind = Kind::kPrepend;
  std::string pattern;  // kReplace: the literal string to replace
  std::string content;  // kPrepend: the prefix; kReplace: the replacement
};

struct PreTokenizeStep {
  enum class Kind { kSplit, kDigits, kByteLevel, kMetaspace } kind = Kind::kSplit;
  std::shared_ptr<const Regex> regex;  // kSplit; kByteLevel when use_regex
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool individual_digits = false;  // kDigits
  bool add_prefix_space = false;   // kByteLevel
  std::string replacement;         // kMetaspace
  std::string prepend_scheme;      // kMetaspace: "always", "first" or "never"
  bool split = true;               // kMetaspace
};

// The pattern of the GPT-2 ByteLevel pre-tokenizer.
extern const char* const kGpt2Pattern;

// Applies the normalizer steps in order. Prepend skips empty text.
std::string normalize(std::string text, const std::vector<NormalizeStep>& steps);
// Splits one text segment into words. `first_segment` is true when the
// segment starts the input (for Metaspace prepend_scheme "first").
std::vector<std::string> pre_tokenize(std::string_view text,
                                      const std::vector<PreTokenizeStep>& steps,
                                      bool first_segment);
// The Split patterns that llama.cpp applies for a GGUF tokenizer.ggml.pre
// name, in order. Throws Error for a name it does not know.
std::vector<std::string> gguf_pre_patterns(const std::string& pre);
// The Split steps that llama.cpp applies for a GGUF tokenizer.ggml.pre name.
// Throws Error for a name it does not know.
std::vector<PreTokenizeStep> steps_for_gguf_pre(const std::string& pre);

}  // namespace swiftkv::tok
