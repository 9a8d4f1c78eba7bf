// Reading a model config and tokenizer description from GGUF metadata.
#pragma once

#include "formats/gguf.h"
#include "formats/model_config.h"
#include "formats/vocab_spec.h"

namespace swiftkv {

// Builds the config from the "{arch}.*" keys (arch = general.architecture,
// llama or qwen2) and the tensor table. Throws Error for other architectures
// and for missing or invalid keys.
ModelConfig gguf_model_config(const GgufFile& gguf);

// Builds the token table from the "tokenizer.ggml.*" keys and
// "tokenizer.chat_template".
VocabSpec gguf_vocab_spec(const GgufFile& gguf);

}  // namespace swiftkv
