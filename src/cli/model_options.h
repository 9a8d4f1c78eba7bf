// Options shared by the commands that load a model, and the loading itself.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "formats/checkpoint.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {

struct ModelOptions {
  std::string model_path;
  std::string tokenizer_path;
  bool no_swiftkv = false;
  int64_t context_size = 0;
  int threads = 0;
  std::string weights = "auto";  // auto, bf16, int8, q4 or f32 (reference)
  std::string tokenizer_option = "--tokenizer";  // named in the missing-tokenizer error
};

// Registers -m/--model, --tokenizer, --no-swiftkv, --ctx-size and --threads.
void add_model_options(CLI::App& command, ModelOptions& options);

struct LoadedModel {
  Checkpoint checkpoint;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

// Adds --weights (auto, bf16, int8 or f32) bound to `weights`.
void add_weights_option(CLI::App& command, std::string& weights);

// Loads checkpoint, weights and tokenizer, logging what was loaded. SwiftKV
// is on for SwiftKV checkpoints unless --no-swiftkv was given.
LoadedModel load_model(const ModelOptions& options);

}  // namespace swiftkv
