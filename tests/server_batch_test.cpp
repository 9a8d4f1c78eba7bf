// The batch runner on stories260K: results for good lines, per-line errors
// for bad ones, and outputs equal to the server's for the same bodies.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/generator.h"
#include "engine/llm_engine.h"
#include "formats/checkpoint.h"
#include "server/batch_runner.h"
#include "test_util.h"

namespace swiftkv {
namespace {

using nlohmann::json;

struct BatchFixture {
  std::shared_ptr<const Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  std::unique_ptr<LLMEngine> engine;
  std::unique_ptr<GenerationFrontend> frontend;

  BatchFixture() {
    const Checkpoint checkpoint = load_checkpoint(testing::stories_dir() + "/stories260Ktok512.gguf");
    model = make_model(checkpoint, /*use_swiftkv=*/false);
    tokenizer = make_tokenizer(checkpoint.vocab);
    EngineConfig config;
    config.scheduler.max_num_seqs = 3;
    config.scheduler.max_num_batched_tokens = 64;
    config.context_size = 128;
    engine = std::make_unique<LLMEngine>(model, tokenizer, config);
    engine->start();
    frontend = std::make_unique<GenerationFrontend>(*engine, "stories");
  }
};

std::string greedy(const BatchFixture& fixture, const std::string& prompt, int64_t max_tokens) {
  GenerateOptions options;
  options.max_new_tokens = max_tokens;
  options.context_size = 128;
  options.sampling.temperature = 0.0f;
  const std::vector<int32_t> tokens = fixture.tokenizer->encode(prompt, /*add_special=*/true);
  return generate(*fixture.model, *fixture.tokenizer, tokens, options, nullptr).text;
}

json completion_line(const std::string& custom_id, const std::string& prompt, int max_tokens) {
  return {{"custom_id", custom_id},
          {"method", "POST"},
          {"url", "/v1/completions"},
          {"body", {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}}}};
}

// Runs `input` and returns the results by id, "batch_req_" and the line number.
std::map<std::string, json> run_lines(BatchFixture& fixture, const std::string& input, BatchProgress* progress) {
  std::istringstream in(input);
  std::ostringstream out;
  BatchOptions options;
  options.max_in_flight = 2;
  *progress = run_batch(*fixture.frontend, in, out, options);
  std::map<std::string, json> results;
  std::istringstream lines(out.str());
  std::string line;
  while (std::getline(lines, line)) {
    const json result = json::parse(line);
    results[result["id"].get<std::string>()] = result;
  }
  return results;
}

TEST(BatchRunner, ResultsAndPerLineErrors) {
  BatchFixture fixture;
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily went", "The sun was"};
  std::string input;
  for (size_t i = 0; i < prompts.size(); ++i) input += completion_line("good-" + std::to_string(i), prompts[i], 10).dump() + "\n";
  input += "\n";                           // blank lines are skipped
  input += "{not json\n";                  // line 6
  input += completion_line("good-0", "Hi", 4).dump() + "\n";  // duplicate custom_id
  json wrong_url = completion_line("wrong-url", "Hi", 4);
  wrong_url["url"] = "/v1/embeddings";
  input += wrong_url.dump() + "\n";
  json bad_body = completion_line("bad-body", "Hi", 4);
  bad_body["body"]["temperature"] = 9;
  input += bad_body.dump() + "\n";
  input += json({{"custom_id", "chat"}, {"method", "POST"}, {"url", "/v1/chat/completions"},
                 {"body", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}}}}).dump() + "\n";

  BatchProgress progress;
  const std::map<std::string, json> results = run_lines(fixture, input, &progress);
  EXPECT_EQ(progress.num_lines, 9);
  EXPECT_EQ(progress.num_finished, 9);
  EXPECT_EQ(progress.num_failed, 5);
  EXPECT_EQ(progress.generated_tokens, 40);

  for (size_t i = 0; i < prompts.size(); ++i) {
    const json& result = results.at("batch_req_" + std::to_string(i + 1));
    EXPECT_EQ(result["custom_id"], "good-" + std::to_string(i));
    EXPECT_TRUE(result["error"].is_null());
    EXPECT_EQ(result["response"]["status_code"], 200);
    const json& body = result["response"]["body"];
    EXPECT_EQ(body["object"], "text_completion");
    EXPECT_EQ(body["choices"][0]["text"], greedy(fixture, prompts[i], 10)) << prompts[i];
    EXPECT_EQ(result["response"]["request_id"], body["id"]);
  }
  EXPECT_EQ(results.at("batch_req_6")["error"]["code"], "invalid_json_line");
  EXPECT_TRUE(results.at("batch_req_6")["response"].is_null());
  EXPECT_EQ(results.at("batch_req_7")["error"]["code"], "duplicate_custom_id");
  EXPECT_EQ(results.at("batch_req_8")["error"]["code"], "invalid_url");
  EXPECT_EQ(results.at("batch_req_9")["response"]["status_code"], 400);
  EXPECT_EQ(results.at("batch_req_9")["response"]["body"]["error"]["param"], "temperature");
  // stories260K has no chat template.
  EXPECT_EQ(results.at("batch_req_10")["response"]["status_code"], 400);
}

TEST(BatchRunner, NChoicesAndLogprobs) {
  BatchFixture fixture;
  json line = completion_line("many", "Once upon a time", 6);
  line["body"]["n"] = 2;
  line["body"]["logprobs"] = 1;
  BatchProgress progress;
  const std::map<std::string, json> results = run_lines(fixture, line.dump() + "\n", &progress);
  const json& body = results.at("batch_req_1")["response"]["body"];
  ASSERT_EQ(body["choices"].size(), 2u);
  EXPECT_EQ(body["choices"][1]["index"], 1);
  EXPECT_EQ(body["choices"][0]["logprobs"]["tokens"].size(), 6u);
  EXPECT_EQ(body["usage"]["completion_tokens"], 12);
}

}  // namespace
}  // namespace swiftkv
