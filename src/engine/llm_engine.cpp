#include "engine/llm_engine.h"

#include <algorithm>
#include <exception>

#include "core/log.h"
#include "engine/generator.h"

namespace swiftkv {

LLMEngine::LLMEngine(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer,
                     EngineConfig config)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      config_((config.scheduler.validate(), config)),
      context_size_(resolve_context_size(model_->config(), config_.context_size)),
      cache_(model_->make_cache(config_.scheduler.max_num_seqs, context_size_)),
      allocator_(config_.scheduler.max_num_seqs, context_size_),
      scheduler_(config_.scheduler, allocator_) {
  SKV_LOG_INFO("engine", "KV cache: %lld sequences x %lld positions, %.1f MiB; up to %lld tokens per step",
               static_cast<long long>(config_.scheduler.max_num_seqs), static_cast<long long>(context_size_),
               static_cast<double>(cache_.total_bytes()) / (1024.0 * 1024.0),
               static_cast<long long>(config_.scheduler.max_num_batched_tokens));
  stats_.num_free_slots = allocator_.num_free();
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

RequestId LLMEngine::add_request(Request request) {
  if (request.prompt_tokens.empty()) fail("the prompt is empty; pass at least one token");
  validate_token_ids(request);
  const int64_t max_tokens = resolve_max_tokens(request);
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

std::vector<BatchRow> LLMEngine::build_rows(const SchedulerOutput& batch) const {
  std::vector<BatchRow> rows;
  rows.reserve(static_cast<size_t>(batch.num_tokens));
  for (const ScheduledChunk& chunk : batch.chunks) {
    const std::vector<int32_t>& tokens = chunk.request->tokens();
    for (int64_t t = chunk.start; t < chunk.start + chunk.count; ++t) {
      BatchRow row;
      row.token = tokens[static_cast<size_t>(t)];
      row.pos = static_cast<int32_t>(t);
      row.seq = static_cast<int32_t>(chunk.request->slot());
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
  if (batch.empty()) return;
  publish_stats();  // newly admitted requests hold their slots from here on
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

// Frees the KV slot, sends the final event and deletes the request state.
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
  // so stats() read after that event shows the slot free.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --num_unfinished_;
    stats_.num_free_slots = allocator_.num_free();
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
  stats_.num_free_slots = allocator_.num_free();
  stats_.num_steps = num_steps_;
  stats_.prompt_tokens_computed = prompt_tokens_computed_;
  stats_.generated_tokens = generated_tokens_;
  const int64_t num_slots = config_.scheduler.max_num_seqs;
  metrics_.set_scheduler_state(stats_.num_running, stats_.num_waiting,
                               static_cast<double>(num_slots - stats_.num_free_slots) / static_cast<double>(num_slots));
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
