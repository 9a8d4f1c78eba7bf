// The distillation pair on one checkpoint: the teacher
// (SwiftKV off, no gradients) and the student (SwiftKV on), with the
// hand-written backward pass of the student's layers >= K. The student
// starts from the teacher's h_K, since the first K layers are the same in
// both.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/model_config.h"
#include "model/weights.h"
#include "train/packed_batch.h"

namespace swiftkv {

// One trainable tensor: a view of the weight it updates and its gradient.
struct TrainableParam {
  std::string name;  // Hugging Face tensor name
  Weight* weight = nullptr;
  std::vector<float> grad;
};

struct DistillLossConfig {
  float temperature = 2.0f;       // --logits-loss-temp
  float hidden_loss_mult = 1.0f;  // --hidden-loss-mult
  bool mask_inputs = true;        // KL only on rows that predict assistant tokens
};

// Loss of one micro-batch: kl + hidden_loss_mult * mse.
struct LossParts {
  double kl = 0.0;   // temp^2 KL summed over counted rows / all rows
  double mse = 0.0;  // mean squared difference of the hidden states entering the last layer
  double total = 0.0;
  int64_t rows = 0;
};

class DistillStudent {
 public:
  // `weights` must outlive the student; its trainable tensors are the ones
  // params() points at. Throws Error when `config` is not a SwiftKV config.
  DistillStudent(const ModelConfig& config, ModelWeights& weights);

  // Trainable tensors in a fixed order: norm_swiftkv, then per layer the
  // q (and leaders' k, v) SwiftKV projections and their biases.
  std::vector<TrainableParam>& params() { return params_; }
  void zero_grad();

  // Runs teacher and student on `batch` and adds grad_scale times the
  // gradient of the micro-batch loss to every param's grad.
  LossParts forward_backward(const PackedBatch& batch, const DistillLossConfig& loss, float grad_scale);

  // Loss only, no gradients (for evaluation and tests).
  LossParts loss(const PackedBatch& batch, const DistillLossConfig& loss_config);

  // Bytes of activations kept for backward by the last forward_backward.
  int64_t activation_bytes() const { return activation_bytes_; }

 private:
  struct TeacherOutputs;
  struct StudentState;
  struct KVGrads;

  TeacherOutputs run_teacher(const PackedBatch& batch) const;
  void run_student(const PackedBatch& batch, const TeacherOutputs& teacher, StudentState& state) const;
  LossParts compute_loss(const PackedBatch& batch, const DistillLossConfig& loss, const TeacherOutputs& teacher,
                         StudentState& state, float grad_scale) const;
  void backward(const PackedBatch& batch, StudentState& state);
  void backward_mlp(int64_t layer, const PackedBatch& batch, StudentState& state, std::vector<float>& dh) const;
  void backward_attention(int64_t layer, const PackedBatch& batch, StudentState& state, KVGrads& kv_grads,
                          std::vector<float>& dh);
  void backward_swiftkv_kv(const PackedBatch& batch, StudentState& state, KVGrads& kv_grads);
  void add_param(const std::string& name, Weight& weight);
  std::vector<float>& grad_of(const Weight& weight);

  const ModelConfig& config_;
  ModelWeights& weights_;
  std::vector<float> inv_freq_;
  std::vector<TrainableParam> params_;
  int64_t activation_bytes_ = 0;
};

}  // namespace swiftkv
