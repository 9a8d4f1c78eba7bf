// POST /v1/complete: the semantics of Snowflake Cortex's
// COMPLETE(model, prompt_or_history, options) SQL function over HTTP.
//
// - {"model", "prompt": "text"} returns the completion as a JSON string.
// - {"model", "prompt": [{"role", "content"}, ...], "options": {...}}
//   returns {"choices": [{"messages": text}], "created", "model", "usage"}.
//   The history has at most one system message, and it comes first. A user
//   message follows the system message or an assistant message. An
//   assistant message follows a user message. The last message is a user
//   message. Options: temperature and top_p in [0, 1], max_tokens >= 1,
//   guardrails (only false), response_format (rejected, see below).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "server/openai_protocol.h"

namespace swiftkv {

// Cortex's default of max_tokens when the options do not set it.
inline constexpr int64_t kCortexDefaultMaxTokens = 4096;

struct CompleteRequest {
  std::string model;
  bool history = false;  // the prompt is a message history given with options
  // A chat request whose messages are the history, or the prompt string as
  // one user message. Sampling: Cortex's defaults (greedy) unless the options
  // set temperature or top_p. request.max_tokens is -1 when unset.
  GenerationRequest generation;
};

// Parses a /v1/complete body. Throws ApiError (400) naming the argument
// for a malformed history, a wrong type, an out-of-range or unknown option.
CompleteRequest parse_complete_request(const nlohmann::json& body);

// The response body: the text as a JSON string without options, else the
// Cortex object.
nlohmann::json complete_response(const CompleteRequest& request, const std::string& model, int64_t created,
                                 const ChoiceResult& result);

}  // namespace swiftkv
