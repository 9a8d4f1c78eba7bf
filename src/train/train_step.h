// One optimizer step of distillation: gradient accumulation over the
// micro-batches, clipping, AdamW.
#pragma once

#include <cstdint>
#include <vector>

#include "train/optimizer.h"
#include "train/packed_batch.h"
#include "train/student.h"

namespace swiftkv {

struct StepResult {
  LossParts loss;          // mean over the micro-batches (rows summed)
  double grad_norm = 0.0;  // before clipping
  float lr = 0.0f;
};

// Accumulates the gradients of `micro_batches` (each loss divided by their
// count), clips them to `max_grad_norm` and applies AdamW at `lr`.
// A NaN or infinite loss or gradient norm throws Error naming `step` (1-based,
// as the progress line shows it) and leaves the weights unchanged.
StepResult train_step(DistillStudent& student, AdamW& optimizer, const std::vector<PackedBatch>& micro_batches,
                      const DistillLossConfig& loss, float lr, double max_grad_norm, int64_t step);

}  // namespace swiftkv
