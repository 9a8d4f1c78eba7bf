#include "server/openai_protocol.h"

#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"

namespace swiftkv {
namespace {

using nlohmann::json;

// Fields every generation request may carry: OpenAI's, then vLLM's extras.
const std::set<std::string> kCommonFields = {
    "model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "n", "stop",
    "presence_penalty", "frequency_penalty", "logit_bias", "seed", "user", "logprobs",
    "top_k", "min_p", "repetition_penalty", "min_tokens", "ignore_eos", "stop_token_ids",
    "skip_special_tokens"};
const std::set<std::string> kCompletionFields = {"prompt", "echo", "best_of", "suffix"};
const std::set<std::string> kChatFields = {"messages", "max_completion_tokens", "top_logprobs",
                                           "add_generation_prompt", "response_format", "tools", "tool_choice"};

const char* json_type_name(const json& value) {
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number_integer() || value.is_number_unsigned()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  return "null";
}

ApiError type_error(const std::string& field, const char* expected, const json& value) {
  return ApiError(400, strprintf("invalid type for '%s': expected %s, but got %s", field.c_str(), expected,
                                 json_type_name(value)), "invalid_request_error", field);
}

ApiError range_error(const std::string& field, const std::string& value, const char* expected) {
  return ApiError(400, strprintf("invalid value for '%s': %s; expected %s", field.c_str(), value.c_str(), expected),
                  "invalid_request_error", field);
}

// Typed access to the fields of a JSON object. A null field counts as absent,
// as in the OpenAI API.
class FieldReader {
 public:
  explicit FieldReader(const json& body) : body_(body) {}

  const json* find(const std::string& field) const {
    auto found = body_.find(field);
    if (found == body_.end() || found->is_null()) return nullptr;
    return &*found;
  }

  std::optional<bool> boolean(const std::string& field) const {
    const json* value = find(field);
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean()) throw type_error(field, "a boolean", *value);
    return value->get<bool>();
  }

  std::optional<std::string> string(const std::string& field) const {
    const json* value = find(field);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) throw type_error(field, "a string", *value);
    return value->get<std::string>();
  }

  // A number in [min, max].
  std::optional<double> number(const std::string& field, double min, double max) const {
    const json* value = find(field);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number()) throw type_error(field, "a number", *value);
    const double number = value->get<double>();
    if (!(number >= min && number <= max)) {
      throw range_error(field, value->dump(), strprintf("a value in [%g, %g]", min, max).c_str());
    }
    return number;
  }

  // An integer in [min, max].
  std::optional<int64_t> integer(const std::string& field, int64_t min, int64_t max) const {
    const json* value = find(field);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number_integer() && !value->is_number_unsigned()) throw type_error(field, "an integer", *value);
    if (value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(max)) {
      throw range_error(field, value->dump(), strprintf("an integer in [%lld, %lld]", static_cast<long long>(min),
                                                        static_cast<long long>(max)).c_str());
    }
    const int64_t number = value->get<int64_t>();
    if (number < min || number > max) {
      throw range_error(field, value->dump(), strprintf("an integer in [%lld, %lld]", static_cast<long long>(min),
                                                        static_cast<long long>(max)).c_str());
    }
    return number;
  }

 private:
  const json& body_;
};

void reject_unknown_fields(const json& body, Endpoint endpoint) {
  const std::set<std::string>& own = endpoint == Endpoint::kCompletions ? kCompletionFields : kChatFields;
  for (const auto& [field, value] : body.items()) {
    if (kCommonFields.count(field) == 0 && own.count(field) == 0) {
      throw ApiError(400, strprintf("unrecognized request argument supplied: %s", field.c_str()),
                     "invalid_request_error", field);
    }
  }
}

ApiError unsupported(const std::string& field, const char* what) {
  return ApiError(400, strprintf("'%s' %s is not supported yet", field.c_str(), what), "invalid_request_error",
                  field);
}

// Fields this server accepts only at their default value.
void reject_unsupported_values(const FieldReader& fields, Endpoint endpoint) {
  if (fields.find("tools")) throw unsupported("tools", "(tool calling)");
  if (fields.find("tool_choice")) throw unsupported("tool_choice", "(tool calling)");
  if (endpoint == Endpoint::kCompletions) {
    if (fields.boolean("echo").value_or(false)) throw unsupported("echo", "= true");
    if (fields.string("suffix")) throw unsupported("suffix", "(insertion)");
  }
  if (const json* format = fields.find("response_format")) {
    if (!format->is_object()) throw type_error("response_format", "an object", *format);
    const auto type = format->find("type");
    if (type == format->end() || *type != "text") throw unsupported("response_format", "other than {\"type\": \"text\"}");
  }
}

// n, and best_of as vLLM's V1 engine takes it: only equal to n, because
// ranking candidates by their cumulative log-probability is not implemented.
void parse_choices(const FieldReader& fields, GenerationRequest& parsed) {
  parsed.n = static_cast<int>(fields.integer("n", 1, 128).value_or(1));
  if (parsed.endpoint != Endpoint::kCompletions) return;
  const std::optional<int64_t> best_of = fields.integer("best_of", 1, 128);
  if (!best_of) return;
  if (*best_of < parsed.n) {
    throw range_error("best_of", std::to_string(*best_of), strprintf("a value >= n = %d", parsed.n).c_str());
  }
  if (*best_of != parsed.n) {
    throw unsupported("best_of", "greater than n (ranking candidates by log-probability)");
  }
}

// Completions: `logprobs` is the number of most likely tokens per position.
// Chat: `logprobs` is a boolean and `top_logprobs` that number.
void parse_logprobs(const FieldReader& fields, GenerationRequest& parsed) {
  if (parsed.endpoint == Endpoint::kCompletions) {
    if (const json* value = fields.find("logprobs"); value != nullptr && value->is_boolean()) {
      throw type_error("logprobs", "an integer (the number of most likely tokens per position)", *value);
    }
    parsed.request.logprobs = static_cast<int>(fields.integer("logprobs", 0, kMaxLogprobs).value_or(-1));
    return;
  }
  const bool enabled = fields.boolean("logprobs").value_or(false);
  const std::optional<int64_t> top = fields.integer("top_logprobs", 0, kMaxLogprobs);
  if (top && !enabled) {
    throw ApiError(400, "'top_logprobs' requires 'logprobs' to be true; set \"logprobs\": true",
                   "invalid_request_error", "top_logprobs");
  }
  parsed.request.logprobs = enabled ? static_cast<int>(top.value_or(0)) : -1;
}

std::vector<std::string> parse_stop(const FieldReader& fields) {
  const json* stop = fields.find("stop");
  if (stop == nullptr) return {};
  if (stop->is_string()) return {stop->get<std::string>()};
  if (!stop->is_array()) throw type_error("stop", "a string or an array of strings", *stop);
  std::vector<std::string> stops;
  for (const json& item : *stop) {
    if (!item.is_string()) throw type_error("stop", "a string or an array of strings", item);
    stops.push_back(item.get<std::string>());
  }
  for (const std::string& text : stops) {
    if (text.empty()) throw range_error("stop", "\"\"", "non-empty strings");
  }
  return stops;
}

std::vector<int32_t> parse_token_ids(const json& value, const std::string& field) {
  if (!value.is_array()) throw type_error(field, "an array of token ids", value);
  std::vector<int32_t> ids;
  for (const json& item : value) {
    if (!item.is_number_integer() || item.get<int64_t>() < 0 || item.get<int64_t>() > INT32_MAX) {
      throw ApiError(400, strprintf("invalid '%s': %s is not a token id (an integer >= 0)", field.c_str(),
                                    item.dump().c_str()), "invalid_request_error", field);
    }
    ids.push_back(static_cast<int32_t>(item.get<int64_t>()));
  }
  return ids;
}

std::map<int32_t, float> parse_logit_bias(const FieldReader& fields) {
  std::map<int32_t, float> bias;
  const json* value = fields.find("logit_bias");
  if (value == nullptr) return bias;
  if (!value->is_object()) throw type_error("logit_bias", "an object mapping token ids to numbers", *value);
  for (const auto& [key, item] : value->items()) {
    char* end = nullptr;
    const long id = std::strtol(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || id < 0 || id > INT32_MAX) {
      throw range_error("logit_bias", "key \"" + key + "\"", "token ids as decimal strings");
    }
    if (!item.is_number()) throw type_error("logit_bias", "numbers as values", item);
    const double number = item.get<double>();
    if (!(number >= -100.0 && number <= 100.0)) {
      throw range_error("logit_bias", item.dump() + " for token " + key, "values in [-100, 100]");
    }
    bias[static_cast<int32_t>(id)] = static_cast<float>(number);
  }
  return bias;
}

void parse_sampling(const FieldReader& fields, GenerationRequest& parsed) {
  SamplingParams& sampling = parsed.request.sampling;
  sampling.temperature = static_cast<float>(fields.number("temperature", 0.0, 2.0).value_or(1.0));
  sampling.top_p = static_cast<float>(fields.number("top_p", 0.0, 1.0).value_or(1.0));
  if (sampling.top_p <= 0.0f) throw range_error("top_p", "0", "a value in (0, 1]");
  sampling.presence_penalty = static_cast<float>(fields.number("presence_penalty", -2.0, 2.0).value_or(0.0));
  sampling.frequency_penalty = static_cast<float>(fields.number("frequency_penalty", -2.0, 2.0).value_or(0.0));
  // vLLM uses -1 to disable top-k, and the sampler uses 0.
  sampling.top_k = static_cast<int>(std::max<int64_t>(0, fields.integer("top_k", -1, INT32_MAX).value_or(0)));
  sampling.min_p = static_cast<float>(fields.number("min_p", 0.0, 1.0).value_or(0.0));
  sampling.repetition_penalty = static_cast<float>(fields.number("repetition_penalty", 0.0, std::numeric_limits<double>::max()).value_or(1.0));
  if (sampling.repetition_penalty <= 0.0f) throw range_error("repetition_penalty", "0", "a value > 0");
  if (auto seed = fields.integer("seed", INT64_MIN, INT64_MAX)) {
    sampling.seed = static_cast<uint64_t>(*seed);
    parsed.seed_given = true;
  }
  sampling.logit_bias = parse_logit_bias(fields);
}

void parse_limits(const FieldReader& fields, GenerationRequest& parsed) {
  Request& request = parsed.request;
  std::optional<int64_t> max_tokens = fields.integer("max_tokens", 1, INT32_MAX);
  if (parsed.endpoint == Endpoint::kChatCompletions) {
    if (auto completion = fields.integer("max_completion_tokens", 1, INT32_MAX)) max_tokens = completion;
    request.max_tokens = max_tokens.value_or(-1);
  } else {
    // OpenAI's default for the legacy completions endpoint.
    request.max_tokens = max_tokens.value_or(16);
  }
  request.min_tokens = fields.integer("min_tokens", 0, INT32_MAX).value_or(0);
  if (request.max_tokens != -1 && request.min_tokens > request.max_tokens) {
    throw range_error("min_tokens", std::to_string(request.min_tokens), "a value <= max_tokens");
  }
  request.stop = parse_stop(fields);
  if (const json* ids = fields.find("stop_token_ids")) request.stop_token_ids = parse_token_ids(*ids, "stop_token_ids");
  request.ignore_eos = fields.boolean("ignore_eos").value_or(false);
  request.skip_special_tokens = fields.boolean("skip_special_tokens").value_or(true);
}

void parse_prompt(const FieldReader& fields, GenerationRequest& parsed) {
  const json* prompt = fields.find("prompt");
  if (prompt == nullptr) throw ApiError(400, "'prompt' is required", "invalid_request_error", "prompt");
  if (prompt->is_string()) {
    parsed.prompt_text = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    parsed.prompt_text = (*prompt)[0].get<std::string>();
  } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
    parsed.prompt_tokens = parse_token_ids(*prompt, "prompt");
  } else if (prompt->is_array() && !prompt->empty() && ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
    throw unsupported("prompt", "as a batch of several prompts");
  } else {
    throw type_error("prompt", "a string or an array of token ids", *prompt);
  }
}

// Message content as a string, or as an array of {"type": "text", "text"} parts.
std::string parse_content(const json& content, size_t index) {
  const std::string field = strprintf("messages[%zu].content", index);
  if (content.is_null()) return "";
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw type_error(field, "a string or an array of content parts", content);
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string()) {
      throw ApiError(400, strprintf("invalid '%s': only text parts ({\"type\": \"text\", \"text\": ...}) are supported",
                                    field.c_str()), "invalid_request_error", field);
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

void parse_messages(const FieldReader& fields, GenerationRequest& parsed) {
  const json* messages = fields.find("messages");
  if (messages == nullptr) throw ApiError(400, "'messages' is required", "invalid_request_error", "messages");
  if (!messages->is_array()) throw type_error("messages", "an array of messages", *messages);
  if (messages->empty()) throw range_error("messages", "[]", "at least one message");
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& message = (*messages)[i];
    const std::string field = strprintf("messages[%zu]", i);
    if (!message.is_object()) throw type_error(field, "an object", message);
    const auto role = message.find("role");
    if (role == message.end() || !role->is_string()) {
      throw ApiError(400, strprintf("'%s.role' is required and must be a string", field.c_str()),
                     "invalid_request_error", field + ".role");
    }
    const auto content = message.find("content");
    parsed.messages.push_back({role->get<std::string>(), content == message.end() ? "" : parse_content(*content, i)});
  }
  parsed.add_generation_prompt = fields.boolean("add_generation_prompt").value_or(true);
}

}  // namespace

ApiError::ApiError(int status, std::string message, std::string type, std::string param, std::string code)
    : std::runtime_error(std::move(message)),
      status_(status),
      type_(std::move(type)),
      param_(std::move(param)),
      code_(std::move(code)) {}

json ApiError::to_json() const {
  json error = {{"message", what()}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
  if (!param_.empty()) error["param"] = param_;
  if (!code_.empty()) error["code"] = code_;
  return {{"error", error}};
}

json parse_json_body(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& error) {
    throw ApiError(400, strprintf("the request body is not valid JSON: %s", error.what()));
  }
}

GenerationRequest parse_generation_request(const json& body, Endpoint endpoint) {
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  reject_unknown_fields(body, endpoint);
  const FieldReader fields(body);
  reject_unsupported_values(fields, endpoint);

  GenerationRequest parsed;
  parsed.endpoint = endpoint;
  parsed.model = fields.string("model").value_or("");
  parsed.stream = fields.boolean("stream").value_or(false);
  if (const json* options = fields.find("stream_options")) {
    if (!options->is_object()) throw type_error("stream_options", "an object", *options);
    parsed.include_usage = FieldReader(*options).boolean("include_usage").value_or(false);
  }
  parse_sampling(fields, parsed);
  parse_limits(fields, parsed);
  parse_choices(fields, parsed);
  parse_logprobs(fields, parsed);
  if (endpoint == Endpoint::kCompletions) {
    parse_prompt(fields, parsed);
  } else {
    parse_messages(fields, parsed);
  }
  return parsed;
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

namespace {

json response_base(const ResponseHeader& header, const char* object) {
  return {{"id", header.id}, {"object", object}, {"created", header.created}, {"model", header.model}};
}

json finish_reason_json(const std::string& reason) { return reason.empty() ? json(nullptr) : json(reason); }

}  // namespace

json choices_usage_json(const std::vector<ChoiceResult>& choices) {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  for (const ChoiceResult& choice : choices) {
    prompt_tokens = choice.final_output.prompt_tokens;
    completion_tokens += choice.final_output.completion_tokens;
  }
  return usage_json(prompt_tokens, completion_tokens);
}

json completion_response(const ResponseHeader& header, Endpoint endpoint, const std::vector<ChoiceResult>& choices) {
  json response = response_base(header, endpoint == Endpoint::kCompletions ? "text_completion" : "chat.completion");
  response["choices"] = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceResult& result = choices[i];
    const std::string reason = finish_reason_name(result.final_output.finish_reason);
    json choice = {{"index", i}, {"logprobs", result.logprobs}, {"finish_reason", finish_reason_json(reason)}};
    if (endpoint == Endpoint::kCompletions) {
      choice["text"] = result.text;
    } else {
      choice["message"] = {{"role", "assistant"}, {"content", result.text}};
    }
    // vLLM's extension: the stop string that ended the choice, else null.
    const std::string& stop = result.final_output.stop_string;
    choice["stop_reason"] = stop.empty() ? json(nullptr) : json(stop);
    response["choices"].push_back(std::move(choice));
  }
  response["usage"] = choices_usage_json(choices);
  return response;
}

json stream_chunk(const ResponseHeader& header, Endpoint endpoint, int index, const std::string& text,
                  const json& logprobs, const std::string& finish_reason, bool first_chat_chunk) {
  json choice = {{"index", index}, {"logprobs", logprobs}, {"finish_reason", finish_reason_json(finish_reason)}};
  json chunk;
  if (endpoint == Endpoint::kCompletions) {
    chunk = response_base(header, "text_completion");
    choice["text"] = text;
  } else {
    chunk = response_base(header, "chat.completion.chunk");
    json delta = json::object();
    if (first_chat_chunk) delta["role"] = "assistant";
    if (first_chat_chunk || !text.empty()) delta["content"] = text;
    choice["delta"] = delta;
  }
  chunk["choices"] = json::array({choice});
  return chunk;
}

json usage_chunk(const ResponseHeader& header, Endpoint endpoint, const json& usage) {
  json chunk = response_base(header, endpoint == Endpoint::kCompletions ? "text_completion" : "chat.completion.chunk");
  chunk["choices"] = json::array();
  chunk["usage"] = usage;
  return chunk;
}

}  // namespace swiftkv
