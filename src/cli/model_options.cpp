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
  command.add_option("--weights", options.weights,
                     "Weight format of the linear layers: bf16 (fast, default), int8 (per-block scales), "
                     "or f32 (plain reference kernels)")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))
      ->capture_default_str();
  command.add_option("-t,--threads", options.threads, "CPU threads; 0 uses all cores")
      ->check(CLI::Range(0, 1 << 30));
}

WeightFormat parse_weight_format(const std::string& name) {
  if (name == "f32") return WeightFormat::kF32;
  if (name == "int8") return WeightFormat::kInt8;
  if (name == "bf16") return WeightFormat::kBF16;
  fail("weight format '%s' is not supported; use f32, bf16 or int8", name.c_str());
}

LoadedModel load_model(const ModelOptions& options) {
  if (options.threads > 0) omp_set_num_threads(options.threads);
  const auto start = std::chrono::steady_clock::now();

  LoadedModel loaded;
  loaded.checkpoint = load_checkpoint(options.model_path, options.tokenizer_path);
  const ModelConfig& config = loaded.checkpoint.config;
  const bool use_swiftkv = config.swiftkv && !options.no_swiftkv;
  loaded.model = make_model(loaded.checkpoint, use_swiftkv, parse_weight_format(options.weights));
  loaded.tokenizer = make_tokenizer(loaded.checkpoint.vocab);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  SKV_LOG_INFO("model", "loaded %s: %s, %lld layers, hidden %lld, vocab %lld, SwiftKV %s, %s weights on %s, in %.2f s",
               options.model_path.c_str(), config.model_type.c_str(),
               static_cast<long long>(config.num_hidden_layers), static_cast<long long>(config.hidden_size),
               static_cast<long long>(config.vocab_size),
               use_swiftkv ? "on" : (config.swiftkv ? "off (--no-swiftkv)" : "n/a"),
               weight_format_name(loaded.model->weight_format()), cpu_level_name(loaded.model->cpu_level()), seconds);
  return loaded;
}

}  // namespace swiftkv
