// `swiftkv gen-data` and `swiftkv eval` on stories260K: valid JSONL in input
// order, bad lines skipped with a message, deterministic greedy output, a
// model against itself, and clear errors for bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace swiftkv {
namespace {

using testing::quote;
using testing::run_swiftkv;

std::string stories_model() { return "-m " + quote(testing::stories_dir() + "/stories260Ktok512.gguf") + " --weights f32"; }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(read_text(path));
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

class CliTrainData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir("cli_train_data_");
    prompts_ = dir_ + "/prompts.jsonl";
    std::ofstream(prompts_) << R"({"prompt": "Once upon a time"})" "\n"
                            << R"({"prompt": 3})" "\n"
                            << R"({"messages": [{"role": "user", "content": "Tom had a red ball."}]})" "\n"
                            << "not json\n"
                            << R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "x"}]})" "\n"
                            << R"({"prompt": "Lily saw a cat."})" "\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  testing::CommandResult gen_data(const std::string& output, const std::string& extra) {
    return run_swiftkv("gen-data " + stories_model() + " -i " + quote(prompts_) + " -o " + quote(output) +
                       " --max-tokens 12 " + extra);
  }

  std::string dir_;
  std::string prompts_;
};

TEST_F(CliTrainData, GenDataWritesConversationsInOrder) {
  const std::string output = dir_ + "/data.jsonl";
  const auto result = gen_data(output, "--temperature 0 --max-num-seqs 2");
  ASSERT_EQ(result.exit_code, 0) << result.err;

  const std::vector<nlohmann::json> lines = read_jsonl(output);
  ASSERT_EQ(lines.size(), 3u);
  const std::vector<std::string> prompts = {"Once upon a time", "Tom had a red ball.", "Lily saw a cat."};
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json& messages = lines[i]["messages"];
    ASSERT_EQ(messages.size(), 2u) << lines[i];
    EXPECT_EQ(messages[0]["role"], "user");
    EXPECT_EQ(messages[0]["content"], prompts[i]);
    EXPECT_EQ(messages[1]["role"], "assistant");
    EXPECT_FALSE(messages[1]["content"].get<std::string>().empty()) << lines[i];
  }
  // The bad lines are named with their line numbers and reasons.
  EXPECT_NE(result.err.find(prompts_ + ":2: 'prompt' is not a string"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(prompts_ + ":4: invalid JSON"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(prompts_ + ":5: the last message is from 'assistant'"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("tokens/s"), std::string::npos) << result.err;
}

TEST_F(CliTrainData, GenDataGreedyIsDeterministic) {
  const auto first = gen_data(dir_ + "/a.jsonl", "--temperature 0 --max-num-seqs 3");
  const auto again = gen_data(dir_ + "/b.jsonl", "--temperature 0 --max-num-seqs 1");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(read_text(dir_ + "/a.jsonl"), read_text(dir_ + "/b.jsonl"));
}

TEST_F(CliTrainData, GenDataSampledFollowsSeed) {
  const auto first = gen_data(dir_ + "/a.jsonl", "--temperature 1 --seed 5 --max-num-seqs 3");
  const auto again = gen_data(dir_ + "/b.jsonl", "--temperature 1 --seed 5 --max-num-seqs 1");
  const auto other = gen_data(dir_ + "/c.jsonl", "--temperature 1 --seed 6");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(read_text(dir_ + "/a.jsonl"), read_text(dir_ + "/b.jsonl"));
  EXPECT_NE(read_text(dir_ + "/a.jsonl"), read_text(dir_ + "/c.jsonl"));
}

TEST_F(CliTrainData, SmolLM2UsesChatTemplate) {
  if (!testing::file_exists(testing::smollm2_gguf())) GTEST_SKIP() << "run scripts/fetch_model.sh first";
  const std::string input = dir_ + "/question.jsonl";
  std::ofstream(input) << R"({"messages": [{"role": "system", "content": "Answer in one sentence."}, )"
                          R"({"role": "user", "content": "What is the capital of France?"}]})" "\n";
  const std::string output = dir_ + "/answer.jsonl";
  const std::string model = "-m " + quote(testing::smollm2_gguf());
  const auto result = run_swiftkv("gen-data " + model + " -i " + quote(input) + " -o " + quote(output) +
                                  " --temperature 0 --max-tokens 16");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<nlohmann::json> lines = read_jsonl(output);
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json& messages = lines[0]["messages"];
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0]["content"], "Answer in one sentence.");
  const std::string answer = messages[2]["content"].get<std::string>();
  EXPECT_NE(answer.find("Paris"), std::string::npos) << answer;
  EXPECT_EQ(answer.find("<|im_"), std::string::npos) << answer;

  // The response plus <|im_end|> are the scored tokens.
  const auto eval = run_swiftkv("eval " + model + " -d " + quote(output) + " --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const nlohmann::json metrics = nlohmann::json::parse(eval.out);
  EXPECT_GE(metrics["num_tokens"].get<int64_t>(), 3);
  EXPECT_LE(metrics["num_tokens"].get<int64_t>(), 17);
  EXPECT_GT(metrics["perplexity"].get<double>(), 1.0);
  EXPECT_LT(metrics["perplexity"].get<double>(), 10.0) << "the model's own greedy answer should be likely";
}

TEST_F(CliTrainData, GenDataErrors) {
  auto result = run_swiftkv("gen-data " + stories_model() + " -i /nonexistent/p.jsonl -o " + quote(dir_ + "/o"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("error: cannot open conversation file '/nonexistent/p.jsonl'"), std::string::npos)
      << result.err;

  result = gen_data(dir_ + "/o.jsonl", "--temperature -1");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("temperature"), std::string::npos) << result.err;

  result = gen_data("/nonexistent/dir/o.jsonl", "");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("/nonexistent/dir/o.jsonl"), std::string::npos) << result.err;

  const std::string bad = dir_ + "/bad.jsonl";
  std::ofstream(bad) << "{}\n[]\n";
  result = run_swiftkv("gen-data " + stories_model() + " -i " + quote(bad) + " -o " + quote(dir_ + "/o.jsonl"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("error: '" + bad + "' has no conversation to answer"), std::string::npos) << result.err;
}

TEST_F(CliTrainData, EvalModelAgainstItself) {
  const std::string data = dir_ + "/data.jsonl";
  ASSERT_EQ(gen_data(data, "--temperature 0").exit_code, 0);
  const std::string task = std::string(SWIFTKV_SOURCE_DIR) + "/data/tasks/story_cloze.jsonl";
  const std::string model = testing::stories_dir() + "/stories260Ktok512.gguf";
  const auto result = run_swiftkv("eval " + stories_model() + " --teacher " + quote(model) + " -d " + quote(data) +
                                  " --task " + quote(task) + " --greedy-tokens 8 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json metrics = nlohmann::json::parse(result.out);
  EXPECT_NEAR(metrics["kl"].get<double>(), 0.0, 1e-9);
  EXPECT_EQ(metrics["top1_agreement"].get<double>(), 1.0);
  EXPECT_EQ(metrics["greedy_agreement"].get<double>(), 1.0);
  EXPECT_GT(metrics["perplexity"].get<double>(), 1.0);
  EXPECT_NEAR(metrics["perplexity"].get<double>(), metrics["teacher_perplexity"].get<double>(), 1e-9);
  EXPECT_EQ(metrics["num_conversations"], 3);
  EXPECT_GT(metrics["num_tokens"].get<int64_t>(), 10);
  EXPECT_EQ(metrics["task_num_questions"], 16);
  EXPECT_GE(metrics["task_accuracy"].get<double>(), 0.0);
  EXPECT_LE(metrics["task_accuracy"].get<double>(), 1.0);
  EXPECT_EQ(metrics["task_accuracy"], metrics["teacher_task_accuracy"]);
}

TEST_F(CliTrainData, EvalWithoutTeacherReportsPerplexity) {
  const auto result = run_swiftkv("eval " + stories_model() + " -d " + quote(prompts_) + " --limit 2");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("perplexity"), std::string::npos) << result.out;
  // Prompt-only lines have no assistant tokens to score.
  EXPECT_NE(result.out.find("conversations: 2 (2 skipped), assistant tokens: 0"), std::string::npos) << result.out;

  const std::string data = dir_ + "/data.jsonl";
  ASSERT_EQ(gen_data(data, "--temperature 0").exit_code, 0);
  const auto json = run_swiftkv("eval " + stories_model() + " -d " + quote(data) + " --max-length 6 --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json metrics = nlohmann::json::parse(json.out);
  EXPECT_TRUE(metrics["kl"].is_null());
  EXPECT_TRUE(metrics["greedy_agreement"].is_null());
  EXPECT_TRUE(metrics["task_accuracy"].is_null());
  EXPECT_TRUE(metrics["perplexity"].is_number());
  EXPECT_LE(metrics["num_tokens"].get<int64_t>(), 3 * 5);  // at most 5 targets in 6 tokens
}

TEST_F(CliTrainData, EvalErrors) {
  auto result = run_swiftkv("eval " + stories_model());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("error: nothing to evaluate"), std::string::npos) << result.err;

  result = run_swiftkv("eval " + stories_model() + " -d /nonexistent/held.jsonl");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("/nonexistent/held.jsonl"), std::string::npos) << result.err;

  result = run_swiftkv("eval " + stories_model() + " --task /nonexistent/task.jsonl");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("/nonexistent/task.jsonl"), std::string::npos) << result.err;

  result = run_swiftkv("eval " + stories_model() + " -d " + quote(prompts_) + " --max-length -3");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("--max-length"), std::string::npos) << result.err;

  result = run_swiftkv("eval " + stories_model() + " -d " + quote(prompts_) + " --teacher /nonexistent/t.gguf");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("/nonexistent/t.gguf"), std::string::npos) << result.err;

  // A llama2.c teacher without its tokenizer: the hint names the teacher's option.
  result = run_swiftkv("eval " + stories_model() + " -d " + quote(prompts_) + " --teacher " +
                       quote(testing::stories_dir() + "/stories260K.bin"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("pass its tokenizer file with --teacher-tokenizer"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace swiftkv
