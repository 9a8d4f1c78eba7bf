// Serving metrics in the Prometheus text exposition format (version 0.0.4),
// named like vLLM's where they mean the same. The engine thread updates
// them and any thread may render them.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace swiftkv {

// A Prometheus histogram: cumulative counts per upper bound, sum and count.
class Histogram {
 public:
  // `upper_bounds` must be ascending; the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> upper_bounds);

  void observe(double value);
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  // Observations <= upper_bounds()[i] in element i, then all of them last (+Inf).
  std::vector<int64_t> cumulative_counts() const;
  double sum() const { return sum_; }
  int64_t count() const { return count_; }

 private:
  std::vector<double> upper_bounds_;
  std::vector<int64_t> bucket_counts_;  // per bucket, not cumulative; the last is (max bound, +Inf)
  double sum_ = 0.0;
  int64_t count_ = 0;
};

// The engine's gauges, counters and latency histograms. Thread-safe.
class EngineMetrics {
 public:
  EngineMetrics();

  void set_scheduler_state(int64_t num_running, int64_t num_waiting, double kv_cache_usage);
  void add_prompt_tokens(int64_t count);
  void add_generation_tokens(int64_t count);
  // Counts prompt tokens looked up in the prefix cache, those found there,
  // and preempted requests.
  void add_cache_events(int64_t prefix_queries, int64_t prefix_hits, int64_t preemptions);
  void observe_time_to_first_token(double seconds);
  void observe_inter_token_latency(double seconds);
  // Counts a finished request under `finish_reason` ("stop", "length",
  // "abort", "error") and observes its end-to-end latency.
  void record_finished_request(const std::string& finish_reason, double e2e_seconds);

  // Renders every metric with a model_name label, as vLLM does.
  std::string render_prometheus(const std::string& model_name) const;

 private:
  mutable std::mutex mutex_;
  int64_t num_running_ = 0;
  int64_t num_waiting_ = 0;
  double kv_cache_usage_ = 0.0;
  int64_t prompt_tokens_ = 0;
  int64_t generation_tokens_ = 0;
  int64_t prefix_cache_queries_ = 0;
  int64_t prefix_cache_hits_ = 0;
  int64_t num_preemptions_ = 0;
  std::map<std::string, int64_t> finished_by_reason_;
  Histogram time_to_first_token_;
  Histogram inter_token_latency_;
  Histogram e2e_latency_;
};

}  // namespace swiftkv
