#include "engine/generator.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/log.h"
#include "engine/stop.h"

namespace swiftkv {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<int32_t> end_token_ids(const Model& model, const Tokenizer& tokenizer,
                                   const GenerateOptions& options) {
  std::vector<int32_t> ids = options.stop_token_ids;
  if (options.ignore_eos) return ids;
  for (int64_t id : model.config().eos_token_ids) ids.push_back(static_cast<int32_t>(id));
  if (tokenizer.eos_id() >= 0) ids.push_back(tokenizer.eos_id());
  return ids;
}

// Runs the prompt through the model in chunks and returns the logits of the
// last row, the only row that requests them.
std::vector<float> prefill(const Model& model, const std::vector<int32_t>& prompt, int64_t chunk,
                           KVCache& cache, FlopCount* flops) {
  std::vector<float> logits;
  const int64_t length = static_cast<int64_t>(prompt.size());
  for (int64_t start = 0; start < length; start += chunk) {
    const int64_t end = std::min(length, start + chunk);
    std::vector<BatchRow> rows;
    for (int64_t t = start; t < end; ++t) {
      rows.push_back({prompt[t], static_cast<int32_t>(t), /*seq=*/0, /*need_logits=*/t == length - 1});
    }
    logits = model.forward(rows, cache, flops);
  }
  return logits;
}

}  // namespace

int64_t resolve_context_size(const ModelConfig& config, int64_t requested) {
  if (requested < 0) {
    fail("context size %lld is invalid; pass a positive number of tokens", static_cast<long long>(requested));
  }
  if (requested == 0) return config.max_position_embeddings;
  if (requested > config.max_position_embeddings) {
    // As in llama.cpp, a longer context is allowed, but quality may drop.
    SKV_LOG_WARN("generate", "context size %lld exceeds the %lld positions the model was trained on",
                 static_cast<long long>(requested), static_cast<long long>(config.max_position_embeddings));
  }
  return requested;
}

GenerateResult generate(const Model& model, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                        const GenerateOptions& options,
                        const std::function<void(const std::string&)>& on_text) {
  if (prompt.empty()) fail("the prompt is empty after tokenization; pass a prompt or a model that adds BOS");
  if (options.max_new_tokens < 0) fail("max new tokens %lld is invalid; pass 0 or more", static_cast<long long>(options.max_new_tokens));
  if (options.prefill_chunk < 1) fail("prefill chunk %lld is invalid; pass 1 or more", static_cast<long long>(options.prefill_chunk));
  const int64_t context = resolve_context_size(model.config(), options.context_size);
  const int64_t prompt_length = static_cast<int64_t>(prompt.size());
  if (prompt_length > context) {
    fail("the prompt has %lld tokens but the context holds %lld; shorten the prompt or raise --ctx-size "
         "(the model allows up to %lld)", static_cast<long long>(prompt_length), static_cast<long long>(context),
         static_cast<long long>(model.config().max_position_embeddings));
  }

  if (prompt_length == context && options.max_new_tokens > 0) {
    fail("the prompt has %lld tokens and fills the whole context of %lld; leave room to generate by "
         "shortening the prompt or raising --ctx-size", static_cast<long long>(prompt_length),
         static_cast<long long>(context));
  }
  Sampler sampler(options.sampling);
  StopMatcher stop_matcher(options.stop);
  StreamDecoder decoder(tokenizer, /*skip_special=*/true);
  const std::vector<int32_t> end_ids = end_token_ids(model, tokenizer, options);
  KVCache cache = model.make_cache(1, std::min(context, prompt_length + options.max_new_tokens));

  GenerateResult result;
  result.prompt_tokens = prompt_length;
  result.kv_cache_bytes_per_token = cache.bytes_per_token();
  result.finish_reason = "length";

  // The decoder also receives the prompt, so the first generated token is
  // decoded in context: SentencePiece strips the dummy-prefix space only at the start.
  std::string echoed;
  for (int32_t id : prompt) echoed += decoder.push(id);
  if (options.echo && on_text) on_text(echoed);

  auto start = std::chrono::steady_clock::now();
  std::vector<float> logits = prefill(model, prompt, options.prefill_chunk, cache, &result.prefill_flops);
  result.prefill_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  const int64_t limit = std::min(options.max_new_tokens, context - prompt_length);
  for (int64_t step = 0; step < limit; ++step) {
    const int32_t token = sampler.sample(logits, prompt, result.output_tokens);
    if (std::find(end_ids.begin(), end_ids.end(), token) != end_ids.end()) {
      result.finish_reason = "stop";
      break;
    }
    result.output_tokens.push_back(token);
    const StopMatcher::Result piece = stop_matcher.push(decoder.push(token));
    result.text += piece.emit;
    if (on_text && !piece.emit.empty()) on_text(piece.emit);
    if (piece.stopped) {
      result.finish_reason = "stop";
      break;
    }
    if (step + 1 == limit) break;
    const int32_t pos = static_cast<int32_t>(prompt_length + step);
    logits = model.forward({{token, pos, /*seq=*/0, /*need_logits=*/true}}, cache);
  }
  if (!stop_matcher.stopped()) {
    const std::string tail = stop_matcher.push(decoder.flush()).emit + stop_matcher.flush();
    result.text += tail;
    if (on_text && !tail.empty()) on_text(tail);
  }
  result.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace swiftkv
