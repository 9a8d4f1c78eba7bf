#include "server/openai_logprobs.h"

#include <algorithm>

#include "tokenizer/text_utils.h"

namespace swiftkv {
namespace {

using nlohmann::json;

int64_t count_code_points(const std::string& text) {
  int64_t count = 0;
  for (unsigned char byte : text) count += (byte & 0xC0) != 0x80;
  return count;
}

}  // namespace

LogprobsFormatter::LogprobsFormatter(const Tokenizer& tokenizer, Endpoint endpoint, int top_n)
    : tokenizer_(tokenizer), endpoint_(endpoint), top_n_(top_n) {}

std::string LogprobsFormatter::token_string(int32_t token) const {
  return tok::sanitize_utf8(tokenizer_.token_bytes(token));
}

json LogprobsFormatter::format(std::span<const TokenLogprobs> tokens) {
  return endpoint_ == Endpoint::kCompletions ? completion_logprobs(tokens) : chat_logprobs(tokens);
}

// As in vLLM, each top_logprobs map also contains the sampled token, so
// `logprobs: 0` still maps the sampled token to its log-probability.
json LogprobsFormatter::completion_logprobs(std::span<const TokenLogprobs> tokens) {
  json result = {{"tokens", json::array()},
                 {"token_logprobs", json::array()},
                 {"top_logprobs", json::array()},
                 {"text_offset", json::array()}};
  for (const TokenLogprobs& entry : tokens) {
    const std::string text = token_string(entry.token);
    json top = json::object();
    for (const auto& [id, logprob] : entry.top) top[token_string(id)] = logprob;
    top[text] = entry.logprob;
    result["tokens"].push_back(text);
    result["token_logprobs"].push_back(entry.logprob);
    result["top_logprobs"].push_back(std::move(top));
    result["text_offset"].push_back(text_offset_);
    text_offset_ += count_code_points(text);
  }
  return result;
}

json LogprobsFormatter::chat_entry(int32_t token, float logprob) const {
  const std::string bytes = tokenizer_.token_bytes(token);
  json byte_values = json::array();
  for (unsigned char byte : bytes) byte_values.push_back(static_cast<int>(byte));
  return {{"token", tok::sanitize_utf8(bytes)}, {"logprob", logprob}, {"bytes", byte_values}};
}

json LogprobsFormatter::chat_logprobs(std::span<const TokenLogprobs> tokens) const {
  json content = json::array();
  for (const TokenLogprobs& entry : tokens) {
    json item = chat_entry(entry.token, entry.logprob);
    item["top_logprobs"] = json::array();
    const size_t count = std::min(entry.top.size(), static_cast<size_t>(top_n_));
    for (size_t i = 0; i < count; ++i) item["top_logprobs"].push_back(chat_entry(entry.top[i].first, entry.top[i].second));
    content.push_back(std::move(item));
  }
  return {{"content", content}};
}

void LogprobsFormatter::append(json& total, const json& chunk) {
  if (total.is_null()) {
    total = chunk;
    return;
  }
  for (auto& [key, values] : total.items()) {
    for (const json& value : chunk[key]) values.push_back(value);
  }
}

}  // namespace swiftkv
