// The serving engine: continuous batching and chunked prefill must not change
// greedy outputs, aborts and finished requests free their KV cache blocks,
// waiting requests run once running ones finish, preempted requests and
// prefix-cache hits give the same output as a request alone, and invalid
// requests are rejected.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "engine/generator.h"
#include "engine/llm_engine.h"
#include "formats/checkpoint.h"
#include "model/convert.h"
#include "model/model.h"
#include "model/random_weights.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {
namespace {

using std::chrono::milliseconds;

constexpr auto kTimeout = std::chrono::seconds(120);

std::string stories_gguf() { return testing::stories_dir() + "/stories260Ktok512.gguf"; }

std::shared_ptr<const Tokenizer> stories_tokenizer() {
  static const std::shared_ptr<const Tokenizer> tokenizer = make_tokenizer(load_checkpoint(stories_gguf()).vocab);
  return tokenizer;
}

// The stories260K model, or its SwiftKV conversion with K = 1 and AcrossKV
// groups of 2 (5 layers: 1 ordinary, then 2 groups).
std::shared_ptr<const Model> stories_model(bool swiftkv) {
  Checkpoint checkpoint = load_checkpoint(stories_gguf());
  if (swiftkv) make_swiftkv_checkpoint(checkpoint, /*num_kv_layers=*/1, /*group_size=*/2);
  return make_model(checkpoint, swiftkv);
}

// A random Llama with the stories260K vocabulary size, so the stories
// tokenizer decodes its output.
std::shared_ptr<const Model> random_model(WeightFormat format = WeightFormat::kF32) {
  ModelConfig config;
  config.hidden_size = 32;
  config.intermediate_size = 64;
  config.num_hidden_layers = 3;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.head_dim = 8;
  config.vocab_size = 512;
  config.max_position_embeddings = 256;
  config.rms_norm_eps = 1e-5f;
  return std::make_shared<Model>(config, random_weights(config, /*seed=*/3), /*use_swiftkv=*/false, format);
}

std::vector<int32_t> random_prompt(int64_t length, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::vector<int32_t> tokens(static_cast<size_t>(length));
  for (auto& token : tokens) token = static_cast<int32_t>(3 + engine() % 500);  // skips BOS/EOS ids 1 and 2
  return tokens;
}

Request greedy_request(std::vector<int32_t> prompt, int64_t max_tokens) {
  Request request;
  request.prompt_tokens = std::move(prompt);
  request.sampling.temperature = 0.0f;
  request.max_tokens = max_tokens;
  request.ignore_eos = true;
  return request;
}

struct Finished {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish_reason = FinishReason::kNone;
  int64_t completion_tokens = 0;
  int num_events = 0;
};

// Collects the output events of several requests until each finished.
class Collector {
 public:
  OutputCallback callback() {
    return [this](const RequestOutput& output) { queue_.push(output); };
  }

  // Waits until `count` requests finished; fails the test on timeout.
  std::map<RequestId, Finished> wait(size_t count) {
    std::map<RequestId, Finished> results;
    size_t finished = 0;
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (finished < count) {
      std::optional<RequestOutput> output = queue_.pop(milliseconds(100));
      if (!output) {
        if (std::chrono::steady_clock::now() > deadline) {
          ADD_FAILURE() << "timed out with " << finished << " of " << count << " requests finished";
          break;
        }
        continue;
      }
      Finished& result = results[output->id];
      result.tokens.insert(result.tokens.end(), output->token_ids.begin(), output->token_ids.end());
      result.text += output->text;
      result.num_events += 1;
      result.completion_tokens = output->completion_tokens;
      if (output->finished) {
        result.finish_reason = output->finish_reason;
        finished += 1;
      }
    }
    return results;
  }

 private:
  OutputQueue queue_;
};

EngineConfig engine_config(int64_t max_num_seqs, int64_t max_num_batched_tokens, int64_t context_size) {
  EngineConfig config;
  config.scheduler.max_num_seqs = max_num_seqs;
  config.scheduler.max_num_batched_tokens = max_num_batched_tokens;
  config.context_size = context_size;
  // Room for every sequence's whole context, so these tests never preempt.
  config.cache.num_blocks = max_num_seqs * (context_size / config.cache.block_size + 1);
  return config;
}

// Runs each request alone in a fresh engine with `config`.
std::vector<Finished> run_alone(std::shared_ptr<const Model> model, const std::vector<Request>& requests,
                                const EngineConfig& config) {
  std::vector<Finished> results;
  for (Request request : requests) {
    LLMEngine engine(model, stories_tokenizer(), config);
    Collector collector;
    request.on_output = collector.callback();
    const RequestId id = engine.add_request(std::move(request));
    engine.start();
    results.push_back(collector.wait(1)[id]);
  }
  return results;
}

// Adds all requests to `engine` before starting it, so they share steps, and
// returns their results in request order.
std::vector<Finished> run_in(LLMEngine& engine, const std::vector<Request>& requests) {
  Collector collector;
  std::vector<RequestId> ids;
  for (Request request : requests) {
    request.on_output = collector.callback();
    ids.push_back(engine.add_request(std::move(request)));
  }
  engine.start();
  std::map<RequestId, Finished> finished = collector.wait(requests.size());
  std::vector<Finished> results;
  for (RequestId id : ids) results.push_back(finished[id]);
  return results;
}

// Runs all requests in one new engine and checks that it frees every block.
std::vector<Finished> run_together(std::shared_ptr<const Model> model, const std::vector<Request>& requests,
                                   const EngineConfig& config) {
  LLMEngine engine(model, stories_tokenizer(), config);
  std::vector<Finished> results = run_in(engine, requests);
  const EngineStats stats = engine.stats();
  EXPECT_EQ(stats.num_free_blocks, stats.num_blocks);
  return results;
}

// One request next to three others with different prompt lengths.
std::vector<Request> mixed_requests() {
  return {greedy_request(random_prompt(7, 1), 12), greedy_request(random_prompt(31, 2), 5),
          greedy_request(random_prompt(2, 3), 20), greedy_request(random_prompt(60, 4), 9)};
}

void expect_same_tokens(const std::vector<Finished>& actual, const std::vector<Finished>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].tokens, expected[i].tokens) << "request " << i;
    EXPECT_EQ(actual[i].text, expected[i].text) << "request " << i;
    EXPECT_EQ(actual[i].finish_reason, expected[i].finish_reason) << "request " << i;
  }
}

TEST(LLMEngine, BatchedGreedyEqualsSingle) {
  const auto model = random_model();
  const std::vector<Request> requests = mixed_requests();
  const std::vector<Finished> alone = run_alone(model, requests, engine_config(8, 512, 128));
  const std::vector<Finished> together = run_together(model, requests, engine_config(8, 512, 128));
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(static_cast<int64_t>(alone[i].tokens.size()), requests[i].max_tokens) << "request " << i;
    EXPECT_EQ(alone[i].finish_reason, FinishReason::kLength) << "request " << i;
  }
  expect_same_tokens(together, alone);
}

// The fast kernels must give every row the same result whatever else is in
// the batch, or temperature-0 outputs would depend on the server's load.
TEST(LLMEngine, BatchedGreedyEqualsSingleFastKernels) {
  for (WeightFormat format : {WeightFormat::kBF16, WeightFormat::kInt8}) {
    SCOPED_TRACE(weight_format_name(format));
    const auto model = random_model(format);
    const std::vector<Request> requests = mixed_requests();
    expect_same_tokens(run_together(model, requests, engine_config(8, 512, 128)),
                       run_alone(model, requests, engine_config(8, 512, 128)));
    expect_same_tokens(run_together(model, requests, engine_config(4, 5, 128)),
                       run_alone(model, requests, engine_config(8, 512, 128)));
  }
}

TEST(LLMEngine, ChunkedPrefillEqualsUnchunked) {
  const auto model = random_model();
  const std::vector<Request> requests = mixed_requests();
  const std::vector<Finished> whole = run_alone(model, requests, engine_config(4, 512, 128));
  // A budget of 5 tokens splits every prompt but the shortest into chunks,
  // and mixes decode rows with prefill chunks of the other requests.
  const std::vector<Finished> chunked = run_together(model, requests, engine_config(4, 5, 128));
  expect_same_tokens(chunked, whole);
}

TEST(LLMEngine, WaitingRequestsRunWhenSeqsFree) {
  const auto model = random_model();
  std::vector<Request> requests = mixed_requests();
  requests.push_back(greedy_request(random_prompt(15, 5), 3));
  const std::vector<Finished> alone = run_alone(model, requests, engine_config(1, 512, 128));
  // At most two running requests for five: three wait in the queue at first.
  const std::vector<Finished> together = run_together(model, requests, engine_config(2, 16, 128));
  expect_same_tokens(together, alone);
}

TEST(LLMEngine, StreamsOneEventPerToken) {
  LLMEngine engine(random_model(), stories_tokenizer(), engine_config(2, 64, 128));
  Collector collector;
  Request request = greedy_request(random_prompt(5, 9), 6);
  request.on_output = collector.callback();
  const RequestId id = engine.add_request(std::move(request));
  engine.start();
  const Finished result = collector.wait(1)[id];
  EXPECT_EQ(result.num_events, 6);
  EXPECT_EQ(result.completion_tokens, 6);
}

TEST(LLMEngine, AbortFreesBlocks) {
  LLMEngine engine(random_model(), stories_tokenizer(), engine_config(1, 64, 256));
  OutputQueue first_events;
  Request first = greedy_request(random_prompt(4, 6), 240);
  first.on_output = first_events.callback();
  const RequestId first_id = engine.add_request(std::move(first));
  engine.start();
  ASSERT_TRUE(first_events.pop(kTimeout).has_value());  // running and holding blocks
  EXPECT_LT(engine.stats().num_free_blocks, engine.stats().num_blocks);

  engine.abort(first_id);
  std::optional<RequestOutput> last;
  while (auto output = first_events.pop(kTimeout)) {
    if (output->finished) {
      last = output;
      break;
    }
  }
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->finish_reason, FinishReason::kAbort);
  EXPECT_LT(last->completion_tokens, 240);

  // The next request runs to the end and frees its blocks too.
  Collector collector;
  Request second = greedy_request(random_prompt(4, 7), 3);
  second.on_output = collector.callback();
  const RequestId second_id = engine.add_request(std::move(second));
  EXPECT_EQ(collector.wait(1)[second_id].finish_reason, FinishReason::kLength);
  EXPECT_EQ(engine.stats().num_free_blocks, engine.stats().num_blocks);
  EXPECT_EQ(engine.stats().num_unfinished, 0);
}

TEST(LLMEngine, AbortWhileWaiting) {
  LLMEngine engine(random_model(), stories_tokenizer(), engine_config(1, 64, 128));
  Collector collector;
  Request running = greedy_request(random_prompt(4, 1), 20);
  running.on_output = collector.callback();
  Request waiting = greedy_request(random_prompt(4, 2), 20);
  waiting.on_output = collector.callback();
  const RequestId running_id = engine.add_request(std::move(running));
  const RequestId waiting_id = engine.add_request(std::move(waiting));
  engine.abort(waiting_id);
  engine.start();
  std::map<RequestId, Finished> results = collector.wait(2);
  EXPECT_EQ(results[waiting_id].finish_reason, FinishReason::kAbort);
  EXPECT_TRUE(results[waiting_id].tokens.empty());
  EXPECT_EQ(results[running_id].finish_reason, FinishReason::kLength);
}

TEST(LLMEngine, RejectsInvalidRequests) {
  LLMEngine engine(random_model(), stories_tokenizer(), engine_config(2, 64, 100));
  EXPECT_THROW(engine.add_request(greedy_request(random_prompt(90, 1), 11)), ContextLengthError);
  EXPECT_THROW(engine.add_request(greedy_request(random_prompt(100, 1), -1)), ContextLengthError);
  EXPECT_NO_THROW(engine.add_request(greedy_request(random_prompt(90, 1), 10)));
  EXPECT_THROW(engine.add_request(greedy_request({}, 5)), Error);
  EXPECT_THROW(engine.add_request(greedy_request({5, 512}, 5)), Error);
  EXPECT_THROW(engine.add_request(greedy_request({5}, 0)), Error);

  Request bad_sampling = greedy_request({5}, 5);
  bad_sampling.sampling.top_p = 0.0f;
  EXPECT_THROW(engine.add_request(bad_sampling), Error);
  Request bad_bias = greedy_request({5}, 5);
  bad_bias.sampling.logit_bias[512] = 1.0f;
  EXPECT_THROW(engine.add_request(bad_bias), Error);
  Request bad_min = greedy_request({5}, 5);
  bad_min.min_tokens = 6;
  EXPECT_THROW(engine.add_request(bad_min), Error);
  Request empty_stop = greedy_request({5}, 5);
  empty_stop.stop = {""};
  EXPECT_THROW(engine.add_request(empty_stop), Error);
}

TEST(LLMEngine, ShutdownAbortsAfterDeadline) {
  LLMEngine engine(random_model(), stories_tokenizer(), engine_config(2, 64, 256));
  Collector collector;
  Request request = greedy_request(random_prompt(4, 1), 250);
  request.on_output = collector.callback();
  const RequestId id = engine.add_request(std::move(request));
  engine.start();
  engine.shutdown(milliseconds(0));
  EXPECT_EQ(collector.wait(1)[id].finish_reason, FinishReason::kAbort);
  EXPECT_THROW(engine.add_request(greedy_request({5}, 5)), EngineUnavailableError);
}

TEST(LLMEngine, ShutdownFinishesInFlight) {
  LLMEngine engine(random_model(), stories_tokenizer(), engine_config(2, 64, 128));
  Collector collector;
  Request request = greedy_request(random_prompt(4, 1), 10);
  request.on_output = collector.callback();
  const RequestId id = engine.add_request(std::move(request));
  engine.start();
  engine.shutdown(std::chrono::seconds(60));
  EXPECT_EQ(collector.wait(1)[id].finish_reason, FinishReason::kLength);
}

// stories260K prompts that differ in length.
std::vector<Request> stories_requests() {
  const auto tokenizer = stories_tokenizer();
  std::vector<Request> requests;
  const char* prompts[] = {"Once upon a time", "Lily and Tom went to the park and saw a big dog",
                           "The cat", "One day, a little girl named Sue wanted to play with her friends outside"};
  const int64_t lengths[] = {30, 12, 25, 18};
  for (size_t i = 0; i < 4; ++i) {
    requests.push_back(greedy_request(tokenizer->encode(prompts[i], /*add_special=*/true), lengths[i]));
    requests.back().ignore_eos = false;
  }
  return requests;
}

TEST(LLMEngine, Stories260KBatchedEqualsGenerate) {
  const auto model = stories_model(/*swiftkv=*/false);
  const std::vector<Request> requests = stories_requests();
  const std::vector<Finished> together = run_together(model, requests, engine_config(4, 512, 128));
  for (size_t i = 0; i < requests.size(); ++i) {
    // The single-sequence generator is the reference.
    GenerateOptions options;
    options.max_new_tokens = requests[i].max_tokens;
    options.context_size = 128;
    options.sampling.temperature = 0.0f;
    const GenerateResult expected =
        generate(*model, *stories_tokenizer(), requests[i].prompt_tokens, options, nullptr);
    EXPECT_EQ(together[i].text, expected.text) << "request " << i;
    EXPECT_EQ(finish_reason_name(together[i].finish_reason), expected.finish_reason) << "request " << i;
    EXPECT_FALSE(together[i].text.empty()) << "request " << i;
  }
}

TEST(LLMEngine, Stories260KChunkedEqualsWhole) {
  const auto model = stories_model(/*swiftkv=*/false);
  const std::vector<Request> requests = stories_requests();
  expect_same_tokens(run_together(model, requests, engine_config(4, 4, 128)),
                     run_alone(model, requests, engine_config(4, 512, 128)));
}

TEST(LLMEngine, SwiftKVBatchedAndChunkedEqualSingle) {
  const auto model = stories_model(/*swiftkv=*/true);
  ASSERT_TRUE(model->uses_swiftkv());
  const std::vector<Request> requests = stories_requests();
  const std::vector<Finished> alone = run_alone(model, requests, engine_config(4, 512, 128));
  expect_same_tokens(run_together(model, requests, engine_config(4, 512, 128)), alone);
  expect_same_tokens(run_together(model, requests, engine_config(4, 6, 128)), alone);
}

TEST(LLMEngine, StopStringEndsAndIsRemoved) {
  const auto model = stories_model(/*swiftkv=*/false);
  Request request = stories_requests()[0];
  const Finished full = run_alone(model, {request}, engine_config(1, 64, 128))[0];
  ASSERT_GT(full.text.size(), 20u);
  // A stop string from the middle of the greedy output.
  const std::string stop = full.text.substr(10, 4);
  const size_t cut = full.text.find(stop);
  request.stop = {stop};
  const Finished stopped = run_alone(model, {request}, engine_config(1, 64, 128))[0];
  EXPECT_EQ(stopped.finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped.text, full.text.substr(0, cut));
}

TEST(LLMEngine, StopTokenAndMinTokens) {
  const auto model = random_model();
  Request request = greedy_request(random_prompt(6, 8), 30);
  const Finished full = run_alone(model, {request}, engine_config(1, 64, 128))[0];
  ASSERT_EQ(full.tokens.size(), 30u);
  // The first token that has not appeared before index 3 ends the request there.
  size_t index = 3;
  while (std::find(full.tokens.begin(), full.tokens.begin() + index, full.tokens[index]) !=
         full.tokens.begin() + index) {
    ++index;
  }
  request.stop_token_ids = {full.tokens[index]};
  const Finished stopped = run_alone(model, {request}, engine_config(1, 64, 128))[0];
  EXPECT_EQ(stopped.finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped.tokens, std::vector<int32_t>(full.tokens.begin(), full.tokens.begin() + index + 1));

  // With min_tokens the stop token is banned until that many tokens exist.
  request.min_tokens = static_cast<int64_t>(index) + 5;
  const Finished longer = run_alone(model, {request}, engine_config(1, 64, 128))[0];
  ASSERT_GE(static_cast<int64_t>(longer.tokens.size()), request.min_tokens);
  for (int64_t i = 0; i < request.min_tokens; ++i) EXPECT_NE(longer.tokens[i], full.tokens[index]) << i;
}

// A cache too small for the four stories requests at once (each needs up to
// 9 blocks of 4 positions, the pool has 12), so requests are preempted and
// recomputed.
EngineConfig small_cache_config() {
  EngineConfig config = engine_config(4, 16, 128);
  config.cache.block_size = 4;
  config.cache.num_blocks = 12;
  return config;
}

TEST(LLMEngine, PreemptionEqualsSingleRequest) {
  for (bool swiftkv : {false, true}) {
    SCOPED_TRACE(swiftkv ? "SwiftKV" : "original");
    const auto model = stories_model(swiftkv);
    const std::vector<Request> requests = stories_requests();
    const std::vector<Finished> alone = run_alone(model, requests, engine_config(1, 512, 128));

    LLMEngine engine(model, stories_tokenizer(), small_cache_config());
    expect_same_tokens(run_in(engine, requests), alone);

    const EngineStats stats = engine.stats();
    EXPECT_GT(stats.num_preemptions, 0);
    EXPECT_EQ(stats.num_free_blocks, stats.num_blocks);
    const std::string metrics = engine.metrics().render_prometheus("m");
    EXPECT_NE(metrics.find("vllm:num_preemptions_total{model_name=\"m\"} " + std::to_string(stats.num_preemptions)),
              std::string::npos)
        << metrics;
  }
}

// Runs `first` to the end, then `second`, in one engine; returns the
// second's output and the prompt rows it computed.
std::pair<Finished, int64_t> run_after(LLMEngine& engine, Request first, Request second) {
  Collector collector;
  first.on_output = collector.callback();
  second.on_output = collector.callback();
  engine.start();
  const RequestId first_id = engine.add_request(std::move(first));
  collector.wait(1);
  EXPECT_EQ(engine.stats().num_unfinished, 0);
  const int64_t computed_before = engine.stats().prompt_tokens_computed;
  const RequestId second_id = engine.add_request(std::move(second));
  std::map<RequestId, Finished> results = collector.wait(1);
  EXPECT_EQ(results.count(first_id), 0u);
  return {results[second_id], engine.stats().prompt_tokens_computed - computed_before};
}

TEST(LLMEngine, PrefixHitEqualsMissAndSkipsRows) {
  const auto tokenizer = stories_tokenizer();
  const std::vector<int32_t> shared =
      tokenizer->encode("Once upon a time, there was a little girl named Lily. She loved to play outside",
                        /*add_special=*/true);
  std::vector<int32_t> longer = shared;
  for (int32_t token : tokenizer->encode(" Zebra quantum xylophone", /*add_special=*/false)) longer.push_back(token);
  const int64_t block_size = 4;
  const int64_t expected_hit = static_cast<int64_t>(shared.size()) / block_size * block_size;
  ASSERT_GT(expected_hit, 8);

  for (bool swiftkv : {false, true}) {
    SCOPED_TRACE(swiftkv ? "SwiftKV" : "original");
    const auto model = stories_model(swiftkv);
    EngineConfig config = engine_config(2, 512, 128);
    config.cache.block_size = block_size;
    const Finished miss = run_alone(model, {greedy_request(longer, 12)}, config)[0];

    LLMEngine engine(model, tokenizer, config);
    const auto [hit, computed] = run_after(engine, greedy_request(shared, 5), greedy_request(longer, 12));
    EXPECT_EQ(hit.tokens, miss.tokens);
    EXPECT_EQ(hit.text, miss.text);
    EXPECT_EQ(computed, static_cast<int64_t>(longer.size()) - expected_hit);
    EXPECT_EQ(engine.stats().prefix_cache_hits, expected_hit);
    const std::string metrics = engine.metrics().render_prometheus("m");
    EXPECT_NE(metrics.find("vllm:prefix_cache_hits_total{model_name=\"m\"} " + std::to_string(expected_hit)),
              std::string::npos)
        << metrics;
    EXPECT_EQ(engine.stats().prefix_cache_queries, static_cast<int64_t>(shared.size() + longer.size()));

    // With prefix caching off every prompt row is computed.
    config.cache.enable_prefix_caching = false;
    LLMEngine uncached(model, tokenizer, config);
    const auto [recomputed, all_rows] = run_after(uncached, greedy_request(shared, 5), greedy_request(longer, 12));
    EXPECT_EQ(recomputed.tokens, miss.tokens);
    EXPECT_EQ(all_rows, static_cast<int64_t>(longer.size()));
    EXPECT_EQ(uncached.stats().prefix_cache_hits, 0);
  }
}

TEST(LLMEngine, RejectsRequestLargerThanCache) {
  EngineConfig config = engine_config(2, 64, 128);
  config.cache.num_blocks = 4;  // 64 positions of 16
  LLMEngine engine(random_model(), stories_tokenizer(), config);
  // 50 prompt tokens + 15 output tokens need 64 positions: the last token is
  // sampled but never computed.
  EXPECT_NO_THROW(engine.add_request(greedy_request(random_prompt(50, 1), 15)));
  try {
    engine.add_request(greedy_request(random_prompt(50, 1), 16));
    ADD_FAILURE() << "expected ContextLengthError";
  } catch (const ContextLengthError& error) {
    EXPECT_NE(std::string(error.what()).find("needs 5 KV cache blocks"), std::string::npos) << error.what();
  }
}

TEST(CacheConfig, RejectsInvalidValues) {
  CacheConfig config;
  config.block_size = 0;
  EXPECT_THROW(config.validate(), Error);
  config = CacheConfig();
  config.kv_cache_memory = 0.0;
  EXPECT_THROW(config.validate(), Error);
  config = CacheConfig();
  config.num_blocks = -1;
  EXPECT_THROW(config.validate(), Error);
  config = CacheConfig();
  config.kv_cache_memory = 2.0;
  EXPECT_EQ(config.resolve_num_blocks(int64_t{1} << 20), 2048);  // 2 GiB of 1 MiB blocks
  config.num_blocks = 7;
  EXPECT_EQ(config.resolve_num_blocks(int64_t{1} << 20), 7);
}

}  // namespace
}  // namespace swiftkv
