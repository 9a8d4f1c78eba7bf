#include "engine/scheduler.h"

#include <algorithm>

#include "core/error.h"
#include "core/log.h"

namespace swiftkv {

void SchedulerConfig::validate() const {
  if (max_num_seqs < 1) {
    fail("max_num_seqs = %lld is invalid; pass 1 or more", static_cast<long long>(max_num_seqs));
  }
  if (max_num_batched_tokens < max_num_seqs) {
    fail("max_num_batched_tokens = %lld is below max_num_seqs = %lld; every running request needs one "
         "token per step, so raise max_num_batched_tokens or lower max_num_seqs",
         static_cast<long long>(max_num_batched_tokens), static_cast<long long>(max_num_seqs));
  }
}

Scheduler::Scheduler(SchedulerConfig config, BlockManager& blocks) : config_(config), blocks_(blocks) {
  config_.validate();
}

void Scheduler::add(RequestState* request) { waiting_.push_back(request); }

void Scheduler::remove(RequestState* request) {
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), request), waiting_.end());
  running_.erase(std::remove(running_.begin(), running_.end(), request), running_.end());
  blocks_.free(request->id());
}

ScheduledChunk Scheduler::make_chunk(RequestState* request, int64_t count) {
  ScheduledChunk chunk;
  chunk.request = request;
  chunk.start = request->num_computed();
  chunk.count = count;
  chunk.need_logits = count == request->num_uncomputed();
  return chunk;
}

// Moves the newest running request back to the front of the waiting queue,
// dropping its chunk of this step and freeing its blocks.
void Scheduler::preempt_newest(SchedulerOutput& output, int64_t& budget) {
  RequestState* victim = running_.back();
  running_.pop_back();
  for (auto chunk = output.chunks.begin(); chunk != output.chunks.end(); ++chunk) {
    if (chunk->request != victim) continue;
    budget += chunk->count;
    (victim->in_prefill() ? output.num_prefill_tokens : output.num_decode_tokens) -= chunk->count;
    output.chunks.erase(chunk);
    break;
  }
  blocks_.free(victim->id());
  victim->reset_computed();
  waiting_.push_front(victim);
  ++output.num_preemptions;
  SKV_LOG_DEBUG("scheduler", "preempted request %llu (%lld tokens) because no KV cache block was free",
                static_cast<unsigned long long>(victim->id()), static_cast<long long>(victim->tokens().size()));
}

// Allocates blocks for `count` more tokens of the running `request`,
// preempting the newest running requests until they fit. Returns false when
// `request` itself had to be preempted.
bool Scheduler::allocate_or_preempt(RequestState* request, int64_t count, SchedulerOutput& output,
                                    int64_t& budget) {
  while (!blocks_.allocate(request->id(), request->num_computed() + count)) {
    const bool preempts_itself = running_.back() == request;
    preempt_newest(output, budget);
    if (preempts_itself) return false;
  }
  return true;
}

// Admits waiting requests in arrival order while the first chunk of the
// next one gets its blocks.
void Scheduler::admit_waiting(SchedulerOutput& output, int64_t& budget) {
  while (!waiting_.empty() && budget > 0 && num_running() < config_.max_num_seqs) {
    RequestState* request = waiting_.front();
    SKV_ASSERT(request->num_computed() == 0);
    const PrefixMatch prefix = blocks_.find_cached_prefix(request->tokens());
    const int64_t count = std::min(budget, request->num_uncomputed() - prefix.num_tokens);
    if (!blocks_.allocate(request->id(), prefix.num_tokens + count, &prefix)) break;

    waiting_.pop_front();
    running_.push_back(request);
    request->mark_computed(prefix.num_tokens);
    if (blocks_.prefix_caching()) {
      output.prefix_query_tokens += static_cast<int64_t>(request->tokens().size());
      output.prefix_hit_tokens += prefix.num_tokens;
    }
    output.chunks.push_back(make_chunk(request, count));
    output.num_prefill_tokens += count;
    budget -= count;
  }
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput output;
  int64_t budget = config_.max_num_batched_tokens;

  // Decode rows first: they are cheap and keep inter-token latency low.
  // Preemption shrinks running_ from the back, so the loop re-reads its size.
  for (size_t i = 0; i < running_.size(); ++i) {
    RequestState* request = running_[i];
    if (request->in_prefill()) continue;
    SKV_ASSERT(request->num_uncomputed() == 1);
    if (!allocate_or_preempt(request, 1, output, budget)) break;
    output.chunks.push_back(make_chunk(request, 1));
    output.num_decode_tokens += 1;
    budget -= 1;
  }
  SKV_ASSERT(budget >= 0);

  // Then the next prompt chunk of the requests already in prefill.
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    RequestState* request = running_[i];
    if (!request->in_prefill()) continue;
    const int64_t count = std::min(budget, request->num_uncomputed());
    if (!allocate_or_preempt(request, count, output, budget)) break;
    output.chunks.push_back(make_chunk(request, count));
    output.num_prefill_tokens += count;
    budget -= count;
  }

  // Then new requests, unless blocks ran out in this step.
  if (output.num_preemptions == 0) admit_waiting(output, budget);
  output.num_tokens = output.num_prefill_tokens + output.num_decode_tokens;
  return output;
}

}  // namespace swiftkv
