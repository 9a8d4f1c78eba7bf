#include "train/evaluation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "core/error.h"
#include "engine/llm_engine.h"

namespace swiftkv {
namespace {

double ratio(double sum, int64_t count) {
  return count > 0 ? sum / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
}

// log_softmax of `logits` [V] in double precision.
std::vector<double> log_softmax(std::span<const float> logits) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float logit : logits) sum += std::exp(static_cast<double>(logit) - max_logit);
  const double log_sum = max_logit + std::log(sum);
  std::vector<double> out(logits.size());
  for (size_t v = 0; v < logits.size(); ++v) out[v] = static_cast<double>(logits[v]) - log_sum;
  return out;
}

// Index of the largest logit, lowest index on ties.
size_t argmax(std::span<const float> logits) {
  return static_cast<size_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// Rows [begin, end) of `tokens` for a forward pass, requesting logits for
// row t when tokens[t + 1] is a target.
std::vector<BatchRow> make_rows(const std::vector<int32_t>& tokens, const std::vector<uint8_t>& targets,
                                size_t begin, size_t end) {
  std::vector<BatchRow> rows;
  rows.reserve(end - begin);
  for (size_t t = begin; t < end; ++t) {
    const bool next_is_target = t + 1 < tokens.size() && targets[t + 1] != 0;
    rows.push_back({tokens[t], static_cast<int32_t>(t), /*seq=*/0, next_is_target});
  }
  return rows;
}

}  // namespace

double TokenMetrics::perplexity() const { return std::exp(ratio(nll_sum, num_tokens)); }
double TokenMetrics::teacher_perplexity() const { return std::exp(ratio(teacher_nll_sum, num_tokens)); }
double TokenMetrics::kl() const { return ratio(kl_sum, num_tokens); }
double TokenMetrics::top1_agreement() const { return ratio(static_cast<double>(top1_matches), num_tokens); }

void accumulate_target(std::span<const float> model_logits, std::span<const float> teacher_logits,
                       int32_t target, TokenMetrics& metrics) {
  SKV_ASSERT(target >= 0 && static_cast<size_t>(target) < model_logits.size());
  const std::vector<double> model_logprobs = log_softmax(model_logits);
  metrics.num_tokens += 1;
  metrics.nll_sum -= model_logprobs[static_cast<size_t>(target)];
  if (teacher_logits.empty()) return;

  SKV_ASSERT(teacher_logits.size() == model_logits.size());
  const std::vector<double> teacher_logprobs = log_softmax(teacher_logits);
  metrics.teacher_nll_sum -= teacher_logprobs[static_cast<size_t>(target)];
  // KL(p || q) = sum_v p_v (log p_v - log q_v); tokens with p_v = 0 add nothing.
  double kl = 0.0;
  for (size_t v = 0; v < teacher_logprobs.size(); ++v) {
    const double p = std::exp(teacher_logprobs[v]);
    if (p > 0.0) kl += p * (teacher_logprobs[v] - model_logprobs[v]);
  }
  metrics.kl_sum += kl;
  if (argmax(model_logits) == argmax(teacher_logits)) metrics.top1_matches += 1;
}

void score_conversation(const Model& model, const Model* teacher, const TokenizedConversation& conversation,
                        TokenMetrics& metrics, int64_t chunk_rows) {
  const std::vector<int32_t>& tokens = conversation.tokens;
  SKV_ASSERT(conversation.assistant_mask.size() == tokens.size() && chunk_rows > 0);
  if (tokens.size() < 2) return;
  const int64_t V = model.config().vocab_size;
  const int64_t T = static_cast<int64_t>(tokens.size());
  KVCache model_cache = model.make_cache(1, T);
  std::optional<KVCache> teacher_cache;
  if (teacher != nullptr) teacher_cache.emplace(teacher->make_cache(1, T));

  for (size_t begin = 0; begin < tokens.size(); begin += static_cast<size_t>(chunk_rows)) {
    const size_t end = std::min(tokens.size(), begin + static_cast<size_t>(chunk_rows));
    const std::vector<BatchRow> rows = make_rows(tokens, conversation.assistant_mask, begin, end);
    const std::vector<float> model_logits = model.forward(rows, model_cache);
    std::vector<float> teacher_logits;
    if (teacher != nullptr) teacher_logits = teacher->forward(rows, *teacher_cache);

    int64_t r = 0;
    for (const BatchRow& row : rows) {
      if (!row.need_logits) continue;
      const std::span<const float> model_row(model_logits.data() + r * V, static_cast<size_t>(V));
      std::span<const float> teacher_row;
      if (teacher != nullptr) teacher_row = {teacher_logits.data() + r * V, static_cast<size_t>(V)};
      accumulate_target(model_row, teacher_row, tokens[static_cast<size_t>(row.pos) + 1], metrics);
      ++r;
    }
  }
}

double continuation_logprob(const Model& model, const std::vector<int32_t>& tokens, size_t begin,
                            int64_t chunk_rows) {
  SKV_ASSERT(begin >= 1 && begin <= tokens.size() && chunk_rows > 0);
  std::vector<uint8_t> targets(tokens.size(), 0);
  std::fill(targets.begin() + static_cast<std::ptrdiff_t>(begin), targets.end(), 1);
  TokenMetrics metrics;
  score_conversation(model, nullptr, {tokens, targets}, metrics, chunk_rows);
  return -metrics.nll_sum;
}

std::vector<double> continuation_logprobs(const Model& model, const std::vector<std::vector<int32_t>>& sequences,
                                          const std::vector<size_t>& begins) {
  SKV_ASSERT(sequences.size() == begins.size());
  size_t longest = 0;
  for (const std::vector<int32_t>& tokens : sequences) longest = std::max(longest, tokens.size());
  KVCache cache = model.make_cache(static_cast<int64_t>(sequences.size()), static_cast<int64_t>(longest));
  std::vector<BatchRow> rows;
  for (size_t s = 0; s < sequences.size(); ++s) {
    SKV_ASSERT(begins[s] >= 1 && begins[s] <= sequences[s].size());
    for (size_t t = 0; t < sequences[s].size(); ++t) {
      const bool next_is_target = t + 1 >= begins[s] && t + 1 < sequences[s].size();
      rows.push_back({sequences[s][t], static_cast<int32_t>(t), static_cast<int32_t>(s), next_is_target});
    }
  }
  const std::vector<float> logits = model.forward(rows, cache);

  const int64_t V = model.config().vocab_size;
  std::vector<double> logprobs(sequences.size(), 0.0);
  int64_t r = 0;
  for (const BatchRow& row : rows) {
    if (!row.need_logits) continue;
    const std::span<const float> row_logits(logits.data() + r * V, static_cast<size_t>(V));
    const int32_t target = sequences[static_cast<size_t>(row.seq)][static_cast<size_t>(row.pos) + 1];
    logprobs[static_cast<size_t>(row.seq)] += log_softmax(row_logits)[static_cast<size_t>(target)];
    ++r;
  }
  return logprobs;
}

std::vector<GreedyContinuation> greedy_continuations(const Model& model, const Tokenizer& tokenizer,
                                                     const std::vector<std::vector<int32_t>>& prompts,
                                                     int64_t max_tokens, int64_t max_num_seqs) {
  SKV_ASSERT(max_tokens > 0);
  if (prompts.empty()) return {};
  size_t longest = 0;
  for (const std::vector<int32_t>& prompt : prompts) longest = std::max(longest, prompt.size());
  EngineConfig config;
  config.scheduler.max_num_seqs = max_num_seqs;
  config.scheduler.max_num_batched_tokens = std::max<int64_t>(512, max_num_seqs);
  config.context_size = static_cast<int64_t>(longest) + max_tokens;

  // The engine shares ownership of its model and tokenizer; here the caller
  // owns them and outlives the engine, so the pointers do not delete.
  LLMEngine engine(std::shared_ptr<const Model>(&model, [](const Model*) {}),
                   std::shared_ptr<const Tokenizer>(&tokenizer, [](const Tokenizer*) {}), config);
  engine.start();
  OutputQueue queue;
  std::map<RequestId, size_t> index_of_request;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Request request;
    request.prompt_tokens = prompts[i];
    request.sampling.temperature = 0.0f;
    request.max_tokens = max_tokens;
    request.on_output = queue.callback();
    index_of_request[engine.add_request(std::move(request))] = i;
  }

  std::vector<GreedyContinuation> continuations(prompts.size());
  size_t remaining = prompts.size();
  while (remaining > 0) {
    const std::optional<RequestOutput> output = queue.pop(std::chrono::milliseconds(1000));
    if (!output) continue;
    GreedyContinuation& continuation = continuations[index_of_request.at(output->id)];
    continuation.tokens.insert(continuation.tokens.end(), output->token_ids.begin(), output->token_ids.end());
    if (!output->finished) continue;
    if (output->finish_reason == FinishReason::kError) fail("greedy generation failed: %s", output->error.c_str());
    // Without stop strings, a request stops only on an end-of-sequence token,
    // which the outputs include and the comparison leaves out.
    continuation.stopped = output->finish_reason == FinishReason::kStop;
    if (continuation.stopped && !continuation.tokens.empty()) continuation.tokens.pop_back();
    --remaining;
  }
  engine.shutdown(std::chrono::milliseconds(0));
  return continuations;
}

double greedy_agreement(const GreedyContinuation& teacher, const GreedyContinuation& model, int64_t max_tokens) {
  SKV_ASSERT(max_tokens > 0);
  const size_t limit = static_cast<size_t>(max_tokens);
  const size_t n = std::min({teacher.tokens.size(), model.tokens.size(), limit});
  size_t same = 0;
  while (same < n && teacher.tokens[same] == model.tokens[same]) ++same;
  const bool both_ended_here = same == teacher.tokens.size() && same == model.tokens.size() && teacher.stopped &&
                               model.stopped;
  if (both_ended_here) same = limit;
  return static_cast<double>(std::min(same, limit)) / static_cast<double>(limit);
}

}  // namespace swiftkv
