// AdamW, global-norm gradient clipping and the linear learning-rate schedule
// with warmup, as PyTorch's AdamW, clip_grad_norm_ and Hugging Face's
// get_linear_schedule_with_warmup compute them.
#pragma once

#include <cstdint>
#include <vector>

#include "train/student.h"

namespace swiftkv {

struct AdamWConfig {
  float lr = 2e-4f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
};

class AdamW {
 public:
  AdamW(AdamWConfig config, const std::vector<TrainableParam>& params);

  // One update of every param with learning rate `lr` from its grad.
  void step(std::vector<TrainableParam>& params, float lr);

  int64_t steps_taken() const { return step_; }
  // First and second moments per param, in params order (for checkpoints).
  std::vector<std::vector<float>>& first_moments() { return m_; }
  std::vector<std::vector<float>>& second_moments() { return v_; }
  void set_steps_taken(int64_t steps) { step_ = steps; }

 private:
  AdamWConfig config_;
  int64_t step_ = 0;
  std::vector<std::vector<float>> m_, v_;
};

// Scales all grads so their global L2 norm is at most max_norm (PyTorch adds
// 1e-6 to the norm); returns the norm before clipping.
double clip_grad_norm(std::vector<TrainableParam>& params, double max_norm);

// Learning rate of optimizer step `step` (0-based) out of `total_steps`:
// linear warmup over ceil(warmup_ratio * total_steps) steps from 0, then
// linear decay to 0 at total_steps.
float linear_schedule_lr(float base_lr, int64_t step, int64_t total_steps, double warmup_ratio);

}  // namespace swiftkv
