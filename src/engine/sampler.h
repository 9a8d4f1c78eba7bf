// Token sampling from the logits of one position: logit bias, repetition,
// presence and frequency penalties, temperature, top-k, top-p and min-p,
// then a seeded draw. The order and the math follow the vLLM v0 sampler
// (vllm/model_executor/layers/sampler.py), except for top-k ties.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace swiftkv {

// Sampling settings of one request, with the OpenAI / vLLM meanings.
struct SamplingParams {
  float temperature = 1.0f;  // below 1e-5 selects greedy decoding
  int top_k = 0;             // number of most likely tokens kept, 0 for all
  float top_p = 1.0f;        // nucleus probability mass in (0, 1], 1 for all tokens
  float min_p = 0.0f;        // drops tokens with prob < min_p * max prob, 0 for none
  // Divides positive logits and multiplies the others, for every token seen
  // in the prompt or the output, as vLLM does. 1 disables it.
  float repetition_penalty = 1.0f;
  // OpenAI: subtracted once from the logit of every token seen in the output.
  float presence_penalty = 0.0f;
  // OpenAI: subtracted from a token's logit once per occurrence in the output.
  float frequency_penalty = 0.0f;
  uint64_t seed = 0;                    // seed of the std::mt19937_64 used for draws
  std::map<int32_t, float> logit_bias;  // token id -> value added to its logit

  // Throws Error naming the first parameter that is out of range, with its
  // value and the valid range.
  void validate() const;
};

// Below this temperature, sampling is greedy (argmax).
inline constexpr float kGreedyTemperature = 1e-5f;

// Adds params.logit_bias to `logits` (V). Throws Error if a biased token id is
// not below V.
void apply_logit_bias(const SamplingParams& params, std::span<float> logits);

// Applies the repetition, presence and frequency penalties to `logits` (V).
// `prompt_tokens` count only for the repetition penalty. Every id must be in
// [0, V).
void apply_penalties(const SamplingParams& params, std::span<const int32_t> prompt_tokens,
                     std::span<const int32_t> output_tokens, std::span<float> logits);

// Samples token ids for one sequence. The draws depend only on the seed and
// the inputs, so a seed reproduces the same tokens on every platform.
class Sampler {
 public:
  // Throws Error if `params` is invalid.
  explicit Sampler(SamplingParams params);

  // Picks the next token from `logits` (V). `prompt_tokens` and
  // `output_tokens` (the tokens generated so far) feed the penalties.
  // Throws Error if a logit is NaN or +inf, or if every logit is -inf.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> prompt_tokens = {},
                 std::span<const int32_t> output_tokens = {});

  const SamplingParams& params() const { return params_; }

 private:
  // A token still in the running, with its logit after temperature and its
  // weight exp(logit - max logit), an unnormalized probability.
  struct Candidate {
    int32_t id;
    float logit;
    float weight;
  };

  void filter_top_k(std::vector<Candidate>& candidates) const;
  void filter_top_p(std::vector<Candidate>& candidates) const;
  int32_t draw(std::span<const Candidate> candidates);

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> logits_;          // V, scratch for the adjusted logits
  std::vector<Candidate> candidates_;  // up to V, scratch
};

// Returns the `n` most likely tokens with their log-probabilities under the
// log-softmax of the raw `logits` (V), most likely first, ties by lowest id.
// Returns min(n, V) entries. Throws Error if n < 0.
std::vector<std::pair<int32_t, float>> top_logprobs(std::span<const float> logits, int n);

// Returns the log-probability of `token` under the log-softmax of `logits` (V).
float token_logprob(std::span<const float> logits, int32_t token);

}  // namespace swiftkv
