// Continuous batching: which requests run in the next forward pass, and how
// many of their tokens, under a token budget and a cap on running requests.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/block_manager.h"
#include "engine/request_state.h"

namespace swiftkv {

struct SchedulerConfig {
  int64_t max_num_seqs = 8;              // running requests at most
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
  int64_t num_preemptions = 0;       // running requests preempted by this step
  int64_t prefix_query_tokens = 0;   // tokens of newly admitted requests looked up in the prefix cache
  int64_t prefix_hit_tokens = 0;     // of those, tokens found in cached blocks (not computed)
  bool empty() const { return chunks.empty(); }
};

// First come, first served. Each step schedules, within the token budget:
// one decode token for every running request past its prompt, then the next
// prompt chunk of running requests still in prefill, then new requests from
// the waiting queue while fewer than max_num_seqs run and blocks are free.
// A prompt longer than the remaining budget is split into chunks over
// several steps (chunked prefill). A new request starts after its longest
// prefix of cached blocks.
//
// When a running request needs a block and none is free, the newest running
// request is preempted. Its blocks are freed and it returns to the front of
// the waiting queue. Later it recomputes its prompt and generated tokens,
// starting after the blocks that survived in the prefix cache. No request is
// admitted in a step that preempted one.
class Scheduler {
 public:
  // `blocks` must outlive the scheduler.
  Scheduler(SchedulerConfig config, BlockManager& blocks);

  void add(RequestState* request);
  // Removes `request` from the waiting queue or the running set and frees
  // its blocks. Does nothing for a request the scheduler does not hold.
  void remove(RequestState* request);
  // Allocates the blocks of the chunks it returns.
  SchedulerOutput schedule();

  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  const SchedulerConfig& config() const { return config_; }

 private:
  static ScheduledChunk make_chunk(RequestState* request, int64_t count);
  bool allocate_or_preempt(RequestState* request, int64_t count, SchedulerOutput& output, int64_t& budget);
  void preempt_newest(SchedulerOutput& output, int64_t& budget);
  void admit_waiting(SchedulerOutput& output, int64_t& budget);

  SchedulerConfig config_;
  BlockManager& blocks_;
  std::deque<RequestState*> waiting_;
  std::vector<RequestState*> running_;  // in admission order
};

}  // namespace swiftkv
