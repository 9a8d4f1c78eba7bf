#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"

namespace swiftkv {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Logits whose softmax is `probs`.
std::vector<float> logits_from_probs(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (const double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

// Draws `draws` tokens and returns how often each token id came up.
std::vector<int> count_draws(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts.at(sampler.sample(logits));
  return counts;
}

std::vector<float> random_logits(size_t vocab_size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> logits(vocab_size);
  for (float& logit : logits) logit = static_cast<float>(rng() % 1000) / 100.0f;
  return logits;
}

TEST(Sampler, GreedyPicksArgmax) {
  SamplingParams params;
  params.temperature = 0.0f;
  Sampler sampler(params);
  EXPECT_EQ(sampler.sample(std::vector<float>{0.1f, -2.0f, 5.0f, 4.9f}), 2);
  EXPECT_EQ(sampler.sample(std::vector<float>{-kInf, -3.0f, -kInf}), 1);
}

TEST(Sampler, GreedyTieTakesLowestId) {
  SamplingParams params;
  params.temperature = 0.0f;
  Sampler sampler(params);
  EXPECT_EQ(sampler.sample(std::vector<float>{1.0f, 3.0f, 3.0f, 2.0f}), 1);
  EXPECT_EQ(sampler.sample(std::vector<float>(7, 0.5f)), 0);
}

TEST(Sampler, TinyTemperatureIsGreedy) {
  SamplingParams params;
  params.temperature = 1e-6f;
  Sampler sampler(params);
  const std::vector<float> logits = {1.0f, 1.0001f, 0.5f};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sampler.sample(logits), 1);
}

TEST(Sampler, SeedReproducesSequence) {
  SamplingParams params;
  params.seed = 1234;
  Sampler first(params);
  Sampler second(params);
  const std::vector<float> logits = random_logits(100, 7);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(first.sample(logits), second.sample(logits)) << "draw " << i;
}

TEST(Sampler, DifferentSeedsDiffer) {
  SamplingParams params;
  params.seed = 1;
  Sampler first(params);
  params.seed = 2;
  Sampler second(params);
  const std::vector<float> logits(100, 0.0f);
  int differences = 0;
  for (int i = 0; i < 50; ++i) differences += first.sample(logits) != second.sample(logits);
  // Two uniform streams over 100 tokens agree on a draw with probability 1/100.
  EXPECT_GT(differences, 40);
}

TEST(Sampler, TopKOneEqualsGreedy) {
  const std::vector<float> logits = random_logits(1000, 3);
  SamplingParams greedy_params;
  greedy_params.temperature = 0.0f;
  const int32_t expected = Sampler(greedy_params).sample(logits);
  for (const float temperature : {0.5f, 1.0f, 2.0f, 100.0f}) {
    SamplingParams params;
    params.top_k = 1;
    params.temperature = temperature;
    params.seed = 99;
    Sampler sampler(params);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(sampler.sample(logits), expected) << "temperature " << temperature;
  }
}

TEST(Sampler, TopKOneTieTakesLowestId) {
  SamplingParams params;
  params.top_k = 1;
  Sampler sampler(params);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sampler.sample(std::vector<float>{0.0f, 2.0f, 1.0f, 2.0f}), 1);
}

TEST(Sampler, TopKKeepsKTokens) {
  SamplingParams params;
  params.top_k = 2;
  Sampler sampler(params);
  const std::vector<int> counts = count_draws(sampler, {1.0f, 3.0f, 0.0f, 2.9f, 2.5f}, 2000);
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[2], 0);
  EXPECT_EQ(counts[4], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
}

TEST(Sampler, TinyTopPKeepsTopToken) {
  SamplingParams params;
  params.top_p = 1e-6f;
  params.temperature = 5.0f;
  Sampler sampler(params);
  const std::vector<float> logits = random_logits(5000, 11);
  SamplingParams greedy_params;
  greedy_params.temperature = 0.0f;
  const int32_t expected = Sampler(greedy_params).sample(logits);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sampler.sample(logits), expected);
}

TEST(Sampler, TopPKeepsNucleus) {
  // Cumulative probabilities 0.5, 0.8, 0.95, 1: top_p = 0.7 keeps two tokens.
  SamplingParams params;
  params.top_p = 0.7f;
  Sampler sampler(params);
  const std::vector<int> counts = count_draws(sampler, logits_from_probs({0.3, 0.05, 0.5, 0.15}), 4000);
  EXPECT_GT(counts[0], 0);
  EXPECT_EQ(counts[1], 0);
  EXPECT_GT(counts[2], 0);
  EXPECT_EQ(counts[3], 0);
}

TEST(Sampler, TopPOverLargeUniformVocabulary) {
  // 1000 equal logits with top_p = 0.5 keep 500 tokens, more than the first
  // sorted chunk, and the ties keep the lowest ids.
  SamplingParams params;
  params.top_p = 0.5f;
  params.seed = 5;
  Sampler sampler(params);
  const std::vector<int> counts = count_draws(sampler, std::vector<float>(1000, 0.0f), 20000);
  int kept = 0;
  for (size_t id = 0; id < counts.size(); ++id) {
    if (id >= 500) {
      EXPECT_EQ(counts[id], 0) << "token " << id;
    }
    kept += counts[id] > 0;
  }
  // 40 expected draws per kept token, so each of the 500 is drawn.
  EXPECT_EQ(kept, 500);
}

TEST(Sampler, MinPFiltersUnlikelyTokens) {
  // min_p = 0.2 of the max prob 0.5 drops tokens below 0.1.
  SamplingParams params;
  params.min_p = 0.2f;
  Sampler sampler(params);
  const std::vector<int> counts = count_draws(sampler, logits_from_probs({0.5, 0.3, 0.15, 0.05}), 4000);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[2], 0);
  EXPECT_EQ(counts[3], 0);
}

TEST(Sampler, RepetitionPenaltyHandExample) {
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
  // Token 0 from the prompt and token 1 twice in the output are each
  // penalized once. Token 4 has logit 0, which stays 0.
  apply_penalties(params, std::vector<int32_t>{0, 4}, std::vector<int32_t>{1, 1}, logits);
  EXPECT_FLOAT_EQ(logits[0], 1.0f);
  EXPECT_FLOAT_EQ(logits[1], -2.0f);
  EXPECT_FLOAT_EQ(logits[2], 0.5f);
  EXPECT_FLOAT_EQ(logits[3], 3.0f);
  EXPECT_FLOAT_EQ(logits[4], 0.0f);
}

TEST(Sampler, PresenceFrequencyHandExample) {
  SamplingParams params;
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.25f;
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f};
  // Token 3 is only in the prompt, so these penalties leave it alone.
  apply_penalties(params, std::vector<int32_t>{3}, std::vector<int32_t>{1, 2, 1}, logits);
  EXPECT_FLOAT_EQ(logits[0], 2.0f);
  EXPECT_FLOAT_EQ(logits[1], -1.0f - (2 * 0.25f + 0.5f));
  EXPECT_FLOAT_EQ(logits[2], 0.5f - (0.25f + 0.5f));
  EXPECT_FLOAT_EQ(logits[3], 3.0f);
}

TEST(Sampler, PenaltiesChangeGreedyChoice) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.repetition_penalty = 1.5f;
  Sampler sampler(params);
  const std::vector<float> logits = {1.0f, 1.4f, 0.0f};
  EXPECT_EQ(sampler.sample(logits), 1);
  // 1.4 / 1.5 falls below 1.0, so token 0 wins.
  EXPECT_EQ(sampler.sample(logits, std::vector<int32_t>{}, std::vector<int32_t>{1}), 0);
}

TEST(Sampler, LogitBiasAdded) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.logit_bias = {{2, 10.0f}, {0, -kInf}};
  Sampler sampler(params);
  EXPECT_EQ(sampler.sample(std::vector<float>{5.0f, 1.0f, -4.0f}), 2);

  params.logit_bias = {{2, -kInf}, {0, -kInf}};
  Sampler banned(params);
  EXPECT_EQ(banned.sample(std::vector<float>{5.0f, 1.0f, 8.0f}), 1);
}

TEST(Sampler, LogitBiasIdBeyondVocabularyThrows) {
  SamplingParams params;
  params.logit_bias = {{3, 1.0f}};
  Sampler sampler(params);
  EXPECT_THROW(sampler.sample(std::vector<float>{0.0f, 0.0f, 0.0f}), Error);
}

TEST(Sampler, InvalidLogitsThrow) {
  Sampler sampler(SamplingParams{});
  EXPECT_THROW(sampler.sample(std::vector<float>{0.0f, std::nanf(""), 1.0f}), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{0.0f, kInf}), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{-kInf, -kInf}), Error);
}

// Runs 20000 draws over three tokens and checks each count against its
// binomial mean within 5 standard deviations (a false failure has a chance
// below 1e-6 per token).
void expect_distribution(float temperature, const std::vector<double>& probs,
                         const std::vector<double>& expected) {
  constexpr int kDraws = 20000;
  SamplingParams params;
  params.temperature = temperature;
  params.seed = 20240601;
  Sampler sampler(params);
  const std::vector<int> counts = count_draws(sampler, logits_from_probs(probs), kDraws);
  for (size_t id = 0; id < expected.size(); ++id) {
    const double mean = kDraws * expected[id];
    const double sigma = std::sqrt(kDraws * expected[id] * (1.0 - expected[id]));
    EXPECT_NEAR(counts[id], mean, 5.0 * sigma) << "token " << id << " at temperature " << temperature;
  }
}

TEST(Sampler, DistributionMatchesSoftmax) {
  expect_distribution(1.0f, {0.6, 0.3, 0.1}, {0.6, 0.3, 0.1});
}

TEST(Sampler, DistributionFollowsTemperature) {
  // Temperature 2 turns probabilities p into sqrt(p) / sum(sqrt(p)).
  const std::vector<double> probs = {0.6, 0.3, 0.1};
  std::vector<double> expected;
  double sum = 0.0;
  for (const double p : probs) sum += std::sqrt(p);
  for (const double p : probs) expected.push_back(std::sqrt(p) / sum);
  expect_distribution(2.0f, probs, expected);
}

TEST(Sampler, ValidateRejectsOutOfRange) {
  struct Case {
    const char* name;
    void (*set)(SamplingParams&);
    const char* value;
  };
  const Case cases[] = {
      {"temperature", [](SamplingParams& p) { p.temperature = -0.5f; }, "-0.5"},
      {"temperature", [](SamplingParams& p) { p.temperature = std::nanf(""); }, "nan"},
      {"top_k", [](SamplingParams& p) { p.top_k = -1; }, "-1"},
      {"top_p", [](SamplingParams& p) { p.top_p = 0.0f; }, "0"},
      {"top_p", [](SamplingParams& p) { p.top_p = 1.5f; }, "1.5"},
      {"min_p", [](SamplingParams& p) { p.min_p = -0.25f; }, "-0.25"},
      {"min_p", [](SamplingParams& p) { p.min_p = 2.0f; }, "2"},
      {"repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = 0.0f; }, "0"},
      {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = 2.5f; }, "2.5"},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = -3.0f; }, "-3"},
      {"logit_bias", [](SamplingParams& p) { p.logit_bias[-1] = 1.0f; }, "-1"},
      {"logit_bias", [](SamplingParams& p) { p.logit_bias[4] = std::nanf(""); }, "nan"},
  };
  for (const Case& c : cases) {
    SamplingParams params;
    c.set(params);
    try {
      params.validate();
      ADD_FAILURE() << c.name << " = " << c.value << " was accepted";
    } catch (const Error& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find(c.name), std::string::npos) << message;
      EXPECT_NE(message.find(c.value), std::string::npos) << message;
      EXPECT_NE(message.find("expected"), std::string::npos) << message;
    }
    EXPECT_THROW(Sampler{params}, Error) << c.name;
  }
}

TEST(Sampler, ValidateAcceptsBounds) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.top_p = 1.0f;
  params.min_p = 1.0f;
  params.presence_penalty = -2.0f;
  params.frequency_penalty = 2.0f;
  params.logit_bias[0] = -kInf;
  EXPECT_NO_THROW(params.validate());
}

TEST(Sampler, TopLogprobsSortedAndNormalized) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
  const auto top = top_logprobs(logits, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);
  EXPECT_EQ(top[1].first, 3);
  EXPECT_EQ(top[2].first, 2);
  const double normalizer = std::log(std::exp(1.0) + 2 * std::exp(3.0) + std::exp(2.0));
  EXPECT_NEAR(top[0].second, 3.0 - normalizer, 1e-6);
  EXPECT_NEAR(top[1].second, 3.0 - normalizer, 1e-6);
  EXPECT_NEAR(top[2].second, 2.0 - normalizer, 1e-6);
  EXPECT_NEAR(token_logprob(logits, 0), 1.0 - normalizer, 1e-6);
}

TEST(Sampler, TopLogprobsCountLimits) {
  const std::vector<float> logits = {0.0f, -kInf, 1.0f};
  EXPECT_TRUE(top_logprobs(logits, 0).empty());
  const auto all = top_logprobs(logits, 10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].first, 1);
  EXPECT_EQ(all[2].second, -kInf);
  EXPECT_THROW(top_logprobs(logits, -1), Error);
}

}  // namespace
}  // namespace swiftkv
