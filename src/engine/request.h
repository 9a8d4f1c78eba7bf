// A generation request as the serving engine receives it, and the output
// events it streams back while the request runs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/sampler.h"

namespace swiftkv {

using RequestId = uint64_t;

enum class FinishReason {
  kNone,    // still running
  kStop,    // end-of-sequence token, a stop token id or a stop string
  kLength,  // max_tokens reached, or the context is full
  kAbort,   // aborted by the caller or by shutdown
  kError,   // the engine failed on this request (see RequestOutput::error)
};

// The OpenAI name of `reason`: "stop", "length", "abort", "error", or "" for kNone.
const char* finish_reason_name(FinishReason reason);

// The log-probability of one sampled token under the log-softmax of the raw
// logits (before logit bias, penalties, temperature and filtering), as vLLM
// reports by default, with the most likely tokens at that position.
struct TokenLogprobs {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // most likely first, see top_logprobs()
};

// One output event of a request: what was generated since the previous event.
struct RequestOutput {
  RequestId id = 0;
  std::string text;                // new text, complete UTF-8, stop strings removed
  std::vector<int32_t> token_ids;  // new token ids, a stop token included
  std::vector<TokenLogprobs> logprobs;  // one per new token id when Request::logprobs >= 0
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  std::string stop_string;  // the stop string that ended the request, if any
  std::string error;        // message when finish_reason is kError
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;  // generated so far
  double time_to_first_token = 0.0;  // seconds from submission; 0 before the first token
  double elapsed = 0.0;              // seconds from submission to this event
};

using OutputCallback = std::function<void(const RequestOutput&)>;

// The prompt and settings of one request. Token ids must be below the
// vocabulary size, and LLMEngine::add_request checks every field.
struct Request {
  std::vector<int32_t> prompt_tokens;
  SamplingParams sampling;
  // Maximum number of generated tokens; -1 fills the rest of the context.
  int64_t max_tokens = -1;
  // End-of-sequence, stop token ids and stop strings are ignored until this
  // many tokens were generated.
  int64_t min_tokens = 0;
  std::vector<std::string> stop;         // stop strings, removed from the text
  std::vector<int32_t> stop_token_ids;   // besides the model's end-of-sequence ids
  bool ignore_eos = false;
  bool skip_special_tokens = true;       // leave special tokens out of the text
  // -1 reports no log-probabilities; k >= 0 reports the sampled token's and
  // the k most likely tokens' at every generated position.
  int logprobs = -1;
  // Receives every output event on the engine thread; it must return quickly
  // and must not call back into the engine while holding its own locks.
  OutputCallback on_output;
};

// A thread-safe queue of output events, for a consumer on another thread
// than the engine (an HTTP handler, a test).
class OutputQueue {
 public:
  void push(RequestOutput output);
  // Waits up to `timeout` for the next event; returns nullopt on timeout.
  std::optional<RequestOutput> pop(std::chrono::milliseconds timeout);
  // A callback that pushes into this queue, which must outlive the request.
  OutputCallback callback();

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<RequestOutput> events_;
};

}  // namespace swiftkv
