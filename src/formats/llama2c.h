// llama2.c checkpoints (legacy version-0 export: a header of seven int32,
// then float32 weights) and llama2.c tokenizer files.
#pragma once

#include <cstdint>
#include <string>

#include "formats/checkpoint.h"
#include "formats/vocab_spec.h"

namespace swiftkv {

// Reads a llama2.c tokenizer: int32 max_token_length, then per token a
// float32 score, an int32 byte length and the bytes. The file has no token
// count, so `vocab_size` comes from the model; the file must hold exactly
// that many tokens.
VocabSpec read_llama2c_tokenizer(const std::string& path, int64_t vocab_size);

// Loads a llama2.c .bin checkpoint with its tokenizer file. Tensors get
// Hugging Face names, and wq/wk are permuted into the rotate-half layout.
Checkpoint load_llama2c_checkpoint(const std::string& path, const std::string& tokenizer_path);

}  // namespace swiftkv
