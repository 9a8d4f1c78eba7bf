#include "server/cortex_complete.h"

#include <set>

#include "core/error.h"

namespace swiftkv {
namespace {

using nlohmann::json;

ApiError argument_error(const std::string& param, const std::string& message) {
  return ApiError(400, message, "invalid_request_error", param);
}

ChatMessage parse_message(const json& message, size_t index) {
  const std::string field = strprintf("prompt[%zu]", index);
  if (!message.is_object()) {
    throw argument_error(field, strprintf("'%s' must be an object with 'role' and 'content' strings", field.c_str()));
  }
  for (const auto& [key, value] : message.items()) {
    if (key != "role" && key != "content") {
      throw argument_error(field, strprintf("'%s' has the unknown key '%s'; a message has only 'role' and 'content'",
                                            field.c_str(), key.c_str()));
    }
  }
  const auto role = message.find("role");
  const auto content = message.find("content");
  if (role == message.end() || !role->is_string() || content == message.end() || !content->is_string()) {
    throw argument_error(field, strprintf("'%s' must have the string keys 'role' and 'content'", field.c_str()));
  }
  const std::string name = role->get<std::string>();
  if (name != "system" && name != "user" && name != "assistant") {
    throw argument_error(field + ".role", strprintf("'%s.role' is '%s'; use 'system', 'user' or 'assistant'",
                                                    field.c_str(), name.c_str()));
  }
  return {name, content->get<std::string>()};
}

// Checks the order rules of a Cortex conversation history.
void check_history_order(const std::vector<ChatMessage>& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    const std::string previous = i == 0 ? "" : messages[i - 1].role;
    const std::string field = strprintf("prompt[%zu].role", i);
    if (role == "system" && i != 0) {
      throw argument_error(field, strprintf("'prompt[%zu]' is a system message, but only one system message is "
                                            "allowed and it must be the first message", i));
    }
    if (role == "user" && previous == "user") {
      throw argument_error(field, strprintf("'prompt[%zu]' is a user message after a user message; a user message "
                                            "follows the system message or an assistant message", i));
    }
    if (role == "assistant" && previous != "user") {
      throw argument_error(field, strprintf("'prompt[%zu]' is an assistant message that does not follow a user "
                                            "message", i));
    }
  }
  if (messages.empty() || messages.back().role != "user") {
    throw argument_error("prompt", "the history must end with a user message, which the completion answers");
  }
}

std::vector<ChatMessage> parse_history(const json& prompt) {
  if (!prompt.is_array()) {
    throw argument_error("prompt", "'prompt' must be an array of {\"role\", \"content\"} messages when 'options' "
                                   "is given; pass a string prompt without 'options'");
  }
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < prompt.size(); ++i) messages.push_back(parse_message(prompt[i], i));
  check_history_order(messages);
  return messages;
}

double option_number(const json& value, const std::string& name, double min, double max) {
  if (!value.is_number() || !(value.get<double>() >= min && value.get<double>() <= max)) {
    throw argument_error("options." + name, strprintf("option '%s' is %s; expected a number in [%g, %g]",
                                                      name.c_str(), value.dump().c_str(), min, max));
  }
  return value.get<double>();
}

void parse_options(const json& options, Request& request) {
  if (!options.is_object()) {
    throw argument_error("options", strprintf("'options' is %s; expected an object", options.dump().c_str()));
  }
  for (const auto& [name, value] : options.items()) {
    if (name == "temperature") {
      request.sampling.temperature = static_cast<float>(option_number(value, name, 0.0, 1.0));
    } else if (name == "top_p") {
      // top_p = 0 keeps only the most likely token, the limit of nucleus
      // sampling as p goes to 0; the sampler takes top_p only in (0, 1].
      const double top_p = option_number(value, name, 0.0, 1.0);
      if (top_p > 0.0) request.sampling.top_p = static_cast<float>(top_p);
      else request.sampling.top_k = 1;
    } else if (name == "max_tokens") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > INT32_MAX) {
        throw argument_error("options.max_tokens", strprintf("option 'max_tokens' is %s; expected an integer >= 1",
                                                             value.dump().c_str()));
      }
      request.max_tokens = value.get<int64_t>();
    } else if (name == "guardrails") {
      if (!value.is_boolean()) {
        throw argument_error("options.guardrails", "option 'guardrails' must be a boolean");
      }
      if (value.get<bool>()) {
        throw argument_error("options.guardrails", "option 'guardrails' = true is not supported: this server has "
                                                   "no safety filter model; remove it or pass false");
      }
    } else if (name == "response_format") {
      throw argument_error("options.response_format", "option 'response_format' is not supported: this server "
                                                      "cannot constrain the output to a JSON schema; remove it");
    } else {
      throw argument_error("options." + name, strprintf("unknown option '%s'; the options are temperature, top_p, "
                                                        "max_tokens, guardrails and response_format", name.c_str()));
    }
  }
}

}  // namespace

CompleteRequest parse_complete_request(const json& body) {
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (key != "model" && key != "prompt" && key != "options") {
      throw argument_error(key, strprintf("unknown argument '%s'; COMPLETE takes 'model', 'prompt' and 'options'",
                                          key.c_str()));
    }
  }
  const auto model = body.find("model");
  if (model == body.end() || !model->is_string()) {
    throw argument_error("model", "'model' is required and must be a string");
  }
  const auto prompt = body.find("prompt");
  if (prompt == body.end() || prompt->is_null()) throw argument_error("prompt", "'prompt' is required");

  CompleteRequest parsed;
  parsed.model = model->get<std::string>();
  GenerationRequest& generation = parsed.generation;
  generation.endpoint = Endpoint::kChatCompletions;
  generation.request.sampling.temperature = 0.0f;  // Cortex's default
  const auto options = body.find("options");
  if (options == body.end() || options->is_null()) {
    if (!prompt->is_string()) {
      throw argument_error("prompt", "'prompt' must be a string when 'options' is absent; to send a message "
                                     "history, pass it with an 'options' object (which may be {})");
    }
    generation.messages = {{"user", prompt->get<std::string>()}};
    generation.prompt_text = prompt->get<std::string>();
    return parsed;
  }
  parsed.history = true;
  generation.messages = parse_history(*prompt);
  parse_options(*options, generation.request);
  return parsed;
}

json complete_response(const CompleteRequest& request, const std::string& model, int64_t created,
                       const ChoiceResult& result) {
  if (!request.history) return result.text;
  const RequestOutput& output = result.final_output;
  return {{"choices", json::array({{{"messages", result.text}}})},
          {"created", created},
          {"model", model},
          {"usage", usage_json(output.prompt_tokens, output.completion_tokens)}};
}

}  // namespace swiftkv
