// `swiftkv distill` end to end on stories260K, packing, resuming, and the
// handling of bad data.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "model/weights.h"
#include "test_util.h"
#include "train/optimizer.h"
#include "train/packing.h"
#include "train/student.h"
#include "train/train_step.h"

namespace swiftkv {
namespace {

using testing::quote;
using testing::run_swiftkv;

TEST(TrainPacking, PacksWholeSequencesUpToMaxLength) {
  std::vector<TrainingSequence> data;
  for (int length : {5, 3, 7, 2, 6, 1}) {
    data.push_back({std::vector<int32_t>(length, length), std::vector<uint8_t>(length, 1)});
  }
  const std::vector<PackedBatch> micro = pack_epoch(data, {0, 1, 2, 3, 4, 5}, 8, 1);
  ASSERT_EQ(micro.size(), 4u);  // [5 3] [7] [2 6] [1]
  EXPECT_EQ(micro[0].rows(), 8);
  EXPECT_EQ(micro[0].num_sequences, 2);
  EXPECT_EQ(micro[0].positions[5], 0);    // the second sequence restarts its positions
  EXPECT_EQ(micro[0].seq_start[6], 5);    // and its attention start
  EXPECT_EQ(micro[3].rows(), 1);
  const std::vector<PackedBatch> grouped = pack_epoch(data, {0, 1, 2, 3, 4, 5}, 8, 3);
  ASSERT_EQ(grouped.size(), 2u);
  EXPECT_EQ(grouped[0].num_sequences, 5);
}

TEST(TrainPacking, ShuffledOrderIsASeededPermutation) {
  const auto a = shuffled_order(50, 7), b = shuffled_order(50, 7), c = shuffled_order(50, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(std::set<size_t>(a.begin(), a.end()).size(), 50u);
}

TEST(TrainStep, NanLossNamesStepKeepsWeights) {
  const Checkpoint checkpoint = load_checkpoint(std::string(SWIFTKV_SOURCE_DIR) + "/tests/golden/swiftkv/tiny_g1");
  ModelWeights weights = load_weights(checkpoint.config, *checkpoint.tensors);
  weights.layers[4].o_proj.values[3] = std::nanf("");
  DistillStudent student(checkpoint.config, weights);
  AdamW optimizer(AdamWConfig{}, student.params());
  PackedBatch batch;
  batch.append({5, 6, 7, 8}, {0, 1, 1, 1});
  const std::vector<float> before = weights.norm_swiftkv.values;
  try {
    train_step(student, optimizer, {batch}, DistillLossConfig{}, 1e-3f, 1.0, 7);
    FAIL() << "a NaN loss must stop training";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN at step 7"), std::string::npos) << e.what();
  }
  EXPECT_EQ(weights.norm_swiftkv.values, before);
}

TEST(TrainStudent, RejectsAnOrdinaryCheckpoint) {
  const Checkpoint checkpoint = load_checkpoint(testing::stories_dir() + "/stories260K.bin",
                                                testing::stories_dir() + "/tok512.bin");
  ModelWeights weights = load_weights(checkpoint.config, *checkpoint.tensors);
  EXPECT_THROW(DistillStudent(checkpoint.config, weights), Error);
}

// A SwiftKV stories260K checkpoint (K = 2 of 5) and a small conversation file.
class DistillCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::make_temp_dir("swiftkv_distill_test");
    const std::string s = testing::stories_dir();
    const auto converted = run_swiftkv("convert " + quote(s + "/stories260K.bin") + " " + quote(dir_ + "/sk2") +
                                       " --tokenizer " + quote(s + "/tok512.bin") +
                                       " --swiftkv --num-key-value-layers 2");
    ASSERT_EQ(converted.exit_code, 0) << converted.err;
    std::ofstream data(dir_ + "/data.jsonl");
    const char* openings[] = {"Once upon a time, there was a little dog.", "Lily went to the park.",
                              "Tom had a red ball.", "The sun was warm and bright."};
    for (int i = 0; i < 24; ++i) {
      data << R"({"messages": [{"role": "user", "content": ")" << openings[i % 4]
           << R"("}, {"role": "assistant", "content": " She was happy and played all day with her friend."}]})"
           << "\n";
    }
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  static std::vector<double> logged_losses(const std::string& log_path) {
    std::vector<double> losses;
    std::ifstream in(log_path);
    std::string line;
    while (std::getline(in, line)) losses.push_back(nlohmann::json::parse(line).at("loss").get<double>());
    return losses;
  }

  static std::string dir_;
};
std::string DistillCommand::dir_;

TEST_F(DistillCommand, ResumeGivesSameLosses) {
  const std::string common = "distill -m " + quote(dir_ + "/sk2") + " -d " + quote(dir_ + "/data.jsonl") +
                             " --max-length 64 --lr 2e-3 --seed 3 -t 1";
  const auto full = run_swiftkv(common + " -o " + quote(dir_ + "/full") + " --save-every 3");
  ASSERT_EQ(full.exit_code, 0) << full.err;
  const std::vector<double> losses = logged_losses(dir_ + "/full/train_log.jsonl");
  ASSERT_GE(losses.size(), 6u);
  const std::string last_step = std::to_string(losses.size());
  EXPECT_NE(full.err.find("step " + last_step + "/" + last_step + " | loss"), std::string::npos) << full.err;
  EXPECT_LT(losses.back(), losses.front() * 0.8) << "distillation should lower the loss";

  const auto resumed = run_swiftkv(common + " -o " + quote(dir_ + "/resumed") + " --resume " +
                                   quote(dir_ + "/full/checkpoint-3"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::vector<double> tail = logged_losses(dir_ + "/resumed/train_log.jsonl");
  ASSERT_EQ(tail.size(), losses.size() - 3);
  for (size_t i = 0; i < tail.size(); ++i) EXPECT_DOUBLE_EQ(tail[i], losses[3 + i]) << "step " << 4 + i;

  // The result is a llama_swiftkv directory that swiftkv itself runs.
  const auto generated = run_swiftkv("generate -m " + quote(dir_ + "/full") + " -p 'Once upon a time' -n 8 --temp 0");
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  EXPECT_FALSE(generated.out.empty());
  std::ifstream config(dir_ + "/full/config.json");
  EXPECT_EQ(nlohmann::json::parse(config).at("model_type"), "llama_swiftkv");

  const auto mismatch = run_swiftkv(common + " -o " + quote(dir_ + "/bad") + " --epochs 2 --resume " +
                                    quote(dir_ + "/full/checkpoint-3"));
  EXPECT_NE(mismatch.exit_code, 0);
  EXPECT_NE(mismatch.err.find("epochs"), std::string::npos) << mismatch.err;

  const auto other_lr = run_swiftkv(common + " -o " + quote(dir_ + "/bad") + " --lr 1e-3 --resume " +
                                    quote(dir_ + "/full/checkpoint-3"));
  EXPECT_NE(other_lr.exit_code, 0);
  EXPECT_NE(other_lr.err.find("lr"), std::string::npos) << other_lr.err;

  // Resuming into the run's own directory keeps one log line per step.
  const auto again = run_swiftkv(common + " -o " + quote(dir_ + "/full") + " --resume " +
                                 quote(dir_ + "/full/checkpoint-3"));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(logged_losses(dir_ + "/full/train_log.jsonl"), losses);
}

TEST_F(DistillCommand, SkipsBadAndLongLines) {
  std::ofstream data(dir_ + "/mixed.jsonl");
  data << "{not json\n"
       << R"({"messages": []})" << "\n"
       << R"({"messages": [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": " Hello there."}]})"
       << "\n"
       << R"({"messages": [{"role": "user", "content": "Tell a long story."}, {"role": "assistant", "content": ")"
       << std::string(2000, 'a') << R"("}]})" << "\n";
  data.close();
  const auto result = run_swiftkv("distill -m " + quote(dir_ + "/sk2") + " -d " + quote(dir_ + "/mixed.jsonl") +
                                  " --max-length 64 -o " + quote(dir_ + "/mixed_out"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("mixed.jsonl:1"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("mixed.jsonl:2"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("more than --max-length 64"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("1 conversations to train on"), std::string::npos) << result.err;

  // Beyond the model's context a conversation is skipped whatever --max-length says.
  const auto past_context = run_swiftkv("distill -m " + quote(dir_ + "/sk2") + " -d " + quote(dir_ + "/mixed.jsonl") +
                                        " --max-length 8192 -o " + quote(dir_ + "/mixed_out2"));
  ASSERT_EQ(past_context.exit_code, 0) << past_context.err;
  EXPECT_NE(past_context.err.find("more than the model's context"), std::string::npos) << past_context.err;
}

TEST_F(DistillCommand, RejectsUnusableInput) {
  const std::string s = testing::stories_dir();
  const auto ordinary = run_swiftkv("distill -m " + quote(s + "/stories260Ktok512.gguf") + " -d " +
                                    quote(dir_ + "/data.jsonl") + " -o " + quote(dir_ + "/x"));
  EXPECT_NE(ordinary.exit_code, 0);
  EXPECT_NE(ordinary.err.find("not a SwiftKV checkpoint"), std::string::npos) << ordinary.err;

  std::ofstream empty(dir_ + "/empty.jsonl");
  empty << "\n";
  empty.close();
  const auto no_data = run_swiftkv("distill -m " + quote(dir_ + "/sk2") + " -d " + quote(dir_ + "/empty.jsonl") +
                                   " -o " + quote(dir_ + "/x"));
  EXPECT_NE(no_data.exit_code, 0);
  EXPECT_NE(no_data.err.find("no conversation to train on"), std::string::npos) << no_data.err;

  const auto output_is_file = run_swiftkv("distill -m " + quote(dir_ + "/sk2") + " -d " + quote(dir_ + "/data.jsonl") +
                                          " -o " + quote(dir_ + "/data.jsonl"));
  EXPECT_NE(output_is_file.exit_code, 0);
  EXPECT_NE(output_is_file.err.find("cannot create the output directory"), std::string::npos) << output_is_file.err;

  const auto same_file = run_swiftkv("gen-data -m " + quote(dir_ + "/sk2") + " -i " + quote(dir_ + "/data.jsonl") +
                                     " -o " + quote(dir_ + "/data.jsonl"));
  EXPECT_NE(same_file.exit_code, 0);
  EXPECT_NE(same_file.err.find("is the input file"), std::string::npos) << same_file.err;
  std::ifstream data(dir_ + "/data.jsonl");
  EXPECT_TRUE(data.peek() != std::ifstream::traits_type::eof()) << "the input must be left intact";

  const auto empty_eval = run_swiftkv("eval -m " + quote(dir_ + "/sk2") + " -d " + quote(dir_ + "/empty.jsonl"));
  EXPECT_NE(empty_eval.exit_code, 0);
  EXPECT_NE(empty_eval.err.find("no valid conversation"), std::string::npos) << empty_eval.err;

  const auto bad_lr = run_swiftkv("distill -m " + quote(dir_ + "/sk2") + " -d " + quote(dir_ + "/data.jsonl") +
                                  " -o " + quote(dir_ + "/x") + " --lr -1");
  EXPECT_NE(bad_lr.exit_code, 0);
  EXPECT_NE(bad_lr.err.find("--lr must be a positive finite number"), std::string::npos) << bad_lr.err;
}

}  // namespace
}  // namespace swiftkv
