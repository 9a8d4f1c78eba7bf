#include "engine/llm_engine.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>

#include "core/log.h"
#include "engine/generator.h"

namespace swiftkv {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

const EngineConfig& validated(const EngineConfig& config) {
  config.scheduler.validate();
  config.cache.validate();
  return config;
}

// Bytes of one block of `model`'s KV cache: keys and values of every slot.
int64_t bytes_per_block(const Model& model, int64_t block_size) {
  const ModelConfig& config = model.config();
  const int64_t row_bytes = config.num_key_value_heads * config.head_dim * static_cast<int64_t>(sizeof(float));
  return 2 * num_kv_slots(config, model.uses_swiftkv()) * row_bytes * block_size;
}

double physical_memory_bytes() {
  return static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
}

}  // namespace

void CacheConfig::validate() const {
  if (block_size < 1) fail("block size %lld is invalid; pass 1 or more", static_cast<long long>(block_size));
  if (!(kv_cache_memory > 0.0)) {
    fail("KV cache memory %g is invalid; pass GiB (e.g. 2) or a fraction of the RAM below 1 (e.g. 0.25)",
         kv_cache_memory);
  }
  if (num_blocks < 0) {
    fail("number of KV cache blocks %lld is invalid; pass 1 or more, or 0 to size the cache from the memory budget",
         static_cast<long long>(num_blocks));
  }
}

int64_t CacheConfig::resolve_num_blocks(int64_t block_bytes) const {
  if (num_blocks > 0) return num_blocks;
  const double budget = kv_cache_memory >= 1.0 ? kv_cache_memory * kGiB : kv_cache_memory * physical_memory_bytes();
  const double blocks = std::floor(budget / static_cast<double>(block_bytes));
  if (blocks < 1.0) {
    fail("a KV cache memory of %g leaves %.0f bytes, less than one block of %lld bytes; raise --kv-cache-memory "
         "or lower --block-size", kv_cache_memory, budget, static_cast<long long>(block_bytes));
  }
  // Block ids are int32 in the block tables.
  return static_cast<int64_t>(std::min(blocks, static_cast<double>(std::numeric_limits<int32_t>::max())));
}

LLMEngine::LLMEngine(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer,
                     EngineConfig config)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      config_(validated(config)),
      context_size_(resolve_context_size(model_->config(), config_.context_size)),
      cache_(model_->make_paged_cache(
          config_.cache.resolve_num_blocks(bytes_per_block(*model_, config_.cache.block_size)),
          config_.cache.block_size, context_size_)),
      blocks_(cache_.num_blocks(), cache_.block_size(), config_.cache.enable_prefix_caching),
      scheduler_(config_.scheduler, blocks_) {
  log_cache_size();
  stats_.num_blocks = blocks_.num_blocks();
  stats_.num_free_blocks = blocks_.num_free_blocks();
}

// Logs the cache size, and with SwiftKV how many tokens the same memory
// would hold without it (one slot per layer instead of per AcrossKV group).
void LLMEngine::log_cache_size() const {
  const int64_t tokens = cache_.num_blocks() * cache_.block_size();
  const double mib = static_cast<double>(cache_.total_bytes()) / (1024.0 * 1024.0);
  SKV_LOG_INFO("engine", "KV cache: %lld blocks of %lld tokens = %lld tokens, %.1f MiB, %lld slots per block; "
               "prefix caching %s; up to %lld requests and %lld tokens per step",
               static_cast<long long>(cache_.num_blocks()), static_cast<long long>(cache_.block_size()),
               static_cast<long long>(tokens), mib, static_cast<long long>(cache_.num_slots()),
               config_.cache.enable_prefix_caching ? "on" : "off",
               static_cast<long long>(config_.scheduler.max_num_seqs),
               static_cast<long long>(config_.scheduler.max_num_batched_tokens));
  if (model_->uses_swiftkv()) {
    const int64_t layers = model_->config().num_hidden_layers;
    SKV_LOG_INFO("engine", "SwiftKV stores %lld of %lld layers' K/V per token, so the cache holds %lld tokens "
                 "where it would hold %lld without SwiftKV",
                 static_cast<long long>(cache_.num_slots()), static_cast<long long>(layers),
                 static_cast<long long>(tokens), static_cast<long long>(tokens * cache_.num_slots() / layers));
  }
  if (tokens < context_size_) {
    SKV_LOG_WARN("engine", "the KV cache holds %lld tokens, fewer than the context size of %lld; requests that "
                 "need more are rejected (raise --kv-cache-memory to accept them)",
                 static_cast<long long>(tokens), static_cast<long long>(context_size_));
  }
}

LLMEngine::~LLMEngine() { shutdown(std::chrono::milliseconds(0)); }

void LLMEngine::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (thread_.joinable() || stop_thread_) return;
  thread_ = std::thread([this] { run_loop(); });
}

int64_t LLMEngine::resolve_max_tokens(const Request& request) const {
  const int64_t prompt = static_cast<int64_t>(request.prompt_tokens.size());
  if (request.max_tokens == -1) {
    if (prompt >= context_size_) {
      throw ContextLengthError(strprintf(
          "the prompt has %lld tokens but the context size is %lld tokens, so no room is left for output; "
          "shorten the prompt or raise the context size", static_cast<long long>(prompt),
          static_cast<long long>(context_size_)));
    }
    return context_size_ - prompt;
  }
  if (request.max_tokens < 1) {
    fail("max_tokens = %lld is invalid; pass 1 or more", static_cast<long long>(request.max_tokens));
  }
  if (prompt + request.max_tokens > context_size_) {
    throw ContextLengthError(strprintf(
        "this request needs %lld tokens (%lld in the prompt + %lld max_tokens) but the context size is %lld; "
        "shorten the prompt or lower max_tokens", static_cast<long long>(prompt + request.max_tokens),
        static_cast<long long>(prompt), static_cast<long long>(request.max_tokens),
        static_cast<long long>(context_size_)));
  }
  return request.max_tokens;
}

void LLMEngine::validate_token_ids(const Request& request) const {
  const int64_t V = model_->config().vocab_size;
  for (int32_t token : request.prompt_tokens) {
    if (token < 0 || token >= V) {
      fail("prompt token id %d is out of range; the vocabulary has %lld tokens", token, static_cast<long long>(V));
    }
  }
  for (int32_t token : request.stop_token_ids) {
    if (token < 0 || token >= V) {
      fail("stop_token_ids contains %d, which is out of range; the vocabulary has %lld tokens", token,
           static_cast<long long>(V));
    }
  }
  for (const auto& [token, bias] : request.sampling.logit_bias) {
    if (token < 0 || token >= V) {
      fail("logit_bias has token id %d, which is out of range; the vocabulary has %lld tokens", token,
           static_cast<long long>(V));
    }
  }
}

std::vector<int32_t> LLMEngine::end_token_ids(const Request& request) const {
  std::vector<int32_t> ids = request.stop_token_ids;
  if (request.ignore_eos) return ids;
  for (int64_t id : model_->config().eos_token_ids) ids.push_back(static_cast<int32_t>(id));
  if (tokenizer_->eos_id() >= 0) ids.push_back(tokenizer_->eos_id());
  return ids;
}

// Rejects a request whose K/V would not fit the whole cache even alone, so
// preemption could never make room for it. The last sampled token is never
// computed, so prompt + max_tokens - 1 positions need blocks.
void LLMEngine::check_fits_cache(const Request& request, int64_t max_tokens) const {
  const int64_t positions = static_cast<int64_t>(request.prompt_tokens.size()) + max_tokens - 1;
  const int64_t needed = blocks_.blocks_for(positions);
  if (needed <= blocks_.num_blocks()) return;
  throw ContextLengthError(strprintf(
      "this request needs %lld KV cache blocks of %lld tokens (%lld prompt tokens + %lld max_tokens) but the "
      "whole cache has %lld blocks; shorten the prompt or lower max_tokens, or restart the server with a larger "
      "--kv-cache-memory", static_cast<long long>(needed), static_cast<long long>(blocks_.block_size()),
      static_cast<long long>(request.prompt_tokens.size()), static_cast<long long>(max_tokens),
      static_cast<long long>(blocks_.num_blocks())));
}

RequestId LLMEngine::add_request(Request request) {
  if (request.prompt_tokens.empty()) fail("the prompt is empty; pass at least one token");
  validate_token_ids(request);
  const int64_t max_tokens = resolve_max_tokens(request);
  check_fits_cache(request, max_tokens);
  if (request.min_tokens < 0 || request.min_tokens > max_tokens) {
    fail("min_tokens = %lld is invalid; pass a value in [0, max_tokens = %lld]",
         static_cast<long long>(request.min_tokens), static_cast<long long>(max_tokens));
  }
  std::vector<int32_t> end_ids = end_token_ids(request);

  std::lock_guard<std::mutex> lock(mutex_);
  if (!accepting_) throw EngineUnavailableError("the engine is shutting down and accepts no new requests");
  const RequestId id = next_id_++;
  // The constructor checks the sampling parameters and the stop strings.
  incoming_.push_back(std::make_unique<RequestState>(id, std::move(request), *tokenizer_, std::move(end_ids),
                                                     max_tokens));
  ++num_unfinished_;
  work_ready_.notify_one();
  return id;
}

void LLMEngine::abort(RequestId id) {
  std::lock_guard<std::mutex> lock(mutex_);
  aborts_.push_back(id);
  work_ready_.notify_one();
}

void LLMEngine::shutdown(std::chrono::milliseconds deadline) {
  start();  // so that requests queued before start() still get their final event
  std::unique_lock<std::mutex> lock(mutex_);
  if (!thread_.joinable()) return;
  accepting_ = false;
  if (num_unfinished_ > 0) {
    SKV_LOG_INFO("engine", "shutting down: waiting up to %.1f s for %lld unfinished requests",
                 static_cast<double>(deadline.count()) / 1000.0, static_cast<long long>(num_unfinished_));
  }
  request_finished_.wait_for(lock, deadline, [this] { return num_unfinished_ == 0; });
  if (num_unfinished_ > 0) {
    SKV_LOG_WARN("engine", "aborting %lld requests still unfinished at shutdown",
                 static_cast<long long>(num_unfinished_));
  }
  stop_thread_ = true;
  work_ready_.notify_one();
  lock.unlock();
  thread_.join();
  SKV_LOG_INFO("engine", "stopped after %lld steps", static_cast<long long>(num_steps_));
}

EngineStats LLMEngine::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  EngineStats stats = stats_;
  stats.num_unfinished = num_unfinished_;
  return stats;
}

void LLMEngine::run_loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [this] {
        return stop_thread_ || !incoming_.empty() || !aborts_.empty() || scheduler_.has_work();
      });
      if (stop_thread_) break;
    }
    accept_new_work();
    step();
    publish_stats();
  }
  accept_new_work();
  abort_all();
  publish_stats();
}

// Moves requests and aborts that other threads queued into the scheduler.
void LLMEngine::accept_new_work() {
  std::vector<std::unique_ptr<RequestState>> incoming;
  std::vector<RequestId> aborts;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    incoming.swap(incoming_);
    aborts.swap(aborts_);
  }
  for (auto& request : incoming) {
    RequestState* state = request.get();
    requests_[state->id()] = std::move(request);
    scheduler_.add(state);
  }
  for (RequestId id : aborts) {
    auto found = requests_.find(id);
    if (found == requests_.end()) continue;
    RequestState& request = *found->second;
    finish(request, request.finish_without_token(FinishReason::kAbort));
  }
}

// Rows of the scheduled chunks. Chunk i runs as sequence i of the cache,
// whose block table is set to the request's blocks.
std::vector<BatchRow> LLMEngine::build_rows(const SchedulerOutput& batch) {
  std::vector<BatchRow> rows;
  rows.reserve(static_cast<size_t>(batch.num_tokens));
  for (size_t i = 0; i < batch.chunks.size(); ++i) {
    const ScheduledChunk& chunk = batch.chunks[i];
    cache_.set_block_table(static_cast<int64_t>(i), blocks_.block_table(chunk.request->id()));
    const std::vector<int32_t>& tokens = chunk.request->tokens();
    for (int64_t t = chunk.start; t < chunk.start + chunk.count; ++t) {
      BatchRow row;
      row.token = tokens[static_cast<size_t>(t)];
      row.pos = static_cast<int32_t>(t);
      row.seq = static_cast<int32_t>(i);
      row.need_logits = chunk.need_logits && t == chunk.start + chunk.count - 1;
      rows.push_back(row);
    }
  }
  return rows;
}

// One forward pass over the scheduled chunks, then one sampled token for
// every chunk that ends at its request's last token.
void LLMEngine::step() {
  const SchedulerOutput batch = scheduler_.schedule();
  const int64_t preempted_before = num_preemptions_;
  num_preemptions_ += batch.num_preemptions;
  prefix_cache_queries_ += batch.prefix_query_tokens;
  prefix_cache_hits_ += batch.prefix_hit_tokens;
  metrics_.add_cache_events(batch.prefix_query_tokens, batch.prefix_hit_tokens, batch.num_preemptions);
  // Logged at the first preemption and then once per 100, because a small
  // cache under load preempts in many steps.
  if (batch.num_preemptions > 0 && (preempted_before == 0 || preempted_before / 100 != num_preemptions_ / 100)) {
    SKV_LOG_WARN("engine", "%lld requests preempted so far because the KV cache ran out of blocks; raise "
                 "--kv-cache-memory or lower --max-num-seqs to avoid recomputing them",
                 static_cast<long long>(num_preemptions_));
  }
  if (batch.empty()) return;
  publish_stats();  // newly admitted requests hold their blocks from here on
  ++num_steps_;
  SKV_LOG_DEBUG("engine", "step %lld: %zu requests, %lld prefill + %lld decode tokens",
                static_cast<long long>(num_steps_), batch.chunks.size(),
                static_cast<long long>(batch.num_prefill_tokens), static_cast<long long>(batch.num_decode_tokens));

  std::vector<float> logits;
  try {
    logits = model_->forward(build_rows(batch), cache_);
  } catch (const std::exception& error) {
    SKV_LOG_ERROR("engine", "forward pass of step %lld failed: %s; failing its %zu requests",
                  static_cast<long long>(num_steps_), error.what(), batch.chunks.size());
    for (const ScheduledChunk& chunk : batch.chunks) {
      finish(*chunk.request, chunk.request->finish_without_token(FinishReason::kError, error.what()));
    }
    return;
  }
  prompt_tokens_computed_ += batch.num_prefill_tokens;

  const size_t V = static_cast<size_t>(model_->config().vocab_size);
  size_t logit_row = 0;
  for (const ScheduledChunk& chunk : batch.chunks) {
    RequestState& request = *chunk.request;
    request.mark_computed(chunk.count);
    blocks_.cache_full_blocks(request.id(), request.tokens(), request.num_computed());
    if (!chunk.need_logits) continue;
    const std::span<const float> row(logits.data() + logit_row * V, V);
    ++logit_row;
    RequestOutput output;
    try {
      output = request.append_sampled(row);
    } catch (const Error& error) {
      SKV_LOG_ERROR("engine", "sampling failed for request %llu: %s", static_cast<unsigned long long>(request.id()),
                    error.what());
      finish(request, request.finish_without_token(FinishReason::kError, error.what()));
      continue;
    }
    ++generated_tokens_;
    record_token_metrics(request, output);
    if (output.finished) {
      finish(request, output);
    } else {
      emit(request, output);
    }
  }
  SKV_ASSERT(logit_row * V == logits.size());
}

void LLMEngine::emit(RequestState& request, const RequestOutput& output) {
  if (!request.request().on_output) return;
  try {
    request.request().on_output(output);
  } catch (const std::exception& error) {
    SKV_LOG_ERROR("engine", "output callback of request %llu threw: %s",
                  static_cast<unsigned long long>(request.id()), error.what());
  }
}

// Frees the KV cache blocks, sends the final event and deletes the request state.
void LLMEngine::finish(RequestState& request, const RequestOutput& output) {
  SKV_ASSERT(output.finished);
  SKV_LOG_INFO("engine", "request %llu finished: %lld prompt + %lld output tokens, time to first token %.3f s, "
               "total %.3f s, finish reason %s%s%s", static_cast<unsigned long long>(request.id()),
               static_cast<long long>(output.prompt_tokens), static_cast<long long>(output.completion_tokens),
               output.time_to_first_token, output.elapsed, finish_reason_name(output.finish_reason),
               output.error.empty() ? "" : ": ", output.error.c_str());
  scheduler_.remove(&request);
  metrics_.record_finished_request(finish_reason_name(output.finish_reason), output.elapsed);
  last_token_elapsed_.erase(request.id());
  // Count the request as finished before the caller sees its final event,
  // so stats() read after that event shows its blocks free.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --num_unfinished_;
    stats_.num_free_blocks = blocks_.num_free_blocks();
  }
  request_finished_.notify_all();
  emit(request, output);
  requests_.erase(request.id());
}

void LLMEngine::abort_all() {
  while (!requests_.empty()) {
    RequestState& request = *requests_.begin()->second;
    finish(request, request.finish_without_token(FinishReason::kAbort));
  }
}

void LLMEngine::publish_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.num_running = scheduler_.num_running();
  stats_.num_waiting = scheduler_.num_waiting();
  stats_.num_free_blocks = blocks_.num_free_blocks();
  stats_.num_steps = num_steps_;
  stats_.prompt_tokens_computed = prompt_tokens_computed_;
  stats_.generated_tokens = generated_tokens_;
  stats_.num_preemptions = num_preemptions_;
  stats_.prefix_cache_queries = prefix_cache_queries_;
  stats_.prefix_cache_hits = prefix_cache_hits_;
  metrics_.set_scheduler_state(stats_.num_running, stats_.num_waiting, blocks_.usage());
}

// Counts one sampled token. The first token of a request also counts its
// prompt tokens and its time to first token; later ones the time since the
// token before.
void LLMEngine::record_token_metrics(const RequestState& request, const RequestOutput& output) {
  metrics_.add_generation_tokens(1);
  const auto previous = last_token_elapsed_.find(request.id());
  if (previous == last_token_elapsed_.end()) {
    metrics_.add_prompt_tokens(output.prompt_tokens);
    metrics_.observe_time_to_first_token(output.time_to_first_token);
  } else {
    metrics_.observe_inter_token_latency(output.elapsed - previous->second);
  }
  last_token_elapsed_[request.id()] = output.elapsed;
}

}  // namespace swiftkv
