// `swiftkv generate`: complete one prompt and stream the text to stdout.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/chat_format.h"
#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "engine/generator.h"
#include "model/flops.h"

namespace swiftkv {
namespace {

struct GenerateCommandOptions {
  ModelOptions model;
  std::string prompt;
  std::string prompt_file;
  bool chat = false;
  std::string system_prompt;
  GenerateOptions generate;
};

void add_sampling_options(CLI::App& command, GenerateOptions& options) {
  SamplingParams& sampling = options.sampling;
  sampling.temperature = 0.0f;
  add_temperature_options(command, sampling, "Sampling temperature; 0 picks the most likely token (greedy)");
  command.add_option("--repeat-penalty", sampling.repetition_penalty,
                     "Repetition penalty for tokens already in the prompt or output; 1 disables")
      ->capture_default_str();
  command.add_option("--seed", sampling.seed, "Random seed for sampling; the same seed gives the same output")
      ->capture_default_str();
  command.add_option("--stop", options.stop, "Stop string (repeatable); it is not printed");
  command.add_flag("--ignore-eos", options.ignore_eos, "Keep generating after the end-of-sequence token");
}

std::string read_prompt(const GenerateCommandOptions& options) {
  if (options.prompt_file.empty()) return options.prompt;
  std::ifstream in(options.prompt_file, std::ios::binary);
  if (!in) fail("cannot read prompt file '%s'", options.prompt_file.c_str());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void report_prefill(const LoadedModel& loaded, const GenerateResult& result) {
  const ModelConfig& config = loaded.model->config();
  const int64_t prompt = result.prompt_tokens;
  std::fprintf(stderr, "prompt: %lld tokens in %.3f s (%.1f tokens/s)\n", static_cast<long long>(prompt),
               result.prefill_seconds, static_cast<double>(prompt) / std::max(result.prefill_seconds, 1e-9));
  const int64_t generated = static_cast<int64_t>(result.output_tokens.size());
  std::fprintf(stderr, "output: %lld tokens in %.3f s (%.1f tokens/s), finish reason: %s\n",
               static_cast<long long>(generated), result.decode_seconds,
               static_cast<double>(generated) / std::max(result.decode_seconds, 1e-9), result.finish_reason.c_str());

  const FlopCount& run = result.prefill_flops;
  std::fprintf(stderr, "prefill FLOPs (%s, counted): linear %.4g, attention %.4g\n",
               loaded.model->uses_swiftkv() ? "SwiftKV on" : "SwiftKV off", run.linear, run.attention);
  if (config.swiftkv) {
    const bool other_mode = !loaded.model->uses_swiftkv();
    const FlopCount other = prefill_flops(config, other_mode, prompt);
    const FlopCount& on = other_mode ? other : run;
    const FlopCount& off = other_mode ? run : other;
    std::fprintf(stderr, "prefill FLOPs (%s, from the same shapes): linear %.4g, attention %.4g\n",
                 other_mode ? "SwiftKV on" : "SwiftKV off", other.linear, other.attention);
    std::fprintf(stderr, "SwiftKV saves %.1f%% of linear and %.1f%% of attention prefill FLOPs\n",
                 100.0 * (1.0 - on.linear / off.linear), 100.0 * (1.0 - on.attention / off.attention));
  }
  const int64_t L = config.num_hidden_layers;
  const int64_t slots = result.kv_cache_bytes_per_token / (2 * config.num_key_value_heads * config.head_dim * 4);
  std::fprintf(stderr, "KV cache: %lld bytes per token (%lld slots for %lld layers, float32)\n",
               static_cast<long long>(result.kv_cache_bytes_per_token), static_cast<long long>(slots),
               static_cast<long long>(L));
}

void run_generate(GenerateCommandOptions& options) {
  options.generate.sampling.validate();  // fail before a slow model load
  LoadedModel loaded = load_model(options.model);
  std::string prompt_text = read_prompt(options);
  std::vector<int32_t> prompt;
  if (options.chat) {
    prompt = loaded.tokenizer->encode(render_single_turn(*loaded.tokenizer, options.system_prompt, prompt_text),
                                      /*add_special=*/false);
  } else {
    prompt = loaded.tokenizer->encode(prompt_text, /*add_special=*/true);
  }
  options.generate.context_size = options.model.context_size;
  const GenerateResult result = generate(*loaded.model, *loaded.tokenizer, prompt, options.generate,
                                         [](const std::string& text) {
                                           std::fwrite(text.data(), 1, text.size(), stdout);
                                           std::fflush(stdout);
                                         });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  report_prefill(loaded, result);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateCommandOptions>();
  CLI::App* command = app.add_subcommand("generate", "Complete a prompt and stream the text to stdout");
  add_model_options(*command, options->model);
  command->add_option("-p,--prompt", options->prompt, "Prompt text (default: empty, i.e. BOS only)");
  command->add_option("-f,--file", options->prompt_file, "Read the prompt from this file")
      ->excludes("--prompt");
  command->add_option("-n,--max-new-tokens", options->generate.max_new_tokens,
                      "Maximum number of tokens to generate")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  command->add_flag("--echo", options->generate.echo, "Print the prompt before the completion");
  command->add_flag("--chat", options->chat,
                    "Format the prompt as one user message with the model's chat template");
  command->add_option("--system", options->system_prompt, "System message for --chat");
  command->add_option("--prefill-chunk", options->generate.prefill_chunk,
                      "Prompt tokens per forward pass during prefill")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 30));
  add_sampling_options(*command, options->generate);
  command->callback([options]() { run_generate(*options); });
}

}  // namespace swiftkv
