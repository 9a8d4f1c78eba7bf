// Single-sequence text generation: chunked prefill, then one decode step per
// token with sampling, stop tokens and stop strings, streaming text out.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {

struct GenerateOptions {
  int64_t max_new_tokens = 256;
  int64_t context_size = 0;         // positions in the KV cache; 0 = the model's trained maximum
  int64_t prefill_chunk = 512;      // prompt rows per forward call
  SamplingParams sampling;
  std::vector<std::string> stop;    // stop strings, removed from the output
  std::vector<int32_t> stop_token_ids;  // besides the model's EOS ids
  bool ignore_eos = false;
  bool echo = false;                // stream the decoded prompt first
};

struct GenerateResult {
  std::vector<int32_t> output_tokens;
  std::string text;                 // the completion as streamed
  std::string finish_reason;        // "stop" or "length"
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  FlopCount prefill_flops;
  int64_t kv_cache_bytes_per_token = 0;
};

// Generates a continuation of `prompt` (token ids, BOS included if wanted).
// `on_text` receives each piece of text as soon as it is complete UTF-8 and
// cannot be part of a stop string. Throws Error when the prompt does not fit
// the context.
GenerateResult generate(const Model& model, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                        const GenerateOptions& options,
                        const std::function<void(const std::string&)>& on_text);

// Context size to use: the requested one (a warning is logged above the
// model's trained maximum), or the model's maximum for 0.
int64_t resolve_context_size(const ModelConfig& config, int64_t requested);

}  // namespace swiftkv
