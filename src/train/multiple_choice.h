// Multiple-choice tasks scored by log-likelihood, in the style of
// lm-evaluation-harness: each choice is a continuation of the context, and the choice
// with the highest log-likelihood is the model's pick.
//
// File format, one JSON object per line:
//   {"context": "Question: 2 + 3 = ?\nAnswer:", "choices": [" 4", " 5", " 6"], "gold": 1}
// The context and choices are raw text: no chat template is applied, and a
// choice usually starts with the space that separates it from the context.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {

struct MultipleChoiceQuestion {
  std::string context;
  std::vector<std::string> choices;  // at least two, none empty
  int64_t gold = 0;                  // index of the correct choice
};

struct MultipleChoiceFile {
  std::vector<MultipleChoiceQuestion> questions;
  std::vector<std::string> skipped;  // "path:line: reason" for every invalid line
};

// Reads a JSONL task file. Invalid lines (invalid JSON, missing or mistyped
// keys, fewer than two choices, an empty choice, gold out of range) are
// skipped, listed in `skipped` and logged. Throws Error when the file cannot
// be opened.
MultipleChoiceFile read_multiple_choice_jsonl(const std::string& path);

// Log-likelihood in nats of each choice given the context. The context is
// encoded with BOS; the choice's tokens are those of context + choice after
// the context's tokens (when a token merges across the boundary, from the
// first token that differs).
std::vector<double> choice_logprobs(const Model& model, const Tokenizer& tokenizer,
                                    const MultipleChoiceQuestion& question);

struct MultipleChoiceScore {
  int64_t num_questions = 0;
  int64_t correct = 0;       // argmax of the log-likelihood is the gold choice
  int64_t correct_norm = 0;  // argmax of log-likelihood / bytes of the choice is the gold choice
  double accuracy() const;
  double accuracy_norm() const;  // length-normalized: log-likelihood per byte of the choice
};

// Scores every question; ties go to the lowest choice index.
MultipleChoiceScore score_multiple_choice(const Model& model, const Tokenizer& tokenizer,
                                          const std::vector<MultipleChoiceQuestion>& questions);

}  // namespace swiftkv
