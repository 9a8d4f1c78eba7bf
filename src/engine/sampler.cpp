#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace swiftkv {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Number of tokens sorted first when searching for the top-p nucleus. Later
// rounds sort 8 times more, so a peaked distribution sorts only this many.
constexpr size_t kNucleusFirstGuess = 64;

// Throws Error if `logits` (V) contain NaN or +inf, or are all -inf, because
// no distribution can be formed from them. Returns the maximum logit.
float check_logits(std::span<const float> logits) {
  SKV_ASSERT(!logits.empty());
  float max_logit = -kInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float logit = logits[i];
    if (std::isnan(logit) || logit == kInf) {
      fail("invalid logit %g for token %zu: expected a finite value or -inf; "
           "check the model weights and the logit_bias values",
           logit, i);
    }
    max_logit = std::max(max_logit, logit);
  }
  if (max_logit == -kInf) {
    fail("every one of the %zu logits is -inf, so no token can be sampled; "
         "check logit_bias for entries that ban the whole vocabulary",
         logits.size());
  }
  return max_logit;
}

// Returns the lowest id among the tokens with the largest logit.
int32_t argmax(std::span<const float> logits) {
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

// Returns a uniform double in [0, 1) from the top 53 bits of one 64-bit draw.
// std::uniform_real_distribution is not used because its output differs
// between standard libraries.
double uniform_unit(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Orders tokens by logit, largest first, and by lowest id among equal logits,
// so that every cut of a sorted list is deterministic.
struct MoreLikely {
  template <typename Token>
  bool operator()(const Token& a, const Token& b) const {
    return a.logit != b.logit ? a.logit > b.logit : a.id < b.id;
  }
};

// Throws Error for `value` outside a range, naming the parameter.
void fail_range(const char* name, double value, const char* range) {
  fail("invalid sampling parameter %s = %g: expected %s", name, value, range);
}

}  // namespace

void SamplingParams::validate() const {
  // Each check is written so that NaN fails it.
  if (!(temperature >= 0.0f)) {
    fail_range("temperature", temperature, "a value >= 0 (0 selects greedy decoding)");
  }
  if (top_k < 0) {
    fail_range("top_k", top_k, "a value >= 0 (0 disables top-k)");
  }
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    fail_range("top_p", top_p, "a value in (0, 1] (1 disables top-p)");
  }
  if (!(min_p >= 0.0f && min_p <= 1.0f)) {
    fail_range("min_p", min_p, "a value in [0, 1] (0 disables min-p)");
  }
  if (!(repetition_penalty > 0.0f) || std::isinf(repetition_penalty)) {
    fail_range("repetition_penalty", repetition_penalty, "a finite value > 0 (1 disables it)");
  }
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) {
    fail_range("presence_penalty", presence_penalty, "a value in [-2, 2] (0 disables it)");
  }
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) {
    fail_range("frequency_penalty", frequency_penalty, "a value in [-2, 2] (0 disables it)");
  }
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0) {
      fail("invalid logit_bias token id %d: expected an id >= 0", token);
    }
    if (std::isnan(bias) || bias == kInf) {
      fail("invalid logit_bias value %g for token %d: expected a finite value, or -inf to ban the token",
           bias, token);
    }
  }
}

void apply_logit_bias(const SamplingParams& params, std::span<float> logits) {
  for (const auto& [token, bias] : params.logit_bias) {
    if (static_cast<size_t>(token) >= logits.size()) {
      fail("invalid logit_bias token id %d: the vocabulary has %zu tokens, so use ids in [0, %zu)",
           token, logits.size(), logits.size());
    }
    logits[token] += bias;
  }
}

void apply_penalties(const SamplingParams& params, std::span<const int32_t> prompt_tokens,
                     std::span<const int32_t> output_tokens, std::span<float> logits) {
  const auto check_id = [&](int32_t token) {
    SKV_ASSERT(token >= 0 && static_cast<size_t>(token) < logits.size());
  };

  // Repetition penalty, once per distinct token of the prompt and the output,
  // as in vLLM's apply_penalties (vllm/model_executor/layers/utils.py).
  if (params.repetition_penalty != 1.0f) {
    std::vector<int32_t> seen(prompt_tokens.begin(), prompt_tokens.end());
    seen.insert(seen.end(), output_tokens.begin(), output_tokens.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (const int32_t token : seen) {
      check_id(token);
      float& logit = logits[token];
      logit = logit > 0.0f ? logit / params.repetition_penalty : logit * params.repetition_penalty;
    }
  }

  // OpenAI: logit -= count * frequency_penalty + (count > 0) * presence_penalty,
  // where count is the number of times the token occurs in the output.
  if (params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f) {
    std::vector<int32_t> sorted(output_tokens.begin(), output_tokens.end());
    std::sort(sorted.begin(), sorted.end());
    for (size_t begin = 0; begin < sorted.size();) {
      const int32_t token = sorted[begin];
      check_id(token);
      size_t end = begin;
      while (end < sorted.size() && sorted[end] == token) ++end;
      const float count = static_cast<float>(end - begin);
      logits[token] -= count * params.frequency_penalty + params.presence_penalty;
      begin = end;
    }
  }
}

Sampler::Sampler(SamplingParams params) : params_(std::move(params)), rng_(params_.seed) {
  params_.validate();
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> prompt_tokens,
                        std::span<const int32_t> output_tokens) {
  logits_.assign(logits.begin(), logits.end());
  apply_logit_bias(params_, logits_);
  apply_penalties(params_, prompt_tokens, output_tokens, logits_);
  const float max_logit = check_logits(logits_);

  if (params_.temperature < kGreedyTemperature) return argmax(logits_);

  // Temperature. Tokens at -inf have probability 0 and are dropped here.
  candidates_.clear();
  for (size_t i = 0; i < logits_.size(); ++i) {
    if (logits_[i] == -kInf) continue;
    candidates_.push_back({static_cast<int32_t>(i), logits_[i] / params_.temperature, 0.0f});
  }

  filter_top_k(candidates_);

  // Weights exp(logit - max logit) are probabilities up to one common factor.
  // Top-k runs first so that only k exponentials are computed.
  const float scaled_max = max_logit / params_.temperature;
  for (Candidate& c : candidates_) c.weight = std::exp(c.logit - scaled_max);

  filter_top_p(candidates_);

  // Min-p: the most likely token has weight 1 and survives top-k and top-p,
  // so the threshold min_p * max prob is min_p in weight units.
  if (params_.min_p > 0.0f) {
    std::erase_if(candidates_, [&](const Candidate& c) { return c.weight < params_.min_p; });
  }

  return draw(candidates_);
}

void Sampler::filter_top_k(std::vector<Candidate>& candidates) const {
  const size_t k = static_cast<size_t>(params_.top_k);
  if (k == 0 || k >= candidates.size()) return;
  // NOTE: keeps exactly k tokens, breaking ties at the k-th logit by lowest
  // id, so top_k = 1 equals greedy decoding. vLLM keeps every token tied
  // with the k-th one.
  std::nth_element(candidates.begin(), candidates.begin() + k, candidates.end(),
                   MoreLikely());
  candidates.resize(k);
}

void Sampler::filter_top_p(std::vector<Candidate>& candidates) const {
  if (params_.top_p >= 1.0f) return;
  double total = 0.0;
  for (const Candidate& c : candidates) total += c.weight;
  const double target = params_.top_p * total;

  // Keeps the most likely tokens up to and including the first one at which
  // the cumulative probability reaches top_p, which is the token set vLLM
  // keeps. Instead of sorting the whole vocabulary, each round moves the
  // next most likely chunk to the front of the unsorted rest and sorts only
  // that chunk, so the sorted prefix grows until it contains the nucleus.
  const MoreLikely more_likely;
  double cumulative = 0.0;
  size_t sorted = 0;
  size_t chunk = kNucleusFirstGuess;
  while (sorted < candidates.size()) {
    const size_t end = std::min(candidates.size(), sorted + chunk);
    const auto first = candidates.begin() + sorted;
    const auto middle = candidates.begin() + end;
    if (middle != candidates.end()) std::nth_element(first, middle, candidates.end(), more_likely);
    std::sort(first, middle, more_likely);
    for (size_t i = sorted; i < end; ++i) {
      cumulative += candidates[i].weight;
      if (cumulative >= target) {
        candidates.resize(i + 1);
        return;
      }
    }
    sorted = end;
    chunk *= 8;
  }
  // Rounding can leave the sum of all weights just below the target, and
  // then every token is kept.
}

int32_t Sampler::draw(std::span<const Candidate> candidates) {
  SKV_ASSERT(!candidates.empty());
  double total = 0.0;
  for (const Candidate& c : candidates) total += c.weight;

  const double target = uniform_unit(rng_) * total;
  double cumulative = 0.0;
  for (const Candidate& c : candidates) {
    cumulative += c.weight;
    if (target < cumulative) return c.id;
  }
  // Only reached when rounding puts the target at the very end.
  return candidates.back().id;
}

namespace {

// Returns log(sum(exp(logits))) computed around the maximum, in double.
double log_sum_exp(std::span<const float> logits) {
  const double max_logit = check_logits(logits);
  double sum = 0.0;
  for (const float logit : logits) sum += std::exp(static_cast<double>(logit) - max_logit);
  return max_logit + std::log(sum);
}

}  // namespace

std::vector<std::pair<int32_t, float>> top_logprobs(std::span<const float> logits, int n) {
  if (n < 0) fail("invalid number of top logprobs %d: expected a value >= 0", n);
  const double normalizer = log_sum_exp(logits);

  struct Entry {
    int32_t id;
    float logit;
  };
  std::vector<Entry> entries(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) entries[i] = {static_cast<int32_t>(i), logits[i]};
  const size_t count = std::min(static_cast<size_t>(n), entries.size());
  std::partial_sort(entries.begin(), entries.begin() + count, entries.end(), MoreLikely());

  std::vector<std::pair<int32_t, float>> result;
  result.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    result.emplace_back(entries[i].id, static_cast<float>(entries[i].logit - normalizer));
  }
  return result;
}

float token_logprob(std::span<const float> logits, int32_t token) {
  SKV_ASSERT(token >= 0 && static_cast<size_t>(token) < logits.size());
  return static_cast<float>(logits[token] - log_sum_exp(logits));
}

}  // namespace swiftkv
