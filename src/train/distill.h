// The distillation run of `swiftkv distill`: plan the micro-batches of every
// epoch, train, log each step, save and resume checkpoints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/checkpoint.h"
#include "train/optimizer.h"
#include "train/packing.h"
#include "train/student.h"

namespace swiftkv {

struct DistillOptions {
  std::string out_dir;
  std::string resume_dir;  // a checkpoint-N directory written by an earlier run
  int64_t max_length = 2048;
  int64_t micro_batch_size = 1;  // packs of max_length tokens per micro-batch
  int64_t gradient_accumulation_steps = 1;
  int64_t epochs = 1;
  int64_t save_every = 0;  // optimizer steps between checkpoints; 0: only the final model
  uint64_t seed = 42;
  double warmup_ratio = 0.05;
  double max_grad_norm = 1.0;
  AdamWConfig adam;
  DistillLossConfig loss;
  bool progress = true;  // one progress line per step on stderr
};

struct DistillSummary {
  int64_t steps = 0;         // optimizer steps run by this call
  int64_t total_steps = 0;   // steps of the whole run
  int64_t tokens = 0;        // tokens trained on by this call
  double seconds = 0.0;
  std::vector<double> step_losses;  // total loss of each step run by this call
  int64_t activation_bytes = 0;     // largest activation memory of a micro-batch
};

// The optimizer steps of the whole run, each a list of micro-batches.
std::vector<std::vector<PackedBatch>> plan_steps(const std::vector<TrainingSequence>& data, const DistillOptions& options);

// Trains the SwiftKV tensors of `checkpoint` on `data` and writes the final
// model to options.out_dir. With options.resume_dir, `checkpoint` must be the
// one loaded from there. Also writes checkpoint-N directories every
// save_every steps and train_log.jsonl, one JSON line per step.
DistillSummary run_distillation(const Checkpoint& checkpoint, const std::vector<TrainingSequence>& data,
                                const DistillOptions& options);

}  // namespace swiftkv
