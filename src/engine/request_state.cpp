#include "engine/request_state.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace swiftkv {

RequestState::RequestState(RequestId id, Request request, const Tokenizer& tokenizer,
                           std::vector<int32_t> end_token_ids, int64_t max_tokens)
    : id_(id),
      request_(std::move(request)),
      end_token_ids_(std::move(end_token_ids)),
      max_tokens_(max_tokens),
      tokens_(request_.prompt_tokens),
      sampler_(request_.sampling),
      decoder_(tokenizer, request_.skip_special_tokens),
      stop_matcher_(request_.stop),
      arrival_(std::chrono::steady_clock::now()) {
  if (request_.logprobs < -1) {
    fail("logprobs = %d is invalid; pass -1 for none or k >= 0 for the k most likely tokens", request_.logprobs);
  }
  // The decoder receives the prompt first, so the first generated token is
  // decoded in context (SentencePiece strips its dummy-prefix space only at the start).
  for (int32_t token : request_.prompt_tokens) decoder_.push(token);
}

double RequestState::seconds_since_arrival() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - arrival_).count();
}

bool RequestState::is_end_token(int32_t token) const {
  return std::find(end_token_ids_.begin(), end_token_ids_.end(), token) != end_token_ids_.end();
}

// Bans the end tokens while fewer than min_tokens were generated, as vLLM's
// min_tokens logits processor does.
void RequestState::mask_end_tokens(std::vector<float>& logits) const {
  for (int32_t token : end_token_ids_) {
    if (static_cast<size_t>(token) < logits.size()) logits[token] = -std::numeric_limits<float>::infinity();
  }
}

RequestOutput RequestState::make_output() const {
  RequestOutput output;
  output.id = id_;
  output.finish_reason = finish_reason_;
  output.finished = finished();
  output.stop_string = stop_string_;
  output.prompt_tokens = prompt_length();
  output.completion_tokens = num_generated();
  output.time_to_first_token = time_to_first_token_;
  output.elapsed = seconds_since_arrival();
  return output;
}

RequestOutput RequestState::append_sampled(std::span<const float> logits) {
  SKV_ASSERT(!finished());
  std::span<const float> scores = logits;
  if (num_generated() < request_.min_tokens) {
    masked_logits_.assign(logits.begin(), logits.end());
    mask_end_tokens(masked_logits_);
    scores = masked_logits_;
  }
  const std::span<const int32_t> all(tokens_);
  const int32_t token = sampler_.sample(scores, all.first(static_cast<size_t>(prompt_length())),
                                        all.subspan(static_cast<size_t>(prompt_length())));
  tokens_.push_back(token);
  if (num_generated() == 1) time_to_first_token_ = seconds_since_arrival();
  const bool checks_stops = num_generated() >= request_.min_tokens;

  std::string text;
  if (is_end_token(token)) {
    finish_reason_ = FinishReason::kStop;
  } else if (!checks_stops) {
    text = decoder_.push(token);
  } else {
    const StopMatcher::Result piece = stop_matcher_.push(decoder_.push(token));
    text = piece.emit;
    if (piece.stopped) {
      finish_reason_ = FinishReason::kStop;
      stop_string_ = piece.matched;
    }
  }
  if (!finished() && num_generated() >= max_tokens_) finish_reason_ = FinishReason::kLength;

  // At the end, release the text held back for a possible stop string or an
  // incomplete UTF-8 character.
  if (finished() && stop_string_.empty()) {
    const StopMatcher::Result tail = stop_matcher_.push(decoder_.flush());
    text += tail.emit;
    if (tail.stopped) stop_string_ = tail.matched;
    text += stop_matcher_.flush();
  }

  RequestOutput output = make_output();
  output.text = std::move(text);
  output.token_ids = {token};
  if (request_.logprobs >= 0) {
    output.logprobs.push_back({token, token_logprob(logits, token), top_logprobs(logits, request_.logprobs)});
  }
  return output;
}

RequestOutput RequestState::finish_without_token(FinishReason reason, const std::string& error) {
  finish_reason_ = reason;
  RequestOutput output = make_output();
  output.error = error;
  return output;
}

}  // namespace swiftkv
