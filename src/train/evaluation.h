// Held-out evaluation of a model against a teacher on the assistant tokens of
// conversations: KL divergence, top-1 agreement, perplexity and agreement of
// greedy continuations.
//
// A target is a token t >= 1 with assistant_mask[t] = 1. It is predicted by
// the logits of row t - 1, so every metric is computed from those rows.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/conversation.h"

namespace swiftkv {

// Sums over target positions, so conversations combine by adding.
struct TokenMetrics {
  int64_t num_tokens = 0;
  double nll_sum = 0.0;          // -log p_model(target), nats
  double teacher_nll_sum = 0.0;  // -log p_teacher(target), with a teacher only
  double kl_sum = 0.0;           // KL(p_teacher || p_model) at T = 1, nats, with a teacher only
  int64_t top1_matches = 0;      // argmax p_model == argmax p_teacher, with a teacher only

  double perplexity() const;          // exp(mean nll)
  double teacher_perplexity() const;  // exp(mean teacher nll)
  double kl() const;                  // mean KL per target
  double top1_agreement() const;      // share of targets whose argmax matches
};

// Adds one target: `model_logits` and `teacher_logits` are [V]; pass an empty
// teacher span to score the model alone.
void accumulate_target(std::span<const float> model_logits, std::span<const float> teacher_logits,
                       int32_t target, TokenMetrics& metrics);

// Runs `model` (and `teacher` when not null) over the whole conversation in
// forward passes of at most `chunk_rows` rows and adds every target to
// `metrics`. Only target rows request logits, so a SwiftKV model runs its
// later layers for those rows only. Throws Error when a token id is outside
// a model's vocabulary.
void score_conversation(const Model& model, const Model* teacher, const TokenizedConversation& conversation,
                        TokenMetrics& metrics, int64_t chunk_rows = 256);

// Sum of log p(tokens[t] | tokens[0, t)) over t in [begin, T), in nats.
// Requires 1 <= begin <= T.
double continuation_logprob(const Model& model, const std::vector<int32_t>& tokens, size_t begin,
                            int64_t chunk_rows = 256);

// continuation_logprob of several short sequences, run as one batch of
// sequences in a single forward pass.
std::vector<double> continuation_logprobs(const Model& model, const std::vector<std::vector<int32_t>>& sequences,
                                          const std::vector<size_t>& begins);

// A greedy continuation: its tokens, end-of-sequence token excluded, and
// whether it ended with one.
struct GreedyContinuation {
  std::vector<int32_t> tokens;
  bool stopped = false;
};

// Generates up to `max_tokens` tokens greedily after each prompt through the
// batching engine, `max_num_seqs` prompts at a time. Every prompt plus
// `max_tokens` must fit the model's maximum context. Throws Error when a
// request fails.
std::vector<GreedyContinuation> greedy_continuations(const Model& model, const Tokenizer& tokenizer,
                                                     const std::vector<std::vector<int32_t>>& prompts,
                                                     int64_t max_tokens, int64_t max_num_seqs = 8);

// Agreement of two greedy continuations of the same prompt, in [0, 1]: the
// length of their common prefix over the first `max_tokens` positions,
// divided by `max_tokens`. When both stopped at the same position, the
// positions after the end count as identical, so two equal short
// continuations score 1. Later positions are not compared after a mismatch because each
// continuation is conditioned on its own earlier tokens.
double greedy_agreement(const GreedyContinuation& teacher, const GreedyContinuation& model, int64_t max_tokens);

}  // namespace swiftkv
