#include "cli/model_options.h"

#include <omp.h>

#include <chrono>

#include "core/error.h"
#include "core/log.h"

namespace swiftkv {

void add_model_options(CLI::App& command, ModelOptions& options) {
  command.add_option("-m,--model", options.model_path,
                     "Model to load: a Hugging Face directory, a .gguf file, or a llama2.c .bin checkpoint")
      ->required();
  command.add_option("--tokenizer", options.tokenizer_path,
                     "llama2.c tokenizer file (tokenizer.bin); required for llama2.c checkpoints only");
  command.add_flag("--no-swiftkv", options.no_swiftkv,
                   "Run a SwiftKV checkpoint as its original model (every token through every layer)");
  command.add_option("--ctx-size", options.context_size,
                     "Context size in tokens (prompt plus output); 0 uses the model's maximum")
      ->check(CLI::Range(0, 1 << 30));
  add_weights_option(command, options.weights);
  command.add_option("-t,--threads", options.threads, "CPU threads; 0 uses all cores")
      ->check(CLI::Range(0, 1 << 30));
}

void add_weights_option(CLI::App& command, std::string& weights) {
  command
      .add_option("--weights", weights,
                  "Weight format of the linear layers: auto (q4 for tensors the file stores as Q4_0 or Q4_1, "
                  "int8 for Q8_0, bf16 for the rest), bf16, int8 (a scale per 32 weights), q4 (a scale and "
                  "minimum per 32, as Q4_1) or f32 (plain reference kernels). Decode reads this format; "
                  "prompt batches run oneDNN on bf16 weights")
      ->check(CLI::IsMember({"auto", "bf16", "int8", "q4", "f32"}))
      ->capture_default_str();
}

LoadedModel load_model(const ModelOptions& options) {
  if (options.threads > 0) omp_set_num_threads(options.threads);
  const auto start = std::chrono::steady_clock::now();

  LoadedModel loaded;
  loaded.checkpoint = load_checkpoint(options.model_path, options.tokenizer_path, options.tokenizer_option);
  const ModelConfig& config = loaded.checkpoint.config;
  const bool use_swiftkv = config.swiftkv && !options.no_swiftkv;
  loaded.model = make_model(loaded.checkpoint, use_swiftkv, parse_weight_format(options.weights));
  loaded.tokenizer = make_tokenizer(loaded.checkpoint.vocab);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  SKV_LOG_INFO("model",
               "loaded %s: %s, %lld layers, hidden %lld, vocab %lld, SwiftKV %s, %s weights (%s) on %s, in %.2f s",
               options.model_path.c_str(), config.model_type.c_str(),
               static_cast<long long>(config.num_hidden_layers), static_cast<long long>(config.hidden_size),
               static_cast<long long>(config.vocab_size),
               use_swiftkv ? "on" : (config.swiftkv ? "off (--no-swiftkv)" : "n/a"),
               weight_format_name(loaded.model->weight_format()), loaded.model->layer_format_summary().c_str(),
               cpu_level_name(loaded.model->cpu_level()), seconds);
  if (loaded.model->requantized_layers() > 0) {
    SKV_LOG_WARN("model", "--weights %s re-quantizes the linear layers of '%s' that it cannot represent exactly "
                 "(%lld of them), losing precision; --weights auto keeps each layer's stored values",
                 options.weights.c_str(), options.model_path.c_str(),
                 static_cast<long long>(loaded.model->requantized_layers()));
  }
  return loaded;
}

}  // namespace swiftkv
