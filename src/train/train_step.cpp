#include "train/train_step.h"

#include <cmath>

#include "core/error.h"

namespace swiftkv {

StepResult train_step(DistillStudent& student, AdamW& optimizer, const std::vector<PackedBatch>& micro_batches,
                      const DistillLossConfig& loss, float lr, double max_grad_norm, int64_t step) {
  SKV_ASSERT(!micro_batches.empty());
  student.zero_grad();
  StepResult result;
  result.lr = lr;
  const float scale = 1.0f / static_cast<float>(micro_batches.size());
  for (size_t i = 0; i < micro_batches.size(); ++i) {
    const LossParts parts = student.forward_backward(micro_batches[i], loss, scale);
    if (!std::isfinite(parts.total)) {
      fail("the loss is %s at step %lld (micro-batch %zu: kl %g, mse %g); training stopped. Lower --lr, "
           "or check the data and the checkpoint for NaN or Inf values",
           std::isnan(parts.total) ? "NaN" : "infinite", static_cast<long long>(step), i, parts.kl, parts.mse);
    }
    result.loss.kl += parts.kl * scale;
    result.loss.mse += parts.mse * scale;
    result.loss.total += parts.total * scale;
    result.loss.rows += parts.rows;
  }
  result.grad_norm = clip_grad_norm(student.params(), max_grad_norm);
  if (!std::isfinite(result.grad_norm)) {
    fail("the gradient norm is not finite at step %lld; training stopped. Lower --lr, or check the data",
         static_cast<long long>(step));
  }
  optimizer.step(student.params(), lr);
  return result;
}

}  // namespace swiftkv
