// The engine's running state of one request: its tokens, how many of them are
// in the KV cache, and the sampler, detokenizer and stop matcher
// that turn sampled tokens into output events.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/stop.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {

class RequestState {
 public:
  // `end_token_ids` are the ids that finish the request (end-of-sequence and
  // stop token ids); `max_tokens` is already resolved against the context.
  RequestState(RequestId id, Request request, const Tokenizer& tokenizer, std::vector<int32_t> end_token_ids,
               int64_t max_tokens);

  RequestId id() const { return id_; }
  const Request& request() const { return request_; }
  // Prompt tokens followed by the generated ones.
  const std::vector<int32_t>& tokens() const { return tokens_; }
  int64_t prompt_length() const { return static_cast<int64_t>(request_.prompt_tokens.size()); }
  int64_t num_generated() const { return static_cast<int64_t>(tokens_.size()) - prompt_length(); }

  // Tokens whose K/V are in the cache; positions [0, num_computed) are cached.
  int64_t num_computed() const { return num_computed_; }
  // Tokens still to run through the model: the rest of the prompt during
  // prefill, then the one token sampled last.
  int64_t num_uncomputed() const { return static_cast<int64_t>(tokens_.size()) - num_computed_; }
  // True while tokens other than the last sampled one wait to be computed:
  // the prompt, or after a preemption also the generated tokens.
  bool in_prefill() const { return num_computed_ < prompt_length() || num_uncomputed() > 1; }
  void mark_computed(int64_t count) { num_computed_ += count; }
  // Forgets the cached K/V, so the request is recomputed from its first token.
  void reset_computed() { num_computed_ = 0; }

  // Samples the next token from `logits` (V), appends it and returns the
  // output event for it; the event is finished when the request is.
  RequestOutput append_sampled(std::span<const float> logits);
  // Returns the final event of a request that ends without a new token
  // (aborted, failed).
  RequestOutput finish_without_token(FinishReason reason, const std::string& error = "");

  bool finished() const { return finish_reason_ != FinishReason::kNone; }
  FinishReason finish_reason() const { return finish_reason_; }
  double seconds_since_arrival() const;
  double time_to_first_token() const { return time_to_first_token_; }

 private:
  bool is_end_token(int32_t token) const;
  void mask_end_tokens(std::vector<float>& logits) const;
  RequestOutput make_output() const;

  RequestId id_;
  Request request_;
  std::vector<int32_t> end_token_ids_;
  int64_t max_tokens_;
  std::vector<int32_t> tokens_;
  int64_t num_computed_ = 0;

  Sampler sampler_;
  StreamDecoder decoder_;
  StopMatcher stop_matcher_;
  std::vector<float> masked_logits_;  // V, scratch while min_tokens holds back end tokens

  std::chrono::steady_clock::time_point arrival_;
  double time_to_first_token_ = 0.0;
  FinishReason finish_reason_ = FinishReason::kNone;
  std::string stop_string_;
};

}  // namespace swiftkv
