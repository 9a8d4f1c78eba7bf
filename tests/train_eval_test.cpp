// Evaluation metrics: KL, top-1 agreement and perplexity against values
// computed directly from logits, greedy agreement, and multiple-choice scoring.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "engine/generator.h"
#include "formats/checkpoint.h"
#include "model/convert.h"
#include "test_util.h"
#include "train/evaluation.h"
#include "train/multiple_choice.h"

namespace swiftkv {
namespace {

std::string stories_gguf() { return testing::stories_dir() + "/stories260Ktok512.gguf"; }

const Tokenizer& stories_tokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = make_tokenizer(load_checkpoint(stories_gguf()).vocab);
  return *tokenizer;
}

// stories260K in float32, or its SwiftKV conversion (K = 2 of 5 layers) run
// with SwiftKV on.
const Model& stories_model(bool swiftkv) {
  static const std::unique_ptr<Model> plain = make_model(load_checkpoint(stories_gguf()), false);
  static const std::unique_ptr<Model> converted = [] {
    Checkpoint checkpoint = load_checkpoint(stories_gguf());
    make_swiftkv_checkpoint(checkpoint, /*num_kv_layers=*/2, /*group_size=*/1);
    return make_model(checkpoint, true);
  }();
  return swiftkv ? *converted : *plain;
}

std::vector<double> log_softmax(const float* logits, int64_t V) {
  double max_logit = logits[0];
  for (int64_t v = 1; v < V; ++v) max_logit = std::max(max_logit, static_cast<double>(logits[v]));
  double sum = 0.0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(logits[v] - max_logit);
  std::vector<double> out(static_cast<size_t>(V));
  for (int64_t v = 0; v < V; ++v) out[static_cast<size_t>(v)] = logits[v] - max_logit - std::log(sum);
  return out;
}

// Logits [T, V] of every position in one forward pass.
std::vector<float> all_logits(const Model& model, const std::vector<int32_t>& tokens) {
  KVCache cache = model.make_cache(1, static_cast<int64_t>(tokens.size()));
  std::vector<BatchRow> rows;
  for (size_t t = 0; t < tokens.size(); ++t) rows.push_back({tokens[t], static_cast<int32_t>(t), 0, true});
  return model.forward(rows, cache);
}

TEST(EvalMetrics, SinglePositionByHand) {
  const std::vector<float> model = {0.0f, 1.0f, 2.0f};
  const std::vector<float> teacher = {2.0f, 1.0f, 0.0f};
  TokenMetrics metrics;
  accumulate_target(model, teacher, /*target=*/1, metrics);

  // softmax([0, 1, 2]) = e^v / (1 + e + e^2); the teacher's is its mirror image.
  const double z = 1.0 + std::exp(1.0) + std::exp(2.0);
  const double p_model[3] = {1.0 / z, std::exp(1.0) / z, std::exp(2.0) / z};
  const double p_teacher[3] = {p_model[2], p_model[1], p_model[0]};
  double kl = 0.0;
  for (int v = 0; v < 3; ++v) kl += p_teacher[v] * std::log(p_teacher[v] / p_model[v]);

  EXPECT_EQ(metrics.num_tokens, 1);
  EXPECT_NEAR(metrics.kl(), kl, 1e-9);
  EXPECT_NEAR(metrics.perplexity(), 1.0 / p_model[1], 1e-9);
  EXPECT_NEAR(metrics.teacher_perplexity(), 1.0 / p_teacher[1], 1e-9);
  EXPECT_EQ(metrics.top1_agreement(), 0.0);
}

TEST(EvalMetrics, NoTargetsGiveNaN) {
  const TokenMetrics metrics;
  EXPECT_TRUE(std::isnan(metrics.kl()));
  EXPECT_TRUE(std::isnan(metrics.perplexity()));
}

TEST(EvalMetrics, ModelAgainstItselfIsExact) {
  const Tokenizer& tokenizer = stories_tokenizer();
  const TokenizedConversation conversation =
      tokenize_conversation(tokenizer, {{{"user", "Once upon a time"}, {"assistant", ", there was a big dog."}}});
  TokenMetrics metrics;
  score_conversation(stories_model(false), &stories_model(false), conversation, metrics);
  EXPECT_GT(metrics.num_tokens, 3);
  EXPECT_NEAR(metrics.kl(), 0.0, 1e-9);
  EXPECT_EQ(metrics.top1_agreement(), 1.0);
  EXPECT_NEAR(metrics.perplexity(), metrics.teacher_perplexity(), 1e-9);
}

// The converted SwiftKV student against its original: score_conversation,
// which requests logits only for target rows in chunks of 3 rows, must match
// KL and perplexity computed here from a single all-rows forward pass.
TEST(EvalMetrics, SwiftKVStudentMatchesDirectComputation) {
  const Tokenizer& tokenizer = stories_tokenizer();
  const Model& student = stories_model(true);
  const Model& teacher = stories_model(false);
  const TokenizedConversation conversation = tokenize_conversation(
      tokenizer, {{{"user", "Lily went to the park. She"}, {"assistant", " saw a big red ball and played."}}});

  TokenMetrics metrics;
  score_conversation(student, &teacher, conversation, metrics, /*chunk_rows=*/3);

  const int64_t V = teacher.config().vocab_size;
  const std::vector<float> student_logits = all_logits(student, conversation.tokens);
  const std::vector<float> teacher_logits = all_logits(teacher, conversation.tokens);
  double kl = 0.0, nll = 0.0;
  int64_t count = 0, matches = 0;
  for (size_t t = 1; t < conversation.tokens.size(); ++t) {
    if (conversation.assistant_mask[t] == 0) continue;
    const float* s = student_logits.data() + (t - 1) * V;
    const float* q = teacher_logits.data() + (t - 1) * V;
    const std::vector<double> log_s = log_softmax(s, V);
    const std::vector<double> log_q = log_softmax(q, V);
    for (int64_t v = 0; v < V; ++v) kl += std::exp(log_q[v]) * (log_q[v] - log_s[v]);
    nll -= log_s[static_cast<size_t>(conversation.tokens[t])];
    matches += std::max_element(s, s + V) - s == std::max_element(q, q + V) - q;
    ++count;
  }

  ASSERT_EQ(metrics.num_tokens, count);
  EXPECT_GT(kl / count, 1e-4) << "the converted student should differ from its teacher";
  EXPECT_NEAR(metrics.kl(), kl / count, 1e-4 * kl / count);
  EXPECT_NEAR(metrics.perplexity(), std::exp(nll / count), 1e-4 * std::exp(nll / count));
  EXPECT_NEAR(metrics.top1_agreement(), static_cast<double>(matches) / count, 1e-12);
}

TEST(EvalMetrics, ContinuationLogprobSumsTargets) {
  const Model& model = stories_model(false);
  const std::vector<int32_t> tokens = stories_tokenizer().encode("Tom had a red ball.", true);
  const std::vector<float> logits = all_logits(model, tokens);
  const int64_t V = model.config().vocab_size;
  double expected = 0.0;
  for (size_t t = 3; t < tokens.size(); ++t) {
    expected += log_softmax(logits.data() + (t - 1) * V, V)[static_cast<size_t>(tokens[t])];
  }
  EXPECT_NEAR(continuation_logprob(model, tokens, 3, /*chunk_rows=*/2), expected, 1e-4 * std::abs(expected));
}

TEST(GreedyAgreement, CommonPrefixOverLength) {
  const GreedyContinuation a{{1, 2, 3, 4, 5, 6, 7, 8}, false};
  EXPECT_EQ(greedy_agreement(a, a, 8), 1.0);
  EXPECT_EQ(greedy_agreement(a, {{1, 2, 3, 9, 5, 6, 7, 8}, false}, 8), 3.0 / 8.0);
  EXPECT_EQ(greedy_agreement(a, {{9}, false}, 8), 0.0);
  // Both stop after the same two tokens: identical to the end.
  EXPECT_EQ(greedy_agreement({{1, 2}, true}, {{1, 2}, true}, 8), 1.0);
  // Only one stops: the common prefix counts.
  EXPECT_EQ(greedy_agreement({{1, 2}, true}, a, 8), 2.0 / 8.0);
  // Tokens past max_tokens are not compared.
  EXPECT_EQ(greedy_agreement(a, {{1, 2, 3, 4, 0}, false}, 4), 1.0);
}

// Batched greedy continuations match single-sequence generation in float32.
TEST(GreedyAgreement, BatchedMatchesGenerate) {
  const Model& model = stories_model(false);
  const Tokenizer& tokenizer = stories_tokenizer();
  const std::vector<std::vector<int32_t>> prompts = {tokenizer.encode("Once upon a time", true),
                                                     tokenizer.encode("Tom had a big red", true),
                                                     tokenizer.encode("Lily", true)};
  const std::vector<GreedyContinuation> batched = greedy_continuations(model, tokenizer, prompts, 16, 2);
  ASSERT_EQ(batched.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerateOptions options;
    options.max_new_tokens = 16;
    options.sampling.temperature = 0.0f;
    const GenerateResult single = generate(model, tokenizer, prompts[i], options, nullptr);
    EXPECT_EQ(batched[i].tokens, single.output_tokens) << "prompt " << i;
    EXPECT_EQ(batched[i].stopped, single.finish_reason == "stop") << "prompt " << i;
  }
  EXPECT_EQ(greedy_agreement(batched[0], batched[0], 16), 1.0);
}

class MultipleChoiceTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::make_temp_dir("multiple_choice_"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(MultipleChoiceTest, BadLinesAreReportedAndSkipped) {
  const std::string path = dir_ + "/task.jsonl";
  std::ofstream(path) << R"({"context": "The sky is", "choices": [" blue", " green"], "gold": 0})" "\n"
                      << R"({"context": "x", "choices": [" a"], "gold": 0})" "\n"
                      << R"({"context": "x", "choices": [" a", " b"], "gold": 2})" "\n"
                      << R"({"context": "x", "choices": [" a", ""], "gold": 0})" "\n"
                      << R"({"choices": [" a", " b"], "gold": 0})" "\n"
                      << R"({"context": "x", "choices": [" a", " b"], "gold": "0"})" "\n"
                      << "not json\n";
  const MultipleChoiceFile file = read_multiple_choice_jsonl(path);
  ASSERT_EQ(file.questions.size(), 1u);
  EXPECT_EQ(file.questions[0].choices[1], " green");
  const std::vector<std::string> reasons = {"at least 2", "'gold' is 2", "choices[1]", "'context'", "'gold'",
                                            "invalid JSON"};
  ASSERT_EQ(file.skipped.size(), reasons.size());
  for (size_t i = 0; i < reasons.size(); ++i) {
    EXPECT_EQ(file.skipped[i].rfind(path + ":" + std::to_string(i + 2) + ": ", 0), 0u) << file.skipped[i];
    EXPECT_NE(file.skipped[i].find(reasons[i]), std::string::npos) << file.skipped[i];
  }
  EXPECT_THROW(read_multiple_choice_jsonl(dir_ + "/absent.jsonl"), Error);
}

TEST_F(MultipleChoiceTest, ScoresByLogLikelihood) {
  const Model& model = stories_model(false);
  const Tokenizer& tokenizer = stories_tokenizer();
  const MultipleChoiceQuestion question{"Lily was hungry, so she ate a big", {" apple", " car", " cloud"}, 0};

  const std::vector<double> logprobs = choice_logprobs(model, tokenizer, question);
  ASSERT_EQ(logprobs.size(), 3u);
  const std::vector<int32_t> context = tokenizer.encode(question.context, true);
  for (size_t i = 0; i < 3; ++i) {
    const std::vector<int32_t> tokens = tokenizer.encode(question.context + question.choices[i], true);
    ASSERT_EQ(std::vector<int32_t>(tokens.begin(), tokens.begin() + context.size()), context);
    EXPECT_NEAR(logprobs[i], continuation_logprob(model, tokens, context.size()), 1e-5 * std::abs(logprobs[i]));
  }

  // Gold on each choice in turn: exactly the best one is counted correct.
  std::vector<MultipleChoiceQuestion> questions(3, question);
  for (int64_t i = 0; i < 3; ++i) questions[static_cast<size_t>(i)].gold = i;
  const MultipleChoiceScore score = score_multiple_choice(model, tokenizer, questions);
  EXPECT_EQ(score.num_questions, 3);
  EXPECT_EQ(score.correct, 1);
  EXPECT_EQ(score.correct_norm, 1);
  EXPECT_NEAR(score.accuracy(), 1.0 / 3.0, 1e-12);
}

}  // namespace
}  // namespace swiftkv
