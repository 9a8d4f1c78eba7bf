#include "train/distill.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/log.h"
#include "model/weights.h"
#include "train/train_checkpoint.h"
#include "train/train_step.h"

namespace swiftkv {

std::vector<std::vector<PackedBatch>> plan_steps(const std::vector<TrainingSequence>& data,
                                                 const DistillOptions& options) {
  std::vector<std::vector<PackedBatch>> steps;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    const std::vector<size_t> order = shuffled_order(data.size(), options.seed + static_cast<uint64_t>(epoch));
    std::vector<PackedBatch> micro = pack_epoch(data, order, options.max_length, options.micro_batch_size);
    for (size_t i = 0; i < micro.size(); ++i) {
      if (i % static_cast<size_t>(options.gradient_accumulation_steps) == 0) steps.emplace_back();
      steps.back().push_back(std::move(micro[i]));
    }
  }
  return steps;
}

namespace {

// The settings a resumed run must share with the run that wrote the checkpoint.
nlohmann::json run_identity(const std::vector<TrainingSequence>& data, const DistillOptions& options,
                            int64_t total_steps) {
  int64_t tokens = 0;
  for (const TrainingSequence& s : data) tokens += static_cast<int64_t>(s.tokens.size());
  return {{"num_sequences", data.size()},
          {"num_tokens", tokens},
          {"max_length", options.max_length},
          {"micro_batch_size", options.micro_batch_size},
          {"gradient_accumulation_steps", options.gradient_accumulation_steps},
          {"epochs", options.epochs},
          {"seed", options.seed},
          {"total_steps", total_steps},
          {"lr", options.adam.lr},
          {"warmup_ratio", options.warmup_ratio},
          {"max_grad_norm", options.max_grad_norm},
          {"logits_loss_temp", options.loss.temperature},
          {"hidden_loss_mult", options.loss.hidden_loss_mult},
          {"mask_inputs", options.loss.mask_inputs}};
}

void check_resume_identity(const nlohmann::json& saved, const nlohmann::json& current, const std::string& dir) {
  for (const auto& [key, value] : current.items()) {
    if (!saved.contains(key) || saved[key] != value) {
      fail("--resume %s: the checkpoint was written with %s = %s, this run has %s; resume with the same data "
           "and options",
           dir.c_str(), key.c_str(), saved.contains(key) ? saved[key].dump().c_str() : "(missing)",
           value.dump().c_str());
    }
  }
}

// Opens the step log for appending after `start` completed steps: lines of
// later steps, left by an earlier run into the same directory, are dropped so
// that every step appears once.
std::ofstream open_step_log(const std::string& path, int64_t start) {
  std::vector<std::string> kept;
  if (start > 0) {
    std::ifstream old(path);
    std::string line;
    while (std::getline(old, line)) {
      const nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
      if (!entry.is_discarded() && entry.value("step", int64_t{0}) <= start) kept.push_back(line);
    }
  }
  std::ofstream log(path, std::ios::trunc);
  if (!log) fail("cannot write '%s'; check the permissions of the output directory", path.c_str());
  for (const std::string& line : kept) log << line << "\n";
  return log;
}

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  if (s >= 3600) return strprintf("%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s % 3600 / 60));
  return strprintf("%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
}

int64_t tokens_of(const std::vector<PackedBatch>& micro_batches) {
  int64_t tokens = 0;
  for (const PackedBatch& b : micro_batches) tokens += b.rows();
  return tokens;
}

}  // namespace

DistillSummary run_distillation(const Checkpoint& checkpoint, const std::vector<TrainingSequence>& data,
                                const DistillOptions& options) {
  if (data.empty()) fail("no training sequences: the data file has no usable conversation");
  ModelWeights weights = load_weights(checkpoint.config, *checkpoint.tensors);
  DistillStudent student(checkpoint.config, weights);
  AdamW optimizer(options.adam, student.params());
  const auto steps = plan_steps(data, options);
  const auto total_steps = static_cast<int64_t>(steps.size());
  const nlohmann::json identity = run_identity(data, options, total_steps);
  if (linear_schedule_lr(options.adam.lr, total_steps - 1, total_steps, options.warmup_ratio) == 0.0f) {
    SKV_LOG_WARN("distill", "the run has %lld optimizer step(s), all inside the learning-rate warmup, so the weights "
                 "will not change; use more data, fewer --gradient-accumulation-steps or a smaller --warmup-ratio",
                 static_cast<long long>(total_steps));
  }
  int64_t start = 0;
  if (!options.resume_dir.empty()) {
    const nlohmann::json saved = load_training_state(options.resume_dir, student.params(), optimizer);
    check_resume_identity(saved, identity, options.resume_dir);
    start = saved.at("step").get<int64_t>();
    if (start < 0 || start > total_steps) {
      fail("--resume %s: trainer_state.json has step %lld, outside 0..%lld; resume from an unedited checkpoint-N "
           "directory",
           options.resume_dir.c_str(), static_cast<long long>(start), static_cast<long long>(total_steps));
    }
    SKV_LOG_INFO("distill", "resuming from %s at step %lld of %lld", options.resume_dir.c_str(),
                 static_cast<long long>(start), static_cast<long long>(total_steps));
  }
  std::error_code error;
  std::filesystem::create_directories(options.out_dir, error);
  if (error) fail("cannot create the output directory '%s': %s", options.out_dir.c_str(), error.message().c_str());
  std::ofstream log = open_step_log(options.out_dir + "/train_log.jsonl", start);

  DistillSummary summary;
  summary.total_steps = total_steps;
  const auto begin = std::chrono::steady_clock::now();
  for (int64_t step = start; step < total_steps; ++step) {
    const float lr = linear_schedule_lr(options.adam.lr, step, total_steps, options.warmup_ratio);
    const StepResult result = train_step(student, optimizer, steps[static_cast<size_t>(step)], options.loss, lr,
                                         options.max_grad_norm, step + 1);
    summary.activation_bytes = std::max(summary.activation_bytes, student.activation_bytes());
    ++summary.steps;
    summary.tokens += tokens_of(steps[static_cast<size_t>(step)]);
    summary.step_losses.push_back(result.loss.total);
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    const double tokens_per_s = summary.tokens / std::max(1e-9, summary.seconds);
    const double eta = summary.seconds / summary.steps * static_cast<double>(total_steps - step - 1);
    log << nlohmann::json{{"step", step + 1},           {"loss", result.loss.total},  {"kl", result.loss.kl},
                          {"mse", result.loss.mse},     {"lr", result.lr},            {"grad_norm", result.grad_norm},
                          {"tokens", result.loss.rows}, {"tokens_per_s", tokens_per_s},
                          {"elapsed_s", summary.seconds}}
                  .dump()
        << "\n"
        << std::flush;
    if (options.progress) {
      std::fprintf(stderr, "step %lld/%lld | loss %.4f (kl %.4f, mse %.4f) | lr %.2e | %.0f tok/s | ETA %s\n",
                   static_cast<long long>(step + 1), static_cast<long long>(total_steps), result.loss.total,
                   result.loss.kl, result.loss.mse, static_cast<double>(result.lr), tokens_per_s,
                   format_duration(eta).c_str());
    }
    const bool last = step + 1 == total_steps;
    if (options.save_every > 0 && ((step + 1) % options.save_every == 0 || last)) {
      const std::string dir = strprintf("%s/checkpoint-%lld", options.out_dir.c_str(), static_cast<long long>(step + 1));
      save_trained_model(checkpoint, student.params(), dir);
      nlohmann::json state = identity;
      state["step"] = step + 1;
      save_training_state(dir, student.params(), optimizer, state);
    }
  }
  save_trained_model(checkpoint, student.params(), options.out_dir);
  return summary;
}

}  // namespace swiftkv
