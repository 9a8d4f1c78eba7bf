#include "engine/metrics.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"

namespace swiftkv {
namespace {

// Bucket bounds in seconds as vLLM's Prometheus metrics use them.
// NOTE: written from memory of vLLM 0.6's metrics.py, not checked against
// its source; newer vLLM versions add larger buckets.
const std::vector<double> kTimeToFirstTokenBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                                      0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0};
const std::vector<double> kInterTokenLatencyBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                                       0.3,  0.4,   0.5,  0.75,  1.0, 2.5};
const std::vector<double> kE2eLatencyBuckets = {1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0};

// Escapes a label value as the exposition format requires: backslash,
// double quote and newline.
std::string escape_label_value(const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

std::string format_number(double value) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.17g", value);
  return text;
}

void write_header(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

void write_sample(std::string& out, const std::string& name, const std::string& labels, const std::string& value) {
  out += name + "{" + labels + "} " + value + "\n";
}

void write_histogram(std::string& out, const std::string& name, const char* help, const std::string& labels,
                     const Histogram& histogram) {
  write_header(out, name, "histogram", help);
  const std::vector<int64_t> counts = histogram.cumulative_counts();
  const std::vector<double>& bounds = histogram.upper_bounds();
  for (size_t i = 0; i < bounds.size(); ++i) {
    char bound[32];
    std::snprintf(bound, sizeof(bound), "%g", bounds[i]);
    write_sample(out, name + "_bucket", labels + ",le=\"" + bound + "\"", std::to_string(counts[i]));
  }
  write_sample(out, name + "_bucket", labels + ",le=\"+Inf\"", std::to_string(counts.back()));
  write_sample(out, name + "_sum", labels, format_number(histogram.sum()));
  write_sample(out, name + "_count", labels, std::to_string(histogram.count()));
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), bucket_counts_(upper_bounds_.size() + 1, 0) {
  SKV_ASSERT(std::is_sorted(upper_bounds_.begin(), upper_bounds_.end()));
}

void Histogram::observe(double value) {
  // Prometheus buckets are inclusive of their upper bound (le = "less or equal").
  const auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  ++bucket_counts_[static_cast<size_t>(bucket - upper_bounds_.begin())];
  sum_ += value;
  ++count_;
}

std::vector<int64_t> Histogram::cumulative_counts() const {
  std::vector<int64_t> cumulative(bucket_counts_.size());
  int64_t total = 0;
  for (size_t i = 0; i < bucket_counts_.size(); ++i) {
    total += bucket_counts_[i];
    cumulative[i] = total;
  }
  return cumulative;
}

EngineMetrics::EngineMetrics()
    : finished_by_reason_{{"stop", 0}, {"length", 0}, {"abort", 0}, {"error", 0}},
      time_to_first_token_(kTimeToFirstTokenBuckets),
      inter_token_latency_(kInterTokenLatencyBuckets),
      e2e_latency_(kE2eLatencyBuckets) {}

void EngineMetrics::set_scheduler_state(int64_t num_running, int64_t num_waiting, double kv_cache_usage) {
  std::lock_guard<std::mutex> lock(mutex_);
  num_running_ = num_running;
  num_waiting_ = num_waiting;
  kv_cache_usage_ = kv_cache_usage;
}

void EngineMetrics::add_prompt_tokens(int64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  prompt_tokens_ += count;
}

void EngineMetrics::add_generation_tokens(int64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  generation_tokens_ += count;
}

void EngineMetrics::add_cache_events(int64_t prefix_queries, int64_t prefix_hits, int64_t preemptions) {
  std::lock_guard<std::mutex> lock(mutex_);
  prefix_cache_queries_ += prefix_queries;
  prefix_cache_hits_ += prefix_hits;
  num_preemptions_ += preemptions;
}

void EngineMetrics::observe_time_to_first_token(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  time_to_first_token_.observe(seconds);
}

void EngineMetrics::observe_inter_token_latency(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  inter_token_latency_.observe(seconds);
}

void EngineMetrics::record_finished_request(const std::string& finish_reason, double e2e_seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++finished_by_reason_[finish_reason];
  e2e_latency_.observe(e2e_seconds);
}

std::string EngineMetrics::render_prometheus(const std::string& model_name) const {
  const std::string labels = "model_name=\"" + escape_label_value(model_name) + "\"";
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;

  write_header(out, "vllm:num_requests_running", "gauge", "Number of requests in the running batch.");
  write_sample(out, "vllm:num_requests_running", labels, std::to_string(num_running_));
  write_header(out, "vllm:num_requests_waiting", "gauge", "Number of requests waiting to be scheduled.");
  write_sample(out, "vllm:num_requests_waiting", labels, std::to_string(num_waiting_));
  write_header(out, "vllm:kv_cache_usage_perc", "gauge", "KV cache usage: share of blocks in use, from 0 to 1.");
  write_sample(out, "vllm:kv_cache_usage_perc", labels, format_number(kv_cache_usage_));
  write_header(out, "vllm:prefix_cache_queries_total", "counter",
               "Prompt tokens of admitted requests looked up in the prefix cache.");
  write_sample(out, "vllm:prefix_cache_queries_total", labels, std::to_string(prefix_cache_queries_));
  write_header(out, "vllm:prefix_cache_hits_total", "counter",
               "Prompt tokens found in the prefix cache, so not computed.");
  write_sample(out, "vllm:prefix_cache_hits_total", labels, std::to_string(prefix_cache_hits_));
  write_header(out, "vllm:num_preemptions_total", "counter",
               "Requests preempted because the KV cache ran out of blocks.");
  write_sample(out, "vllm:num_preemptions_total", labels, std::to_string(num_preemptions_));

  write_header(out, "vllm:prompt_tokens_total", "counter", "Number of prompt tokens of requests that started generating.");
  write_sample(out, "vllm:prompt_tokens_total", labels, std::to_string(prompt_tokens_));
  write_header(out, "vllm:generation_tokens_total", "counter", "Number of generated tokens.");
  write_sample(out, "vllm:generation_tokens_total", labels, std::to_string(generation_tokens_));
  write_header(out, "vllm:request_success_total", "counter", "Number of finished requests, by finish reason.");
  for (const auto& [reason, count] : finished_by_reason_) {
    write_sample(out, "vllm:request_success_total",
                 labels + ",finished_reason=\"" + escape_label_value(reason) + "\"", std::to_string(count));
  }

  write_histogram(out, "vllm:time_to_first_token_seconds", "Time from request arrival to its first token, in seconds.",
                  labels, time_to_first_token_);
  write_histogram(out, "vllm:time_per_output_token_seconds",
                  "Time between consecutive output tokens of a request (inter-token latency), in seconds.", labels,
                  inter_token_latency_);
  write_histogram(out, "vllm:e2e_request_latency_seconds", "Time from request arrival to its end, in seconds.",
                  labels, e2e_latency_);
  return out;
}

}  // namespace swiftkv
