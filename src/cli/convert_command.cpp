// `swiftkv convert`: write any supported checkpoint as a Hugging Face
// directory, optionally turned into a SwiftKV checkpoint.
#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "model/convert.h"

namespace swiftkv {
namespace {

struct ConvertOptions {
  std::string input;
  std::string output_dir;
  std::string tokenizer_path;
  bool swiftkv = false;
  int64_t num_key_value_layers = 0;
  int64_t key_value_group_size = 1;
};

void run_convert(const ConvertOptions& options) {
  Checkpoint checkpoint = load_checkpoint(options.input, options.tokenizer_path);
  if (options.swiftkv && options.num_key_value_layers == 0) {
    fail("--swiftkv needs --num-key-value-layers K (layers 0..K-1 stay ordinary), for example half the layers");
  }
  if (options.swiftkv) {
    make_swiftkv_checkpoint(checkpoint, options.num_key_value_layers, options.key_value_group_size);
    SKV_LOG_INFO("convert", "SwiftKV: K = %lld of %lld layers, group size %lld",
                 static_cast<long long>(options.num_key_value_layers),
                 static_cast<long long>(checkpoint.config.num_hidden_layers),
                 static_cast<long long>(options.key_value_group_size));
  }
  write_hf_directory(checkpoint, options.output_dir);
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto options = std::make_shared<ConvertOptions>();
  CLI::App* command = app.add_subcommand(
      "convert", "Write a checkpoint (HF directory, .gguf, llama2.c .bin) as a Hugging Face directory");
  command->add_option("input", options->input, "Input checkpoint")->required();
  command->add_option("output_dir", options->output_dir, "Output directory (created if missing); F32, F16 and BF16 tensors keep their dtype, quantized GGUF tensors are written as float32")->required();
  command->add_option("--tokenizer", options->tokenizer_path, "llama2.c tokenizer file, for llama2.c input");
  auto* swiftkv = command->add_flag("--swiftkv", options->swiftkv,
                                    "Add SwiftKV tensors initialised from the original ones");
  command->add_option("--num-key-value-layers", options->num_key_value_layers,
                      "SwiftKV K: layers 0..K-1 stay ordinary; later layers take K/V from layer K's input")
      ->needs(swiftkv);
  command->add_option("--key-value-group-size", options->key_value_group_size,
                      "AcrossKV group size G: consecutive later layers that share one KV cache entry")
      ->capture_default_str()
      ->needs(swiftkv);
  command->callback([options]() { run_convert(*options); });
}

}  // namespace swiftkv
