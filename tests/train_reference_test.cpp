// The distillation trainer against the PyTorch reference trainer
// (scripts/reference/gen_distill_goldens.py): loss, the gradient of every
// trainable tensor, and the losses over 20 optimizer steps on tiny random
// llama_swiftkv checkpoints.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "formats/checkpoint.h"
#include "golden_util.h"
#include "model/weights.h"
#include "train/optimizer.h"
#include "train/student.h"
#include "train/train_step.h"

namespace swiftkv {
namespace {

const std::string kGoldenDir = std::string(SWIFTKV_SOURCE_DIR) + "/tests/golden";

std::vector<PackedBatch> golden_batches(const nlohmann::json& golden) {
  std::vector<PackedBatch> batches;
  for (const auto& sequences : golden.at("batches")) {
    PackedBatch batch;
    for (const auto& seq : sequences) {
      batch.append(seq.at("tokens").get<std::vector<int32_t>>(), seq.at("mask").get<std::vector<uint8_t>>());
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

class TrainReference : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    golden_ = testing::read_json_file(kGoldenDir + "/distill/" + GetParam() + ".json");
    checkpoint_ = load_checkpoint(kGoldenDir + "/" + golden_.at("checkpoint").get<std::string>());
    weights_ = load_weights(checkpoint_.config, *checkpoint_.tensors);
    const auto& settings = golden_.at("settings");
    loss_.temperature = settings.at("temperature").get<float>();
    loss_.hidden_loss_mult = settings.at("hidden_loss_mult").get<float>();
    loss_.mask_inputs = settings.at("mask_inputs").get<bool>();
  }

  nlohmann::json golden_;
  Checkpoint checkpoint_;
  ModelWeights weights_;
  DistillLossConfig loss_;
};

TEST_P(TrainReference, LossAndGradientsMatchPyTorch) {
  DistillStudent student(checkpoint_.config, weights_);
  const std::vector<PackedBatch> batches = golden_batches(golden_);
  const LossParts first = student.loss(batches[0], loss_);
  const auto& expected = golden_.at("first_micro_batch");
  EXPECT_NEAR(first.total, expected.at("total").get<double>(), 1e-4 * expected.at("total").get<double>());
  EXPECT_NEAR(first.kl, expected.at("kl").get<double>(), 1e-4 * expected.at("kl").get<double>());
  EXPECT_NEAR(first.mse, expected.at("mse").get<double>(), 1e-4 * expected.at("mse").get<double>() + 1e-9);

  student.zero_grad();
  for (const PackedBatch& batch : batches) student.forward_backward(batch, loss_, 1.0f / batches.size());
  const auto& grads = golden_.at("first_step_grads");
  const std::string grads_file = kGoldenDir + "/distill/" + GetParam() + ".grads.f32";
  ASSERT_EQ(grads.size(), student.params().size());
  for (const TrainableParam& param : student.params()) {
    ASSERT_TRUE(grads.contains(param.name)) << param.name;
    const std::vector<float> reference = testing::read_logits_block(grads_file, grads.at(param.name));
    ASSERT_EQ(reference.size(), param.grad.size()) << param.name;
    EXPECT_LT(testing::relative_error(param.grad, reference), 1e-4) << param.name;
  }
}

TEST_P(TrainReference, TwentyStepsFollowPyTorchLosses) {
  DistillStudent student(checkpoint_.config, weights_);
  const std::vector<PackedBatch> batches = golden_batches(golden_);
  const auto& settings = golden_.at("settings");
  AdamWConfig adam;
  adam.lr = settings.at("lr").get<float>();
  AdamW optimizer(adam, student.params());
  const auto expected = golden_.at("step_losses").get<std::vector<double>>();
  const auto steps = static_cast<int64_t>(expected.size());
  for (int64_t step = 0; step < steps; ++step) {
    const float lr = linear_schedule_lr(adam.lr, step, steps, settings.at("warmup_ratio").get<double>());
    const StepResult result = train_step(student, optimizer, batches, loss_, lr,
                                         settings.at("max_grad_norm").get<double>(), step);
    EXPECT_NEAR(result.loss.total, expected[step], 1e-3 * expected[step]) << "step " << step;
  }
  EXPECT_LT(expected.back(), expected.front());
}

INSTANTIATE_TEST_SUITE_P(Goldens, TrainReference, ::testing::Values("tiny_g1", "tiny_g2"));

TEST(TrainSchedule, LinearWarmupThenDecay) {
  EXPECT_FLOAT_EQ(linear_schedule_lr(1.0f, 0, 100, 0.05), 0.0f);
  EXPECT_FLOAT_EQ(linear_schedule_lr(1.0f, 1, 100, 0.05), 0.2f);
  EXPECT_FLOAT_EQ(linear_schedule_lr(1.0f, 5, 100, 0.05), 1.0f);
  EXPECT_FLOAT_EQ(linear_schedule_lr(1.0f, 50, 100, 0.05), 50.0f / 95.0f);
  EXPECT_FLOAT_EQ(linear_schedule_lr(1.0f, 100, 100, 0.05), 0.0f);
  EXPECT_FLOAT_EQ(linear_schedule_lr(1.0f, 0, 10, 0.0), 1.0f);
}

}  // namespace
}  // namespace swiftkv
