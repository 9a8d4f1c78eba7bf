// `swiftkv distill`: knowledge-preserving self-distillation of a SwiftKV
// checkpoint. Its SwiftKV projections learn to reproduce the same checkpoint
// run with SwiftKV off.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "train/conversation.h"
#include "train/distill.h"

namespace swiftkv {
namespace {

struct DistillCommandOptions {
  std::string model_path;
  std::string data_path;
  std::string tokenizer_path;
  int threads = 0;
  DistillOptions run;
};

// The rows whose logits the KL loss counts: row t predicts token t + 1, so it
// counts when token t + 1 belongs to an assistant response.
std::vector<uint8_t> loss_rows(const std::vector<uint8_t>& assistant_mask) {
  std::vector<uint8_t> rows(assistant_mask.size(), 0);
  for (size_t t = 0; t + 1 < assistant_mask.size(); ++t) rows[t] = assistant_mask[t + 1];
  return rows;
}

// Tokenized conversations that can be trained on. Conversations longer than
// max_length or than the model's context (`max_positions`), or without an
// assistant token, are skipped with a warning.
std::vector<TrainingSequence> load_training_data(const std::string& path, const Tokenizer& tokenizer,
                                                 const DistillOptions& options, int64_t max_positions) {
  const ConversationFile file = read_conversations_jsonl(path);
  std::vector<TrainingSequence> data;
  int64_t too_long = 0, no_assistant = 0;
  for (size_t i = 0; i < file.conversations.size(); ++i) {
    TokenizedConversation tokenized = tokenize_conversation(tokenizer, file.conversations[i]);
    const auto length = static_cast<int64_t>(tokenized.tokens.size());
    bool has_assistant = false;
    for (uint8_t m : tokenized.assistant_mask) has_assistant = has_assistant || m != 0;
    if (length > options.max_length) {
      ++too_long;
      SKV_LOG_WARN("distill", "%s:%lld: skipped, %lld tokens is more than --max-length %lld", path.c_str(),
                   static_cast<long long>(file.line_numbers[i]), static_cast<long long>(length),
                   static_cast<long long>(options.max_length));
      continue;
    }
    if (length > max_positions) {
      ++too_long;
      SKV_LOG_WARN("distill", "%s:%lld: skipped, %lld tokens is more than the model's context of %lld positions",
                   path.c_str(), static_cast<long long>(file.line_numbers[i]), static_cast<long long>(length),
                   static_cast<long long>(max_positions));
      continue;
    }
    if (!has_assistant && options.loss.mask_inputs) {
      ++no_assistant;
      SKV_LOG_WARN("distill", "%s:%lld: skipped, the conversation has no assistant tokens to train on",
                   path.c_str(), static_cast<long long>(file.line_numbers[i]));
      continue;
    }
    data.push_back({std::move(tokenized.tokens), loss_rows(tokenized.assistant_mask)});
  }
  SKV_LOG_INFO("distill", "%zu conversations to train on from %s (%zu bad lines, %lld too long, "
               "%lld without assistant tokens skipped)",
               data.size(), path.c_str(), file.skipped.size(), static_cast<long long>(too_long),
               static_cast<long long>(no_assistant));
  if (data.empty()) {
    fail("%s has no conversation to train on; lines must be {\"messages\": [...]} with an assistant reply "
         "(see `swiftkv gen-data`) and fit --max-length",
         path.c_str());
  }
  return data;
}

void check_options(const DistillOptions& o) {
  const auto positive = [](int64_t value, const char* flag) {
    if (value < 1) fail("%s must be at least 1, got %lld", flag, static_cast<long long>(value));
  };
  positive(o.max_length, "--max-length");
  positive(o.micro_batch_size, "--micro-batch-size");
  positive(o.gradient_accumulation_steps, "--gradient-accumulation-steps");
  positive(o.epochs, "--epochs");
  if (o.save_every < 0) fail("--save-every must be 0 (final model only) or more, got %lld", static_cast<long long>(o.save_every));
  if (!(o.adam.lr > 0.0f) || !std::isfinite(o.adam.lr)) {
    fail("--lr must be a positive finite number, got %g", static_cast<double>(o.adam.lr));
  }
  if (!(o.warmup_ratio >= 0.0 && o.warmup_ratio < 1.0)) fail("--warmup-ratio must be in [0, 1), got %g", o.warmup_ratio);
  if (!(o.loss.temperature > 0.0f)) fail("--logits-loss-temp must be positive, got %g", static_cast<double>(o.loss.temperature));
  if (!(o.loss.hidden_loss_mult >= 0.0f)) {
    fail("--hidden-loss-mult must be 0 or more, got %g", static_cast<double>(o.loss.hidden_loss_mult));
  }
}

void run_distill(DistillCommandOptions& options) {
  check_options(options.run);
  if (options.threads > 0) omp_set_num_threads(options.threads);
  // A resumed run takes its weights from the checkpoint it resumes.
  const std::string source = options.run.resume_dir.empty() ? options.model_path : options.run.resume_dir;
  if (!options.run.resume_dir.empty()) {
    SKV_LOG_INFO("distill", "--resume: the weights come from %s, not from -m %s", source.c_str(),
                 options.model_path.c_str());
  }
  const Checkpoint checkpoint = load_checkpoint(source, options.tokenizer_path);
  if (!checkpoint.config.swiftkv) {
    fail("%s is not a SwiftKV checkpoint (model_type %s); create one with `swiftkv convert MODEL OUT --swiftkv "
         "--num-key-value-layers K`, then distill OUT",
         source.c_str(), checkpoint.config.model_type.c_str());
  }
  const auto tokenizer = make_tokenizer(checkpoint.vocab);
  const std::vector<TrainingSequence> data = load_training_data(options.data_path, *tokenizer, options.run, checkpoint.config.max_position_embeddings);
  const DistillSummary summary = run_distillation(checkpoint, data, options.run);
  SKV_LOG_INFO("distill", "%lld steps, %lld tokens in %.1f s (%.0f tokens/s), activations %.2f GiB; model written to %s",
               static_cast<long long>(summary.steps), static_cast<long long>(summary.tokens), summary.seconds,
               summary.tokens / std::max(1e-9, summary.seconds),
               static_cast<double>(summary.activation_bytes) / (1024.0 * 1024.0 * 1024.0), options.run.out_dir.c_str());
}

}  // namespace

void add_distill_command(CLI::App& app) {
  auto options = std::make_shared<DistillCommandOptions>();
  DistillOptions& run = options->run;
  CLI::App* command = app.add_subcommand(
      "distill", "Train the SwiftKV projections of a SwiftKV checkpoint to reproduce the original model");
  command->add_option("-m,--model", options->model_path, "SwiftKV checkpoint (from `swiftkv convert --swiftkv`)")
      ->required();
  command->add_option("--tokenizer", options->tokenizer_path,
                      "llama2.c tokenizer file (tokenizer.bin); needed only to load a llama2.c checkpoint");
  command->add_option("-d,--data", options->data_path, "JSONL conversations ({\"messages\": [...]}, e.g. from gen-data)")
      ->required();
  command->add_option("-o,--output", run.out_dir, "Output directory: final model, train_log.jsonl, checkpoint-N")
      ->required();

  command->add_option("--max-length", run.max_length, "Tokens per packed sequence; longer conversations are skipped")
      ->capture_default_str();
  command->add_option("--micro-batch-size", run.micro_batch_size, "Packed sequences per micro-batch")->capture_default_str();
  command->add_option("--gradient-accumulation-steps", run.gradient_accumulation_steps,
                      "Micro-batches per optimizer step")
      ->capture_default_str();

  command->add_option("--lr", run.adam.lr, "Peak learning rate (AdamW)")->capture_default_str();
  command->add_option("--warmup-ratio", run.warmup_ratio, "Share of the steps with linear warmup")->capture_default_str();
  command->add_option("--epochs", run.epochs, "Passes over the data")->capture_default_str();

  command->add_option("--logits-loss-temp", run.loss.temperature, "Temperature of the KL loss")->capture_default_str();
  command->add_option("--hidden-loss-mult", run.loss.hidden_loss_mult,
                      "Weight of the MSE loss on the hidden state entering the last layer")
      ->capture_default_str();
  command->add_flag("--mask-inputs,!--no-mask-inputs", run.loss.mask_inputs,
                    "KL loss only on rows that predict assistant tokens (default), or on every row");

  command->add_option("--save-every", run.save_every, "Write checkpoint-N every N optimizer steps (0: final model only)")
      ->capture_default_str();
  command->add_option("--resume", run.resume_dir, "Continue from a checkpoint-N directory of an earlier run");
  command->add_option("--seed", run.seed, "Seed of the data order")->capture_default_str();
  command->add_option("-t,--threads", options->threads, "Threads (default: all cores)");
  command->callback([options]() { run_distill(*options); });
}

}  // namespace swiftkv
