// Continuous batching: which requests run in the next forward pass, and how
// many of their tokens, under a token budget and a cap on running requests.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/request_state.h"

namespace swiftkv {

// Hands out KV cache space to requests. In this version every sequence slot
// of the cache is one contiguous region of `capacity` positions, so a request
// occupies one whole slot from admission to finish.
// NOTE: a paged block manager (fixed-size blocks, block tables, prefix
// caching) is meant to replace this class behind the same four calls, where
// can_append/append would grow a request by blocks and may fail.
class KVSlotAllocator {
 public:
  KVSlotAllocator(int64_t num_slots, int64_t capacity);

  // True when a free slot exists and `request` fits the capacity.
  bool can_allocate(const RequestState& request) const;
  // Assigns a free slot to `request`; requires can_allocate.
  void allocate(RequestState& request);
  // Returns the slot of `request`, if it has one, to the pool.
  void free(RequestState& request);
  // True when `request` can grow by `num_tokens` positions.
  bool can_append(const RequestState& request, int64_t num_tokens) const;

  int64_t num_free() const { return static_cast<int64_t>(free_slots_.size()); }
  int64_t num_slots() const { return num_slots_; }
  int64_t capacity() const { return capacity_; }

 private:
  int64_t num_slots_;
  int64_t capacity_;
  std::vector<int64_t> free_slots_;  // lowest slot last, so it is reused first
};

struct SchedulerConfig {
  int64_t max_num_seqs = 8;              // running requests at most (KV cache slots)
  int64_t max_num_batched_tokens = 512;  // token rows per forward pass at most

  // Throws Error for values < 1 or a token budget below max_num_seqs (every
  // running request needs one row per decode step).
  void validate() const;
};

// A run of consecutive tokens of one request in the next forward pass:
// tokens [start, start + count) at positions start..start+count-1.
struct ScheduledChunk {
  RequestState* request = nullptr;
  int64_t start = 0;
  int64_t count = 0;
  bool need_logits = false;  // true when the chunk ends at the request's last token
};

struct SchedulerOutput {
  std::vector<ScheduledChunk> chunks;
  int64_t num_tokens = 0;
  int64_t num_prefill_tokens = 0;
  int64_t num_decode_tokens = 0;
  bool empty() const { return chunks.empty(); }
};

// First come, first served. Each step schedules, within the token budget:
// one decode token for every running request past its prompt, then the next
// prompt chunk of running requests still in prefill, then new requests from
// the waiting queue while slots are free. A prompt longer than the remaining
// budget is split into chunks over several steps (chunked prefill).
class Scheduler {
 public:
  // `allocator` must outlive the scheduler.
  Scheduler(SchedulerConfig config, KVSlotAllocator& allocator);

  void add(RequestState* request);
  // Removes `request` from the waiting queue or the running set and frees
  // its KV space. Does nothing for a request the scheduler does not hold.
  void remove(RequestState* request);
  SchedulerOutput schedule();

  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  const SchedulerConfig& config() const { return config_; }

 private:
  static ScheduledChunk make_chunk(RequestState* request, int64_t count);

  SchedulerConfig config_;
  KVSlotAllocator& allocator_;
  std::deque<RequestState*> waiting_;
  std::vector<RequestState*> running_;  // in admission order
};

}  // namespace swiftkv
