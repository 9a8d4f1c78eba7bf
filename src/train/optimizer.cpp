#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace swiftkv {

AdamW::AdamW(AdamWConfig config, const std::vector<TrainableParam>& params) : config_(config) {
  for (const TrainableParam& p : params) {
    m_.emplace_back(p.grad.size(), 0.0f);
    v_.emplace_back(p.grad.size(), 0.0f);
  }
}

void AdamW::step(std::vector<TrainableParam>& params, float lr) {
  SKV_ASSERT(params.size() == m_.size());
  ++step_;
  const double bias1 = 1.0 - std::pow(static_cast<double>(config_.beta1), static_cast<double>(step_));
  const double bias2 = 1.0 - std::pow(static_cast<double>(config_.beta2), static_cast<double>(step_));
  const float step_size = static_cast<float>(lr / bias1);
  const float bias2_sqrt = static_cast<float>(std::sqrt(bias2));
  for (size_t p = 0; p < params.size(); ++p) {
    std::vector<float>& w = params[p].weight->values;
    const std::vector<float>& g = params[p].grad;
    std::vector<float>& m = m_[p];
    std::vector<float>& v = v_[p];
    for (size_t i = 0; i < w.size(); ++i) {
      w[i] *= 1.0f - lr * config_.weight_decay;
      m[i] = config_.beta1 * m[i] + (1.0f - config_.beta1) * g[i];
      v[i] = config_.beta2 * v[i] + (1.0f - config_.beta2) * g[i] * g[i];
      w[i] -= step_size * m[i] / (std::sqrt(v[i]) / bias2_sqrt + config_.eps);
    }
  }
}

double clip_grad_norm(std::vector<TrainableParam>& params, double max_norm) {
  double sum_sq = 0.0;
  for (const TrainableParam& p : params) {
    for (float g : p.grad) sum_sq += static_cast<double>(g) * g;
  }
  const double norm = std::sqrt(sum_sq);
  const double coeff = max_norm / (norm + 1e-6);
  if (coeff < 1.0) {
    for (TrainableParam& p : params) {
      for (float& g : p.grad) g = static_cast<float>(g * coeff);
    }
  }
  return norm;
}

float linear_schedule_lr(float base_lr, int64_t step, int64_t total_steps, double warmup_ratio) {
  const auto warmup = static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
  if (step < warmup) return base_lr * static_cast<float>(step) / static_cast<float>(warmup);
  const double remaining = static_cast<double>(total_steps - step) / static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
  return base_lr * static_cast<float>(std::max(0.0, remaining));
}

}  // namespace swiftkv
