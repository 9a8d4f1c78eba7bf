// Loading a model checkpoint from any supported format into one form:
// a typed config, tensors under Hugging Face names and RoPE layout, and the
// tokenizer description.
#pragma once

#include <memory>
#include <string>

#include "formats/model_config.h"
#include "formats/tensor_source.h"
#include "formats/vocab_spec.h"

namespace swiftkv {

enum class CheckpointFormat { kHuggingFace, kGguf, kLlama2c };

struct Checkpoint {
  CheckpointFormat format = CheckpointFormat::kHuggingFace;
  std::string path;
  ModelConfig config;
  std::unique_ptr<TensorSource> tensors;
  VocabSpec vocab;
};

// Loads `path`: a Hugging Face directory, a .gguf file, or a llama2.c .bin
// checkpoint (which needs `tokenizer_path`, a llama2.c tokenizer file).
// Throws Error naming the file and the value for anything malformed.
// `tokenizer_option` is the command-line option that the error for a missing
// llama2.c tokenizer names.
Checkpoint load_checkpoint(const std::string& path, const std::string& tokenizer_path = "",
                           const std::string& tokenizer_option = "--tokenizer");

// Per-format loaders that load_checkpoint dispatches to.
Checkpoint load_hf_checkpoint(const std::string& directory);
Checkpoint load_gguf_checkpoint(const std::string& path);

}  // namespace swiftkv
