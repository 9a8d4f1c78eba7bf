// OpenAI API request parsing and response JSON for /v1/completions and
// /v1/chat/completions, with vLLM's extra sampling fields (top_k, min_p,
// repetition_penalty, min_tokens, ignore_eos, stop_token_ids,
// skip_special_tokens).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "tokenizer/chat_template.h"

namespace swiftkv {

// An error sent to the client as OpenAI's error JSON with an HTTP status.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type = "invalid_request_error", std::string param = "",
           std::string code = "");

  int status() const { return status_; }
  // {"error": {"message", "type", "param", "code"}}; empty param and code are null.
  nlohmann::json to_json() const;

 private:
  int status_;
  std::string type_;
  std::string param_;
  std::string code_;
};

enum class Endpoint { kCompletions, kChatCompletions };

// A parsed generation request of either endpoint. The server fills
// `request.prompt_tokens` from the prompt or the rendered messages.
struct GenerationRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;     // requested model name; "" when absent
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage

  // /v1/completions: the prompt as text, or as token ids.
  std::optional<std::string> prompt_text;
  std::vector<int32_t> prompt_tokens;
  // /v1/chat/completions: the conversation.
  std::vector<ChatMessage> messages;
  bool add_generation_prompt = true;

  // Sampling and stop settings; max_tokens is -1 when the chat request sets none.
  // request.logprobs is the number of most likely tokens reported per position
  // (completions: `logprobs`; chat: `top_logprobs` when `logprobs` is true), or -1.
  Request request;
  bool seed_given = false;
  // Number of choices, each an engine request of its own.
  int n = 1;
};

// The maximum of `logprobs` (completions) and `top_logprobs` (chat), vLLM's
// default max_logprobs.
inline constexpr int kMaxLogprobs = 20;

// Parses a request body. Throws ApiError (400) naming the field for unknown
// fields, wrong types, out-of-range values and features not supported yet.
GenerationRequest parse_generation_request(const nlohmann::json& body, Endpoint endpoint);

// Parses the request body text as JSON; throws ApiError (400) when it is malformed.
nlohmann::json parse_json_body(const std::string& text);

// Response and stream-chunk objects. `id` is the response id ("cmpl-…" or
// "chatcmpl-…"), `created` the Unix time of the request.
struct ResponseHeader {
  std::string id;
  std::string model;
  int64_t created = 0;
};

// The finished result of one choice.
struct ChoiceResult {
  std::string text;
  nlohmann::json logprobs;    // OpenAI's logprobs object, or null
  RequestOutput final_output;  // the finishing event: finish reason, stop string, token counts
};

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens);
// Usage of a request with several choices: the prompt counts once, the
// completion tokens of every choice add up.
nlohmann::json choices_usage_json(const std::vector<ChoiceResult>& choices);
// The whole response; choices[i] gets "index": i.
nlohmann::json completion_response(const ResponseHeader& header, Endpoint endpoint,
                                   const std::vector<ChoiceResult>& choices);
// One streamed chunk of choice `index` with `text` and `logprobs` (null for
// none); `finish_reason` is "" while running.
nlohmann::json stream_chunk(const ResponseHeader& header, Endpoint endpoint, int index, const std::string& text,
                            const nlohmann::json& logprobs, const std::string& finish_reason, bool first_chat_chunk);
// The last chunk when stream_options.include_usage is set: no choices, only usage.
nlohmann::json usage_chunk(const ResponseHeader& header, Endpoint endpoint, const nlohmann::json& usage);

}  // namespace swiftkv
