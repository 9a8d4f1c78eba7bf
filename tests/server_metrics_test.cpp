// GET /metrics: the Prometheus text from a real server on 127.0.0.1 after
// real completions, and the Histogram bucket rules.
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/llm_engine.h"
#include "engine/metrics.h"
#include "formats/checkpoint.h"
#include "server/openai_server.h"
#include "test_util.h"

namespace swiftkv {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// An engine and a server for stories260K on a free loopback port.
class MetricsTestServer {
 public:
  explicit MetricsTestServer(const std::string& api_key = "") {
    const Checkpoint checkpoint = load_checkpoint(testing::stories_dir() + "/stories260Ktok512.gguf");
    EngineConfig engine_config;
    engine_config.scheduler.max_num_seqs = 4;
    engine_config.scheduler.max_num_batched_tokens = 64;
    engine_config.context_size = 128;
    engine_ = std::make_unique<LLMEngine>(make_model(checkpoint, /*use_swiftkv=*/false),
                                          make_tokenizer(checkpoint.vocab), engine_config);
    engine_->start();
    ServerConfig config;
    config.port = 0;
    config.model_name = "stories";
    config.api_key = api_key;
    server_ = std::make_unique<OpenAIServer>(*engine_, config);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->listen(); });
    for (int i = 0; i < 500 && !server_->is_running(); ++i) std::this_thread::sleep_for(milliseconds(10));
  }

  ~MetricsTestServer() {
    server_->shutdown(std::chrono::seconds(5));
    thread_.join();
  }

  httplib::Client client() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(120, 0);
    return client;
  }

 private:
  std::unique_ptr<LLMEngine> engine_;
  std::unique_ptr<OpenAIServer> server_;
  std::thread thread_;
  int port_ = 0;
};

// Parses exposition text into "name{labels}" -> value, failing the test on
// any non-comment line that is not `name{labels} value`.
std::map<std::string, double> parse_samples(const std::string& text) {
  static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) ([-+0-9.eE]+|\+Inf|NaN)$)");
  std::map<std::string, double> samples;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      EXPECT_TRUE(line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) << line;
      continue;
    }
    std::smatch match;
    if (!std::regex_match(line, match, sample)) {
      ADD_FAILURE() << "not a Prometheus sample line: " << line;
      continue;
    }
    samples[match[1]] = std::stod(match[3]);
  }
  return samples;
}

TEST(Histogram, BucketsIncludeUpperBound) {
  Histogram histogram({0.1, 1.0});
  histogram.observe(0.1);
  histogram.observe(0.5);
  histogram.observe(7.0);
  const std::vector<int64_t> counts = histogram.cumulative_counts();
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts[0], 1);
  EXPECT_EQ(counts[1], 2);
  EXPECT_EQ(counts[2], 3);
  EXPECT_EQ(histogram.count(), 3);
  EXPECT_DOUBLE_EQ(histogram.sum(), 7.6);
}

TEST(ServerMetrics, CountsTwoCompletions) {
  MetricsTestServer server;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::map<std::string, int64_t> finish_reasons;
  for (int max_tokens : {5, 9}) {
    const json request = {{"prompt", "Once upon a time"}, {"max_tokens", max_tokens}, {"temperature", 0}};
    const auto result = server.client().Post("/v1/completions", request.dump(), "application/json");
    ASSERT_TRUE(result);
    ASSERT_EQ(result->status, 200) << result->body;
    const json body = json::parse(result->body);
    prompt_tokens += body["usage"]["prompt_tokens"].get<int64_t>();
    completion_tokens += body["usage"]["completion_tokens"].get<int64_t>();
    ++finish_reasons[body["choices"][0]["finish_reason"].get<std::string>()];
  }

  const auto result = server.client().Get("/metrics");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type").rfind("text/plain", 0), 0u);
  const std::map<std::string, double> samples = parse_samples(result->body);
  const std::string model = "model_name=\"stories\"";
  auto value = [&](const std::string& key) {
    const auto found = samples.find(key);
    EXPECT_NE(found, samples.end()) << "missing sample " << key << " in\n" << result->body;
    return found == samples.end() ? -1.0 : found->second;
  };

  EXPECT_EQ(value("vllm:prompt_tokens_total{" + model + "}"), prompt_tokens);
  EXPECT_EQ(value("vllm:generation_tokens_total{" + model + "}"), completion_tokens);
  for (const char* reason : {"stop", "length", "abort", "error"}) {
    EXPECT_EQ(value("vllm:request_success_total{" + model + ",finished_reason=\"" + reason + "\"}"),
              finish_reasons[reason])
        << reason;
  }
  EXPECT_EQ(value("vllm:time_to_first_token_seconds_count{" + model + "}"), 2);
  EXPECT_EQ(value("vllm:time_to_first_token_seconds_bucket{" + model + ",le=\"+Inf\"}"), 2);
  EXPECT_EQ(value("vllm:time_per_output_token_seconds_count{" + model + "}"), completion_tokens - 2);
  EXPECT_EQ(value("vllm:e2e_request_latency_seconds_count{" + model + "}"), 2);
  EXPECT_EQ(value("vllm:e2e_request_latency_seconds_bucket{" + model + ",le=\"60\"}"), 2);
  EXPECT_GT(value("vllm:e2e_request_latency_seconds_sum{" + model + "}"), 0.0);
  EXPECT_EQ(value("vllm:num_requests_waiting{" + model + "}"), 0);
  EXPECT_GE(value("vllm:num_requests_running{" + model + "}"), 0);
  const double usage = value("vllm:kv_cache_usage_perc{" + model + "}");
  EXPECT_GE(usage, 0.0);
  EXPECT_LE(usage, 1.0);
  EXPECT_EQ(value("vllm:num_preemptions_total{" + model + "}"), 0);
  EXPECT_EQ(value("vllm:prefix_cache_queries_total{" + model + "}"), prompt_tokens);
  EXPECT_GE(value("vllm:prefix_cache_hits_total{" + model + "}"), 0);
  EXPECT_NE(result->body.find("# TYPE vllm:time_to_first_token_seconds histogram"), std::string::npos);
  EXPECT_NE(result->body.find("# TYPE vllm:request_success_total counter"), std::string::npos);
  EXPECT_NE(result->body.find("# TYPE vllm:num_requests_running gauge"), std::string::npos);
}

TEST(ServerMetrics, OpenWithoutApiKey) {
  MetricsTestServer server("secret");
  const auto metrics = server.client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  const auto models = server.client().Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401);
}

}  // namespace
}  // namespace swiftkv
