// `swiftkv init-random`: a Hugging Face directory with random weights for a
// given config.json, so benchmarks can run model shapes without their weights.
#include <fstream>

#include "cli/commands.h"
#include "core/error.h"
#include "engine/bench_checkpoint.h"

namespace swiftkv {
namespace {

struct InitRandomOptions {
  std::string config_path;
  std::string output_dir;
  uint64_t seed = 0;
  std::string dtype = "bf16";
};

void run_init_random(const InitRandomOptions& options) {
  std::ifstream in(options.config_path);
  if (!in) fail("cannot read config file '%s'; check the path", options.config_path.c_str());
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) fail("'%s' is not valid JSON", options.config_path.c_str());

  const ModelConfig config = parse_model_config(json, options.config_path);
  write_random_checkpoint(config, options.seed, parse_checkpoint_dtype(options.dtype), options.output_dir);
}

}  // namespace

void add_init_random_command(CLI::App& app) {
  auto options = std::make_shared<InitRandomOptions>();
  CLI::App* command = app.add_subcommand(
      "init-random", "Write a Hugging Face directory with random weights for a config.json (for benchmarks)");
  command->add_option("--config", options->config_path,
                      "config.json-style file (any supported model_type, SwiftKV ones included)")
      ->required();
  command->add_option("output_dir", options->output_dir, "Output directory (created if missing)")->required();
  command->add_option("--seed", options->seed, "Seed of the weight generator")->capture_default_str();
  command->add_option("--dtype", options->dtype, "Dtype of the written tensors: bf16 or f32")
      ->capture_default_str();
  command->callback([options]() { run_init_random(*options); });
}

}  // namespace swiftkv
