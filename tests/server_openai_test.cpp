// The OpenAI-compatible server, started in-process on 127.0.0.1 with a free
// port and driven with httplib's client: completions, chat, Server-Sent
// Events, the error JSON and statuses, API keys, concurrent requests,
// client disconnects and shutdown.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/generator.h"
#include "engine/llm_engine.h"
#include "formats/checkpoint.h"
#include "model/random_weights.h"
#include "server/openai_server.h"
#include "test_util.h"

namespace swiftkv {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr const char* kModelName = "stories";

struct LoadedPair {
  std::shared_ptr<const Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;
};

LoadedPair load_pair(const std::string& path) {
  const Checkpoint checkpoint = load_checkpoint(path);
  return {make_model(checkpoint, /*use_swiftkv=*/false), make_tokenizer(checkpoint.vocab)};
}

const LoadedPair& stories() {
  static const LoadedPair pair = load_pair(testing::stories_dir() + "/stories260Ktok512.gguf");
  return pair;
}

// A random model large enough that a long generation takes seconds, so a
// test can act while it runs. It uses the stories260K vocabulary.
std::shared_ptr<const Model> slow_model() {
  ModelConfig config;
  config.hidden_size = 512;
  config.intermediate_size = 1024;
  config.num_hidden_layers = 4;
  config.num_attention_heads = 8;
  config.num_key_value_heads = 4;
  config.head_dim = 64;
  config.vocab_size = 512;
  config.max_position_embeddings = 4096;
  return std::make_shared<Model>(config, random_weights(config, /*seed=*/5), /*use_swiftkv=*/false);
}

// An engine and a server on a free loopback port, serving on a thread.
class TestServer {
 public:
  TestServer(LoadedPair pair, ServerConfig config = {}, int64_t context_size = 128, int64_t max_num_seqs = 4) {
    EngineConfig engine_config;
    engine_config.scheduler.max_num_seqs = max_num_seqs;
    engine_config.scheduler.max_num_batched_tokens = 64;
    engine_config.context_size = context_size;
    engine_ = std::make_unique<LLMEngine>(pair.model, pair.tokenizer, engine_config);
    engine_->start();
    config.host = "127.0.0.1";
    config.port = 0;
    if (config.model_name.empty()) config.model_name = kModelName;
    server_ = std::make_unique<OpenAIServer>(*engine_, config);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->listen(); });
    for (int i = 0; i < 500 && !server_->is_running(); ++i) std::this_thread::sleep_for(milliseconds(10));
  }

  ~TestServer() {
    server_->shutdown(std::chrono::seconds(5));
    thread_.join();
  }

  httplib::Client client() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(120, 0);
    return client;
  }

  OpenAIServer& server() { return *server_; }
  LLMEngine& engine() { return *engine_; }

 private:
  std::unique_ptr<LLMEngine> engine_;
  std::unique_ptr<OpenAIServer> server_;
  std::thread thread_;
  int port_ = 0;
};

httplib::Result post_json(const TestServer& server, const std::string& path, const json& body,
                          const httplib::Headers& headers = {}) {
  return server.client().Post(path.c_str(), headers, body.dump(), "application/json");
}

// The "data: ..." payloads of a Server-Sent Events body, in order.
std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> payloads;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find("\n\n", start);
    if (end == std::string::npos) end = body.size();
    const std::string event = body.substr(start, end - start);
    if (event.rfind("data: ", 0) == 0) payloads.push_back(event.substr(6));
    start = end + 2;
  }
  return payloads;
}

void expect_error(const httplib::Result& result, int status, const std::string& param = "",
                  const std::string& code = "") {
  ASSERT_TRUE(result) << "no response";
  EXPECT_EQ(result->status, status) << result->body;
  const json body = json::parse(result->body);
  ASSERT_TRUE(body.contains("error")) << result->body;
  const json& error = body["error"];
  EXPECT_TRUE(error["message"].is_string());
  EXPECT_FALSE(error["message"].get<std::string>().empty());
  EXPECT_TRUE(error["type"].is_string());
  ASSERT_TRUE(error.contains("param"));
  ASSERT_TRUE(error.contains("code"));
  if (!param.empty()) {
    EXPECT_EQ(error["param"], param) << result->body;
  }
  if (!code.empty()) {
    EXPECT_EQ(error["code"], code) << result->body;
  }
}

std::string greedy_completion(const std::string& prompt, int64_t max_tokens) {
  GenerateOptions options;
  options.max_new_tokens = max_tokens;
  options.context_size = 128;
  options.sampling.temperature = 0.0f;
  const std::vector<int32_t> tokens = stories().tokenizer->encode(prompt, /*add_special=*/true);
  return generate(*stories().model, *stories().tokenizer, tokens, options, nullptr).text;
}

TEST(OpenAIServer, Completion) {
  TestServer server(stories());
  const auto result = post_json(server, "/v1/completions",
                                {{"model", kModelName}, {"prompt", "Once upon a time"}, {"max_tokens", 12},
                                 {"temperature", 0}});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  const json body = json::parse(result->body);
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["model"], kModelName);
  EXPECT_TRUE(body["id"].get<std::string>().rfind("cmpl-", 0) == 0);
  ASSERT_EQ(body["choices"].size(), 1u);
  const json& choice = body["choices"][0];
  EXPECT_EQ(choice["text"], greedy_completion("Once upon a time", 12));
  EXPECT_EQ(choice["finish_reason"], "length");
  const int64_t prompt_tokens =
      static_cast<int64_t>(stories().tokenizer->encode("Once upon a time", /*add_special=*/true).size());
  EXPECT_EQ(body["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(body["usage"]["completion_tokens"], 12);
  EXPECT_EQ(body["usage"]["total_tokens"], prompt_tokens + 12);
}

TEST(OpenAIServer, CompletionFromTokenIds) {
  TestServer server(stories());
  const std::vector<int32_t> tokens = stories().tokenizer->encode("Once upon a time", /*add_special=*/true);
  const auto result = post_json(server, "/v1/completions", {{"prompt", tokens}, {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(json::parse(result->body)["choices"][0]["text"], greedy_completion("Once upon a time", 8));
}

TEST(OpenAIServer, StopStringFinishesWithStop) {
  TestServer server(stories());
  const std::string full = greedy_completion("Once upon a time", 30);
  const std::string stop = full.substr(12, 3);
  const auto result = post_json(server, "/v1/completions",
                                {{"prompt", "Once upon a time"}, {"max_tokens", 30}, {"temperature", 0}, {"stop", stop}});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  const json choice = json::parse(result->body)["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(choice["text"], full.substr(0, full.find(stop)));
  EXPECT_EQ(choice["stop_reason"], stop);
}

TEST(OpenAIServer, StreamingCompletion) {
  TestServer server(stories());
  const auto result = post_json(server, "/v1/completions",
                                {{"prompt", "Once upon a time"}, {"max_tokens", 20}, {"temperature", 0},
                                 {"stream", true}, {"stream_options", {{"include_usage", true}}}});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->get_header_value("Content-Type"), "text/event-stream");
  const std::vector<std::string> payloads = sse_payloads(result->body);
  ASSERT_GE(payloads.size(), 3u) << result->body;
  EXPECT_EQ(payloads.back(), "[DONE]");

  std::string text;
  for (size_t i = 0; i + 2 < payloads.size(); ++i) {
    const json chunk = json::parse(payloads[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    text += chunk["choices"][0]["text"].get<std::string>();
    const bool last = i + 3 == payloads.size();
    EXPECT_EQ(chunk["choices"][0]["finish_reason"].is_null(), !last) << payloads[i];
  }
  EXPECT_EQ(text, greedy_completion("Once upon a time", 20));
  const json usage = json::parse(payloads[payloads.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 20);
}

TEST(OpenAIServer, NChoicesSeeded) {
  TestServer server(stories());
  const json request = {{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"temperature", 1.0}, {"seed", 11},
                        {"n", 3}};
  const auto result = post_json(server, "/v1/completions", request);
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  const json body = json::parse(result->body);
  ASSERT_EQ(body["choices"].size(), 3u);
  EXPECT_EQ(body["usage"]["completion_tokens"], 30);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(body["choices"][i]["index"], i);
    // Choice i is seeded with seed + i, like a single request with that seed.
    json single = request;
    single["n"] = 1;
    single["seed"] = 11 + i;
    const auto alone = post_json(server, "/v1/completions", single);
    ASSERT_TRUE(alone);
    EXPECT_EQ(json::parse(alone->body)["choices"][0]["text"], body["choices"][i]["text"]) << "choice " << i;
  }
}

TEST(OpenAIServer, NChoicesStreaming) {
  TestServer server(stories());
  const auto result = post_json(server, "/v1/completions",
                                {{"prompt", "Once upon a time"}, {"max_tokens", 12}, {"temperature", 0}, {"n", 2},
                                 {"stream", true}, {"stream_options", {{"include_usage", true}}}});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  const std::vector<std::string> payloads = sse_payloads(result->body);
  ASSERT_GE(payloads.size(), 3u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string texts[2];
  int finished = 0;
  for (size_t i = 0; i + 2 < payloads.size(); ++i) {
    const json choice = json::parse(payloads[i])["choices"][0];
    const int index = choice["index"].get<int>();
    ASSERT_TRUE(index == 0 || index == 1) << payloads[i];
    texts[index] += choice["text"].get<std::string>();
    finished += !choice["finish_reason"].is_null();
  }
  EXPECT_EQ(finished, 2);
  EXPECT_EQ(texts[0], greedy_completion("Once upon a time", 12));
  EXPECT_EQ(texts[1], texts[0]);
  EXPECT_EQ(json::parse(payloads[payloads.size() - 2])["usage"]["completion_tokens"], 24);
}

TEST(OpenAIServer, CompletionLogprobs) {
  TestServer server(stories());
  const auto result = post_json(server, "/v1/completions",
                                {{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0},
                                 {"logprobs", 2}});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  const json choice = json::parse(result->body)["choices"][0];
  const json& logprobs = choice["logprobs"];
  ASSERT_EQ(logprobs["tokens"].size(), 8u);
  std::string joined;
  int64_t offset = 0;
  for (size_t i = 0; i < 8; ++i) {
    const std::string token = logprobs["tokens"][i];
    const float logprob = logprobs["token_logprobs"][i];
    EXPECT_EQ(logprobs["text_offset"][i], offset);
    offset += static_cast<int64_t>(token.size());  // ASCII text: bytes are code points
    joined += token;
    EXPECT_LE(logprob, 0.0f);
    const json& top = logprobs["top_logprobs"][i];
    EXPECT_GE(top.size(), 2u);
    EXPECT_LE(top.size(), 3u);
    ASSERT_TRUE(top.contains(token)) << top.dump();
    // Greedy decoding samples the most likely token.
    float best = -1e30f;
    for (const auto& [text, value] : top.items()) best = std::max(best, value.get<float>());
    EXPECT_FLOAT_EQ(best, logprob);
  }
  EXPECT_EQ(joined, choice["text"]);
}

TEST(OpenAIServer, CortexComplete) {
  TestServer server(stories());
  const auto plain = post_json(server, "/v1/complete", {{"model", kModelName}, {"prompt", "Once upon a time"}});
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200) << plain->body;
  // Without options the result is the completion as a JSON string; the
  // default temperature is 0, so it is the greedy completion.
  const json text = json::parse(plain->body);
  ASSERT_TRUE(text.is_string());
  EXPECT_EQ(text.get<std::string>().substr(0, 20), greedy_completion("Once upon a time", 12).substr(0, 20));

  const json system_twice = {{{"role", "system"}, {"content", "a"}}, {{"role", "system"}, {"content", "b"}},
                             {{"role", "user"}, {"content", "c"}}};
  expect_error(post_json(server, "/v1/complete", {{"model", kModelName}, {"prompt", system_twice},
                                                  {"options", json::object()}}), 400, "prompt[1].role");
  const json system_late = {{{"role", "user"}, {"content", "a"}}, {{"role", "system"}, {"content", "b"}}};
  expect_error(post_json(server, "/v1/complete", {{"model", kModelName}, {"prompt", system_late},
                                                  {"options", json::object()}}), 400, "prompt[1].role");
  const json history = {{{"role", "user"}, {"content", "Hi"}}};
  expect_error(post_json(server, "/v1/complete", {{"model", kModelName}, {"prompt", history}}), 400, "prompt");
  expect_error(post_json(server, "/v1/complete", {{"model", kModelName}, {"prompt", history},
                                                  {"options", {{"temperature", 1.5}}}}), 400, "options.temperature");
  expect_error(post_json(server, "/v1/complete", {{"model", kModelName}, {"prompt", history},
                                                  {"options", {{"max_tokens", "8"}}}}), 400, "options.max_tokens");
  expect_error(post_json(server, "/v1/complete", {{"model", kModelName}, {"prompt", history},
                                                  {"options", {{"seed", 1}}}}), 400, "options.seed");
  expect_error(post_json(server, "/v1/complete", {{"model", kModelName}, {"prompt", history},
                                                  {"options", {{"response_format", {{"type", "json"}}}}}}),
               400, "options.response_format");
  expect_error(post_json(server, "/v1/complete", {{"model", "other"}, {"prompt", "Hi"}}), 404, "model");
  // stories260K has no chat template, so a history cannot be rendered.
  expect_error(post_json(server, "/v1/complete", {{"model", kModelName}, {"prompt", history},
                                                  {"options", json::object()}}), 400, "messages");
}

TEST(OpenAIServer, ErrorStatuses) {
  TestServer server(stories());
  auto client = server.client();
  expect_error(client.Post("/v1/completions", "{\"prompt\": ", "application/json"), 400);
  expect_error(client.Post("/v1/completions", "[1, 2]", "application/json"), 400);
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"temperature", "hot"}}), 400, "temperature");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"max_tokens", "8"}}), 400, "max_tokens");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"temperature", 3}}), 400, "temperature");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"top_p", 0}}), 400, "top_p");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 0}}), 400, "max_tokens");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"logit_bias", {{"x", 1}}}}), 400,
               "logit_bias");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"n", 0}}), 400, "n");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"n", 2}, {"best_of", 3}}), 400, "best_of");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"n", 2}, {"best_of", 1}}), 400, "best_of");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"logprobs", 21}}), 400, "logprobs");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"logprobs", true}}), 400, "logprobs");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"frobnicate", 1}}), 400, "frobnicate");
  expect_error(post_json(server, "/v1/completions", {{"max_tokens", 4}}), 400, "prompt");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 500}}), 400, "",
               "context_length_exceeded");
  expect_error(post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"logit_bias", {{"999", 1}}}}), 400);
  expect_error(post_json(server, "/v1/completions", {{"model", "gpt-4"}, {"prompt", "Hi"}}), 404, "model",
               "model_not_found");
  // stories260K has no chat template.
  expect_error(post_json(server, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}}),
               400, "messages");
  expect_error(post_json(server, "/v1/chat/completions", {{"messages", "Hi"}}), 400, "messages");
  expect_error(client.Get("/v1/nothing"), 404);
}

TEST(OpenAIServer, ApiKey) {
  ServerConfig config;
  config.api_key = "secret-key";
  TestServer server(stories(), config);
  const json body = {{"prompt", "Hi"}, {"max_tokens", 2}};
  expect_error(post_json(server, "/v1/completions", body), 401, "", "invalid_api_key");
  expect_error(post_json(server, "/v1/completions", body, {{"Authorization", "Bearer wrong-key"}}), 401, "",
               "invalid_api_key");
  expect_error(server.client().Get("/v1/models"), 401);
  const auto accepted = post_json(server, "/v1/completions", body, {{"Authorization", "Bearer secret-key"}});
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 200) << accepted->body;
  const auto health = server.client().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(OpenAIServer, ModelsHealthTokenize) {
  TestServer server(stories());
  auto client = server.client();
  const auto models = client.Get("/v1/models");
  ASSERT_TRUE(models);
  ASSERT_EQ(models->status, 200);
  const json list = json::parse(models->body);
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], kModelName);
  EXPECT_EQ(list["data"][0]["max_model_len"], 128);

  const auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  const auto tokenized = post_json(server, "/tokenize", {{"prompt", "Once upon a time"}});
  ASSERT_TRUE(tokenized);
  ASSERT_EQ(tokenized->status, 200) << tokenized->body;
  const json tokens = json::parse(tokenized->body);
  const std::vector<int32_t> expected = stories().tokenizer->encode("Once upon a time", /*add_special=*/true);
  EXPECT_EQ(tokens["tokens"].get<std::vector<int32_t>>(), expected);
  EXPECT_EQ(tokens["count"], expected.size());
  EXPECT_EQ(tokens["max_model_len"], 128);

  const auto detokenized = post_json(server, "/detokenize", {{"tokens", std::vector<int32_t>(expected.begin() + 1, expected.end())}});
  ASSERT_TRUE(detokenized);
  ASSERT_EQ(detokenized->status, 200) << detokenized->body;
  EXPECT_EQ(json::parse(detokenized->body)["prompt"], "Once upon a time");
  expect_error(post_json(server, "/detokenize", {{"tokens", {100000}}}), 400, "tokens");
  expect_error(post_json(server, "/tokenize", {{"text", "Hi"}}), 400);
}

TEST(OpenAIServer, ConcurrentRequestsMatchSingle) {
  TestServer server(stories());
  const char* prompts[] = {"Once upon a time", "The cat", "Lily and Tom went to the park", "One day",
                           "Sam had a red ball", "The sun was hot", "A little bird", "Tim and his mom"};
  std::vector<std::future<httplib::Result>> results;
  for (size_t i = 0; i < 8; ++i) {
    const json body = {{"prompt", prompts[i]}, {"max_tokens", 16}, {"temperature", 0}, {"stream", i % 2 == 1}};
    results.push_back(std::async(std::launch::async, [&server, body] {
      return post_json(server, "/v1/completions", body);
    }));
  }
  for (size_t i = 0; i < 8; ++i) {
    ASSERT_EQ(results[i].wait_for(std::chrono::seconds(120)), std::future_status::ready) << "request " << i;
    const httplib::Result result = results[i].get();
    ASSERT_TRUE(result) << "request " << i;
    ASSERT_EQ(result->status, 200) << result->body;
    std::string text;
    if (i % 2 == 1) {
      for (const std::string& payload : sse_payloads(result->body)) {
        if (payload != "[DONE]") text += json::parse(payload)["choices"][0]["text"].get<std::string>();
      }
    } else {
      text = json::parse(result->body)["choices"][0]["text"];
    }
    EXPECT_EQ(text, greedy_completion(prompts[i], 16)) << "request " << i;
  }
}

// httplib alone listens with a backlog of 5, and a burst of 32 clients saw
// connection resets, so bind() raises it.
TEST(OpenAIServer, ListenBacklogFitsABurstOfClients) {
  ServerConfig config;
  config.listen_backlog = 512;
  TestServer server(stories(), config);
  int somaxconn = 0;
  std::ifstream("/proc/sys/net/core/somaxconn") >> somaxconn;
  ASSERT_GT(somaxconn, 0) << "cannot read /proc/sys/net/core/somaxconn";
  EXPECT_EQ(server.server().listen_backlog(), std::min(512, somaxconn));
}

TEST(OpenAIServer, DisconnectAbortsStream) {
  TestServer server({slow_model(), stories().tokenizer}, {}, /*context_size=*/2048);
  httplib::Request request;
  request.method = "POST";
  request.path = "/v1/completions";
  request.set_header("Content-Type", "application/json");
  request.body = json{{"prompt", "Once upon a time"}, {"max_tokens", 2000}, {"ignore_eos", true},
                      {"stream", true}}.dump();
  int chunks = 0;
  request.content_receiver = [&chunks](const char*, size_t, uint64_t, uint64_t) {
    return ++chunks < 3;  // hang up after the third chunk
  };
  auto client = server.client();
  client.send(request);

  // The engine notices within a few tokens and frees the slot.
  for (int i = 0; i < 300 && server.engine().stats().num_unfinished > 0; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  const EngineStats stats = server.engine().stats();
  EXPECT_EQ(stats.num_unfinished, 0);
  EXPECT_EQ(stats.num_free_blocks, stats.num_blocks);
  EXPECT_LT(stats.generated_tokens, 1000);
}

TEST(OpenAIServer, ShutdownAbortsAfterDeadline) {
  TestServer server({slow_model(), stories().tokenizer}, {}, /*context_size=*/2048);
  auto pending = std::async(std::launch::async, [&server] {
    return post_json(server, "/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 2000}, {"ignore_eos", true}});
  });
  for (int i = 0; i < 300 && server.engine().stats().num_running == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  server.server().shutdown(milliseconds(200));
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  expect_error(pending.get(), 503);
  EXPECT_EQ(server.engine().stats().num_unfinished, 0);
}

TEST(OpenAIServer, ChatWithSmolLM2) {
  const std::string path = testing::smollm2_gguf();
  if (!testing::file_exists(path)) GTEST_SKIP() << "the SmolLM2 GGUF is missing; run scripts/fetch_model.sh";
  TestServer server(load_pair(path), {}, /*context_size=*/256, /*max_num_seqs=*/2);
  const json messages = {{{"role", "system"}, {"content", "You are a helpful assistant."}},
                         {{"role", "user"}, {"content", "What is the capital of France?"}}};
  const auto result = post_json(server, "/v1/chat/completions",
                                {{"messages", messages}, {"max_tokens", 12}, {"temperature", 0}});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  const json body = json::parse(result->body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  const std::string content = body["choices"][0]["message"]["content"];
  EXPECT_NE(content.find("Paris"), std::string::npos) << content;

  const auto tokenized = post_json(server, "/tokenize", {{"messages", messages}});
  ASSERT_TRUE(tokenized);
  ASSERT_EQ(tokenized->status, 200) << tokenized->body;
  EXPECT_EQ(body["usage"]["prompt_tokens"], json::parse(tokenized->body)["count"]);

  const auto streamed = post_json(server, "/v1/chat/completions",
                                  {{"messages", messages}, {"max_tokens", 12}, {"temperature", 0}, {"stream", true}});
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200) << streamed->body;
  const std::vector<std::string> payloads = sse_payloads(streamed->body);
  ASSERT_GE(payloads.size(), 3u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  const json first = json::parse(payloads[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    const json chunk = json::parse(payloads[i]);
    const json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
  }
  EXPECT_EQ(text, content);
  EXPECT_EQ(json::parse(payloads[payloads.size() - 2])["choices"][0]["finish_reason"],
            body["choices"][0]["finish_reason"]);
}

}  // namespace
}  // namespace swiftkv
