// Token log-probabilities in OpenAI's JSON: the legacy completions object
// {tokens, token_logprobs, top_logprobs, text_offset} and the chat object
// {content: [{token, logprob, bytes, top_logprobs}]}.
#pragma once

#include <cstdint>
#include <span>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "server/openai_protocol.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {

// Formats the logprobs of one choice, chunk by chunk. A token's text is its
// raw bytes (Tokenizer::token_bytes), with invalid UTF-8 replaced by U+FFFD;
// the chat `bytes` field keeps the raw bytes.
class LogprobsFormatter {
 public:
  // `top_n` is the number of most likely tokens listed per position.
  LogprobsFormatter(const Tokenizer& tokenizer, Endpoint endpoint, int top_n);

  // The logprobs object for `tokens`; completions' text_offset continues
  // where the previous call ended, counted in Unicode code points.
  nlohmann::json format(std::span<const TokenLogprobs> tokens);
  // Appends the entries of `chunk` (an object from format()) to `total`,
  // which starts as null.
  static void append(nlohmann::json& total, const nlohmann::json& chunk);

 private:
  nlohmann::json completion_logprobs(std::span<const TokenLogprobs> tokens);
  nlohmann::json chat_logprobs(std::span<const TokenLogprobs> tokens) const;
  nlohmann::json chat_entry(int32_t token, float logprob) const;
  std::string token_string(int32_t token) const;

  const Tokenizer& tokenizer_;
  Endpoint endpoint_;
  int top_n_;
  int64_t text_offset_ = 0;
};

}  // namespace swiftkv
