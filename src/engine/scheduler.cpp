#include "engine/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace swiftkv {

KVSlotAllocator::KVSlotAllocator(int64_t num_slots, int64_t capacity) : num_slots_(num_slots), capacity_(capacity) {
  SKV_ASSERT(num_slots > 0 && capacity > 0);
  for (int64_t slot = num_slots - 1; slot >= 0; --slot) free_slots_.push_back(slot);
}

bool KVSlotAllocator::can_allocate(const RequestState& request) const {
  return !free_slots_.empty() && static_cast<int64_t>(request.tokens().size()) <= capacity_;
}

void KVSlotAllocator::allocate(RequestState& request) {
  SKV_ASSERT(can_allocate(request) && request.slot() < 0);
  request.set_slot(free_slots_.back());
  free_slots_.pop_back();
}

void KVSlotAllocator::free(RequestState& request) {
  if (request.slot() < 0) return;
  free_slots_.push_back(request.slot());
  // Keep the lowest free slot last, so slots are reused in a fixed order.
  std::sort(free_slots_.begin(), free_slots_.end(), std::greater<int64_t>());
  request.set_slot(-1);
}

bool KVSlotAllocator::can_append(const RequestState& request, int64_t num_tokens) const {
  return request.num_computed() + num_tokens <= capacity_;
}

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

Scheduler::Scheduler(SchedulerConfig config, KVSlotAllocator& allocator) : config_(config), allocator_(allocator) {
  config_.validate();
  SKV_ASSERT(allocator.num_slots() >= config_.max_num_seqs);
}

void Scheduler::add(RequestState* request) { waiting_.push_back(request); }

void Scheduler::remove(RequestState* request) {
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), request), waiting_.end());
  running_.erase(std::remove(running_.begin(), running_.end(), request), running_.end());
  allocator_.free(*request);
}

ScheduledChunk Scheduler::make_chunk(RequestState* request, int64_t count) {
  ScheduledChunk chunk;
  chunk.request = request;
  chunk.start = request->num_computed();
  chunk.count = count;
  chunk.need_logits = count == request->num_uncomputed();
  return chunk;
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput output;
  int64_t budget = config_.max_num_batched_tokens;

  // Decode rows first: they are cheap and keep inter-token latency low.
  for (RequestState* request : running_) {
    if (request->in_prefill()) continue;
    SKV_ASSERT(request->num_uncomputed() == 1 && allocator_.can_append(*request, 1));
    output.chunks.push_back(make_chunk(request, 1));
    output.num_decode_tokens += 1;
    budget -= 1;
  }
  SKV_ASSERT(budget >= 0);

  // Then the next prompt chunk of the requests already in prefill.
  for (RequestState* request : running_) {
    if (!request->in_prefill() || budget == 0) continue;
    const int64_t count = std::min(budget, request->num_uncomputed());
    output.chunks.push_back(make_chunk(request, count));
    output.num_prefill_tokens += count;
    budget -= count;
  }

  // Then admit waiting requests in arrival order.
  while (!waiting_.empty() && budget > 0 && num_running() < config_.max_num_seqs &&
         allocator_.can_allocate(*waiting_.front())) {
    RequestState* request = waiting_.front();
    waiting_.pop_front();
    allocator_.allocate(*request);
    running_.push_back(request);
    const int64_t count = std::min(budget, request->num_uncomputed());
    output.chunks.push_back(make_chunk(request, count));
    output.num_prefill_tokens += count;
    budget -= count;
  }
  output.num_tokens = output.num_prefill_tokens + output.num_decode_tokens;
  return output;
}

}  // namespace swiftkv
