// The serving engine: requests arrive from any thread, one engine thread runs
// the step loop (schedule, one batched forward over decode rows and prefill
// chunks of several requests, sample, stream the outputs back).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"
#include "engine/metrics.h"
#include "engine/request.h"
#include "engine/request_state.h"
#include "engine/scheduler.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {

// A request whose prompt plus max_tokens does not fit the context.
class ContextLengthError : public Error {
 public:
  using Error::Error;
};

// The engine no longer accepts requests because it is shutting down.
class EngineUnavailableError : public Error {
 public:
  using Error::Error;
};

// Size and behaviour of the paged KV cache.
struct CacheConfig {
  int64_t block_size = 16;  // positions per block
  // KV cache memory: GiB when >= 1, a fraction of the physical memory when
  // below 1 (0.25 is a quarter of the RAM).
  double kv_cache_memory = 4.0;
  // Number of blocks; when > 0 it replaces the kv_cache_memory budget.
  int64_t num_blocks = 0;
  bool enable_prefix_caching = true;

  // Throws Error for a block size < 1, a memory budget <= 0 or a negative
  // number of blocks.
  void validate() const;
  // Blocks of `bytes_per_block` bytes that the budget holds (at least 1).
  int64_t resolve_num_blocks(int64_t bytes_per_block) const;
};

struct EngineConfig {
  SchedulerConfig scheduler;
  CacheConfig cache;
  // Positions per sequence (prompt plus output); 0 uses the model's maximum.
  int64_t context_size = 0;
};

// Counters of the engine, updated after every step.
struct EngineStats {
  int64_t num_running = 0;
  int64_t num_waiting = 0;
  int64_t num_unfinished = 0;  // added and not yet finished, the ones not yet scheduled included
  int64_t num_blocks = 0;       // KV cache blocks in the pool
  int64_t num_free_blocks = 0;  // blocks no request uses, prefix-cached ones included
  int64_t num_steps = 0;
  int64_t prompt_tokens_computed = 0;  // prompt rows run, recomputed ones included
  int64_t generated_tokens = 0;
  int64_t num_preemptions = 0;
  int64_t prefix_cache_queries = 0;  // tokens of admitted requests looked up in the prefix cache
  int64_t prefix_cache_hits = 0;     // of those, tokens found in cached blocks
};

class LLMEngine {
 public:
  // Allocates the paged KV cache (config.cache). Throws Error for an
  // invalid config. Requests added before start() wait for it.
  LLMEngine(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer, EngineConfig config);
  // Shuts down without waiting, aborting the unfinished requests.
  ~LLMEngine();
  LLMEngine(const LLMEngine&) = delete;
  LLMEngine& operator=(const LLMEngine&) = delete;

  // Starts the engine thread.
  void start();

  // Checks `request` and queues it; returns its id. Throws ContextLengthError
  // when the prompt plus max_tokens exceeds the context or would not fit the
  // whole KV cache even alone, EngineUnavailableError
  // after shutdown began, and Error naming the field for other invalid input.
  RequestId add_request(Request request);

  // Finishes the request with FinishReason::kAbort at the next step and
  // frees its KV cache blocks. Unknown or finished ids are ignored.
  void abort(RequestId id);

  // Stops accepting requests, waits up to `deadline` for the unfinished
  // ones, aborts those still running, and stops the engine thread.
  void shutdown(std::chrono::milliseconds deadline);

  EngineStats stats() const;
  // Prometheus metrics, updated by the engine thread after every step and
  // every finished request.
  const EngineMetrics& metrics() const { return metrics_; }
  int64_t context_size() const { return context_size_; }
  const EngineConfig& config() const { return config_; }
  const Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  int64_t resolve_max_tokens(const Request& request) const;
  void check_fits_cache(const Request& request, int64_t max_tokens) const;
  void log_cache_size() const;
  void validate_token_ids(const Request& request) const;
  std::vector<int32_t> end_token_ids(const Request& request) const;

  void run_loop();
  void accept_new_work();
  void step();
  std::vector<BatchRow> build_rows(const SchedulerOutput& batch);
  void emit(RequestState& request, const RequestOutput& output);
  void finish(RequestState& request, const RequestOutput& output);
  void abort_all();
  void publish_stats();
  void record_token_metrics(const RequestState& request, const RequestOutput& output);

  std::shared_ptr<const Model> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  EngineConfig config_;
  int64_t context_size_;

  // Owned by the engine thread once it runs.
  KVCache cache_;
  BlockManager blocks_;
  Scheduler scheduler_;
  std::map<RequestId, std::unique_ptr<RequestState>> requests_;
  // Seconds from submission to the latest token, per running request, for
  // the inter-token latency.
  std::map<RequestId, double> last_token_elapsed_;
  int64_t num_steps_ = 0;
  int64_t prompt_tokens_computed_ = 0;
  int64_t generated_tokens_ = 0;
  int64_t num_preemptions_ = 0;
  int64_t prefix_cache_queries_ = 0;
  int64_t prefix_cache_hits_ = 0;

  // Shared with the callers' threads, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable request_finished_;
  std::vector<std::unique_ptr<RequestState>> incoming_;
  std::vector<RequestId> aborts_;
  RequestId next_id_ = 1;
  int64_t num_unfinished_ = 0;
  bool accepting_ = true;
  bool stop_thread_ = false;
  EngineStats stats_;
  EngineMetrics metrics_;  // thread-safe itself, outside mutex_
  std::thread thread_;
};

}  // namespace swiftkv
