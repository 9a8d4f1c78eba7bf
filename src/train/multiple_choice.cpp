#include "train/multiple_choice.h"

#include "train/jsonl_reader.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "train/conversation.h"
#include "train/evaluation.h"

namespace swiftkv {
namespace {


std::optional<std::string> parse_question(const nlohmann::json& line, MultipleChoiceQuestion& out) {
  if (!line.is_object()) return "the line is not a JSON object";
  const auto context = line.find("context");
  if (context == line.end() || !context->is_string()) return "missing string 'context'";
  if (context->get_ref<const std::string&>().empty()) return "'context' is empty";
  out.context = context->get<std::string>();

  const auto choices = line.find("choices");
  if (choices == line.end() || !choices->is_array()) return "missing array 'choices'";
  if (choices->size() < 2) return strprintf("'choices' has %zu entries; give at least 2", choices->size());
  out.choices.clear();
  for (size_t i = 0; i < choices->size(); ++i) {
    const nlohmann::json& choice = (*choices)[i];
    if (!choice.is_string() || choice.get_ref<const std::string&>().empty()) {
      return strprintf("choices[%zu] is not a non-empty string", i);
    }
    out.choices.push_back(choice.get<std::string>());
  }

  const auto gold = line.find("gold");
  if (gold == line.end() || !gold->is_number_integer()) return "missing integer 'gold'";
  out.gold = gold->get<int64_t>();
  if (out.gold < 0 || out.gold >= static_cast<int64_t>(out.choices.size())) {
    return strprintf("'gold' is %lld; use an index in [0, %zu)", static_cast<long long>(out.gold),
                     out.choices.size());
  }
  return std::nullopt;
}

size_t common_prefix_length(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Index of the largest score, lowest index on ties.
int64_t best_index(const std::vector<double>& scores) {
  return static_cast<int64_t>(std::max_element(scores.begin(), scores.end()) - scores.begin());
}

double share(int64_t count, int64_t total) {
  return total > 0 ? static_cast<double>(count) / static_cast<double>(total)
                   : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

MultipleChoiceFile read_multiple_choice_jsonl(const std::string& path) {
  MultipleChoiceFile file;
  const JsonlLineParser parse_line = [&file](const nlohmann::json& line, int64_t /*line_number*/) {
    MultipleChoiceQuestion question;
    std::optional<std::string> reason = parse_question(line, question);
    if (!reason) file.questions.push_back(std::move(question));
    return reason;
  };
  read_jsonl(path, "task file", parse_line, file.skipped);
  if (!file.skipped.empty()) {
    SKV_LOG_WARN("data", "%s: read %zu questions, skipped %zu invalid lines", path.c_str(), file.questions.size(),
                 file.skipped.size());
  }
  return file;
}

std::vector<double> choice_logprobs(const Model& model, const Tokenizer& tokenizer,
                                    const MultipleChoiceQuestion& question) {
  const std::vector<int32_t> context = tokenizer.encode(question.context, /*add_special=*/true);
  std::vector<std::vector<int32_t>> sequences;
  std::vector<size_t> begins;
  for (const std::string& choice : question.choices) {
    std::vector<int32_t> tokens = tokenizer.encode(question.context + choice, /*add_special=*/true);
    if (tokens.size() < 2) {
      fail("context '%s' with choice '%s' is a single token, which leaves nothing to score; add BOS or "
           "a longer context", question.context.c_str(), choice.c_str());
    }
    // The first token has no prediction, and a choice scores at least its last token.
    begins.push_back(std::clamp<size_t>(common_prefix_length(context, tokens), 1, tokens.size() - 1));
    sequences.push_back(std::move(tokens));
  }
  return continuation_logprobs(model, sequences, begins);
}

double MultipleChoiceScore::accuracy() const { return share(correct, num_questions); }
double MultipleChoiceScore::accuracy_norm() const { return share(correct_norm, num_questions); }

MultipleChoiceScore score_multiple_choice(const Model& model, const Tokenizer& tokenizer,
                                          const std::vector<MultipleChoiceQuestion>& questions) {
  MultipleChoiceScore score;
  for (const MultipleChoiceQuestion& question : questions) {
    const std::vector<double> logprobs = choice_logprobs(model, tokenizer, question);
    std::vector<double> normalized(logprobs.size());
    for (size_t i = 0; i < logprobs.size(); ++i) {
      normalized[i] = logprobs[i] / static_cast<double>(question.choices[i].size());
    }
    score.num_questions += 1;
    if (best_index(logprobs) == question.gold) score.correct += 1;
    if (best_index(normalized) == question.gold) score.correct_norm += 1;
  }
  return score;
}

}  // namespace swiftkv
