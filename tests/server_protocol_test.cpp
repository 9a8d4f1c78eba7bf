// Request parsing of the OpenAI endpoints (every sampling field reaches the
// engine request, logprobs and n limits) and the logprobs of RequestState.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/request_state.h"
#include "engine/sampler.h"
#include "formats/checkpoint.h"
#include "server/cortex_complete.h"
#include "server/openai_protocol.h"
#include "test_util.h"

namespace swiftkv {
namespace {

using nlohmann::json;

int status_of(const json& body, Endpoint endpoint) {
  try {
    parse_generation_request(body, endpoint);
  } catch (const ApiError& error) {
    return error.status();
  }
  return 200;
}

TEST(OpenAIProtocol, EverySamplingFieldReachesRequest) {
  const json body = {{"prompt", "Hi"}, {"temperature", 0.5}, {"top_p", 0.9}, {"top_k", 7}, {"min_p", 0.1},
                     {"presence_penalty", 0.25}, {"frequency_penalty", -0.5}, {"repetition_penalty", 1.2},
                     {"seed", 42}, {"stop", {"x", "yz"}}, {"stop_token_ids", {5, 6}}, {"max_tokens", 9},
                     {"min_tokens", 2}, {"ignore_eos", true}, {"logit_bias", {{"3", -100}, {"4", 2.5}}},
                     {"n", 3}, {"logprobs", 4}, {"skip_special_tokens", false}};
  const GenerationRequest parsed = parse_generation_request(body, Endpoint::kCompletions);
  const Request& request = parsed.request;
  EXPECT_FLOAT_EQ(request.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(request.sampling.top_p, 0.9f);
  EXPECT_EQ(request.sampling.top_k, 7);
  EXPECT_FLOAT_EQ(request.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(request.sampling.presence_penalty, 0.25f);
  EXPECT_FLOAT_EQ(request.sampling.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(request.sampling.repetition_penalty, 1.2f);
  EXPECT_EQ(request.sampling.seed, 42u);
  EXPECT_TRUE(parsed.seed_given);
  EXPECT_EQ(request.stop, (std::vector<std::string>{"x", "yz"}));
  EXPECT_EQ(request.stop_token_ids, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(request.max_tokens, 9);
  EXPECT_EQ(request.min_tokens, 2);
  EXPECT_TRUE(request.ignore_eos);
  EXPECT_FALSE(request.skip_special_tokens);
  EXPECT_EQ(request.sampling.logit_bias.size(), 2u);
  EXPECT_FLOAT_EQ(request.sampling.logit_bias.at(3), -100.0f);
  EXPECT_FLOAT_EQ(request.sampling.logit_bias.at(4), 2.5f);
  EXPECT_EQ(parsed.n, 3);
  EXPECT_EQ(request.logprobs, 4);
}

TEST(OpenAIProtocol, LogprobsFieldsPerEndpoint) {
  const json messages = {{{"role", "user"}, {"content", "Hi"}}};
  EXPECT_EQ(parse_generation_request({{"prompt", "Hi"}}, Endpoint::kCompletions).request.logprobs, -1);
  EXPECT_EQ(parse_generation_request({{"prompt", "Hi"}, {"logprobs", 0}}, Endpoint::kCompletions).request.logprobs, 0);
  EXPECT_EQ(status_of({{"prompt", "Hi"}, {"logprobs", 21}}, Endpoint::kCompletions), 400);
  EXPECT_EQ(status_of({{"prompt", "Hi"}, {"logprobs", -1}}, Endpoint::kCompletions), 400);
  EXPECT_EQ(status_of({{"prompt", "Hi"}, {"logprobs", true}}, Endpoint::kCompletions), 400);

  EXPECT_EQ(parse_generation_request({{"messages", messages}, {"logprobs", true}}, Endpoint::kChatCompletions)
                .request.logprobs, 0);
  EXPECT_EQ(parse_generation_request({{"messages", messages}, {"logprobs", true}, {"top_logprobs", 20}},
                                     Endpoint::kChatCompletions).request.logprobs, 20);
  EXPECT_EQ(parse_generation_request({{"messages", messages}, {"logprobs", false}}, Endpoint::kChatCompletions)
                .request.logprobs, -1);
  EXPECT_EQ(status_of({{"messages", messages}, {"top_logprobs", 2}}, Endpoint::kChatCompletions), 400);
  EXPECT_EQ(status_of({{"messages", messages}, {"logprobs", true}, {"top_logprobs", 21}}, Endpoint::kChatCompletions),
            400);
  EXPECT_EQ(status_of({{"messages", messages}, {"logprobs", 3}}, Endpoint::kChatCompletions), 400);
}

TEST(OpenAIProtocol, NAndBestOf) {
  EXPECT_EQ(parse_generation_request({{"prompt", "Hi"}}, Endpoint::kCompletions).n, 1);
  EXPECT_EQ(parse_generation_request({{"prompt", "Hi"}, {"n", 4}, {"best_of", 4}}, Endpoint::kCompletions).n, 4);
  EXPECT_EQ(status_of({{"prompt", "Hi"}, {"n", 0}}, Endpoint::kCompletions), 400);
  EXPECT_EQ(status_of({{"prompt", "Hi"}, {"n", 129}}, Endpoint::kCompletions), 400);
  EXPECT_EQ(status_of({{"prompt", "Hi"}, {"n", 2}, {"best_of", 1}}, Endpoint::kCompletions), 400);
  EXPECT_EQ(status_of({{"prompt", "Hi"}, {"n", 2}, {"best_of", 3}}, Endpoint::kCompletions), 400);
  EXPECT_EQ(status_of({{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"best_of", 2}},
                      Endpoint::kChatCompletions), 400);
}

TEST(CortexComplete, ParsesStringAndHistory) {
  const CompleteRequest plain = parse_complete_request({{"model", "m"}, {"prompt", "Hello"}});
  EXPECT_FALSE(plain.history);
  EXPECT_EQ(plain.generation.messages.size(), 1u);
  EXPECT_EQ(plain.generation.messages[0].role, "user");
  EXPECT_FLOAT_EQ(plain.generation.request.sampling.temperature, 0.0f);

  const json history = {{{"role", "system"}, {"content", "s"}}, {{"role", "user"}, {"content", "u"}},
                        {{"role", "assistant"}, {"content", "a"}}, {{"role", "user"}, {"content", "u2"}}};
  const CompleteRequest chat = parse_complete_request(
      {{"model", "m"}, {"prompt", history}, {"options", {{"temperature", 0.7}, {"top_p", 0}, {"max_tokens", 5}}}});
  EXPECT_TRUE(chat.history);
  EXPECT_EQ(chat.generation.messages.size(), 4u);
  EXPECT_FLOAT_EQ(chat.generation.request.sampling.temperature, 0.7f);
  EXPECT_EQ(chat.generation.request.sampling.top_k, 1);  // top_p = 0 keeps only the most likely token
  EXPECT_EQ(chat.generation.request.max_tokens, 5);

  ChoiceResult result;
  result.text = "answer";
  result.final_output.prompt_tokens = 7;
  result.final_output.completion_tokens = 2;
  EXPECT_EQ(complete_response(plain, "m", 123, result), json("answer"));
  const json object = complete_response(chat, "m", 123, result);
  EXPECT_EQ(object["choices"][0]["messages"], "answer");
  EXPECT_EQ(object["created"], 123);
  EXPECT_EQ(object["model"], "m");
  EXPECT_EQ(object["usage"]["total_tokens"], 9);
}

TEST(CortexComplete, RejectsInvalidArguments) {
  const auto param_of = [](const json& body) -> std::string {
    try {
      parse_complete_request(body);
    } catch (const ApiError& error) {
      return error.to_json()["error"]["param"].is_null() ? "" : error.to_json()["error"]["param"].get<std::string>();
    }
    return "accepted";
  };
  const json user = {{"role", "user"}, {"content", "u"}};
  const json system = {{"role", "system"}, {"content", "s"}};
  const json assistant = {{"role", "assistant"}, {"content", "a"}};
  EXPECT_EQ(param_of({{"prompt", "x"}}), "model");
  EXPECT_EQ(param_of({{"model", "m"}}), "prompt");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", "x"}, {"extra", 1}}), "extra");

  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", json::array({user})}}), "prompt");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", "x"}, {"options", json::object()}}), "prompt");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", {system, system, user}}, {"options", json::object()}}),
            "prompt[1].role");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", {user, system}}, {"options", json::object()}}), "prompt[1].role");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", {assistant, user}}, {"options", json::object()}}), "prompt[0].role");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", {user, user}}, {"options", json::object()}}), "prompt[1].role");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", {user, assistant}}, {"options", json::object()}}), "prompt");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", {{{"role", "tool"}, {"content", "t"}}}}, {"options", json::object()}}),
            "prompt[0].role");

  const json ok = {user};
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", ok}, {"options", {{"temperature", -0.1}}}}), "options.temperature");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", ok}, {"options", {{"top_p", "high"}}}}), "options.top_p");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", ok}, {"options", {{"max_tokens", 0}}}}), "options.max_tokens");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", ok}, {"options", {{"guardrails", true}}}}), "options.guardrails");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", ok}, {"options", {{"response_format", json::object()}}}}),
            "options.response_format");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", ok}, {"options", {{"temprature", 1}}}}), "options.temprature");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", ok}, {"options", 3}}), "options");
  EXPECT_EQ(param_of({{"model", "m"}, {"prompt", ok}, {"options", {{"guardrails", false}, {"max_tokens", 3}}}}),
            "accepted");
}

TEST(RequestState, ReportsRawLogprobs) {
  const Checkpoint checkpoint = load_checkpoint(testing::stories_dir() + "/stories260Ktok512.gguf");
  const std::unique_ptr<Tokenizer> tokenizer = make_tokenizer(checkpoint.vocab);
  std::vector<float> logits(512);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i)) * 3.0f;
  Request request;
  request.prompt_tokens = {1, 100};
  request.sampling.temperature = 0.0f;
  request.sampling.logit_bias = {{7, 50.0f}};  // changes the sampled token, not the reported logprobs
  request.logprobs = 3;
  RequestState state(1, request, *tokenizer, {}, /*max_tokens=*/4);
  const RequestOutput output = state.append_sampled(logits);
  ASSERT_EQ(output.logprobs.size(), 1u);
  EXPECT_EQ(output.logprobs[0].token, 7);
  EXPECT_FLOAT_EQ(output.logprobs[0].logprob, token_logprob(logits, 7));
  ASSERT_EQ(output.logprobs[0].top.size(), 3u);
  EXPECT_EQ(output.logprobs[0].top, top_logprobs(logits, 3));

  request.logprobs = -1;
  RequestState quiet(2, request, *tokenizer, {}, 4);
  EXPECT_TRUE(quiet.append_sampled(logits).logprobs.empty());
  request.logprobs = -2;
  EXPECT_THROW(RequestState(3, request, *tokenizer, {}, 4), Error);
}

}  // namespace
}  // namespace swiftkv
