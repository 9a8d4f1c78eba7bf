// Scheduler decisions: decode rows first, prompt chunks within the token
// budget, the sequence cap, and KV slot reuse.
#include <gtest/gtest.h>

#include <memory>

#include "core/error.h"
#include "engine/scheduler.h"
#include "formats/checkpoint.h"
#include "test_util.h"

namespace swiftkv {
namespace {

const Tokenizer& tokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer =
      make_tokenizer(load_checkpoint(testing::stories_dir() + "/stories260Ktok512.gguf").vocab);
  return *tokenizer;
}

std::unique_ptr<RequestState> make_request(RequestId id, int64_t prompt_length) {
  Request request;
  request.prompt_tokens.assign(static_cast<size_t>(prompt_length), 5);
  request.sampling.temperature = 0.0f;
  return std::make_unique<RequestState>(id, request, tokenizer(), std::vector<int32_t>{}, /*max_tokens=*/100);
}

// Marks every scheduled chunk as computed, as the engine does after a forward.
void complete(const SchedulerOutput& output) {
  for (const ScheduledChunk& chunk : output.chunks) chunk.request->mark_computed(chunk.count);
}

// Appends a sampled token to a request whose prompt is fully computed.
void sample_token(RequestState& request) {
  std::vector<float> logits(512, 0.0f);
  logits[7] = 1.0f;
  request.append_sampled(logits);
}

TEST(Scheduler, ChunksLongPromptWithinBudget) {
  KVSlotAllocator allocator(2, 64);
  Scheduler scheduler({/*max_num_seqs=*/2, /*max_num_batched_tokens=*/8}, allocator);
  auto request = make_request(1, 20);
  scheduler.add(request.get());

  const int64_t expected_counts[] = {8, 8, 4};
  for (int64_t expected : expected_counts) {
    const SchedulerOutput output = scheduler.schedule();
    ASSERT_EQ(output.chunks.size(), 1u);
    EXPECT_EQ(output.chunks[0].count, expected);
    EXPECT_EQ(output.chunks[0].start, request->num_computed());
    EXPECT_EQ(output.chunks[0].need_logits, expected == 4);
    complete(output);
  }
  EXPECT_FALSE(request->in_prefill());
}

TEST(Scheduler, DecodesFirstThenPrefill) {
  KVSlotAllocator allocator(2, 64);
  Scheduler scheduler({/*max_num_seqs=*/2, /*max_num_batched_tokens=*/6}, allocator);
  auto first = make_request(1, 3);
  scheduler.add(first.get());
  complete(scheduler.schedule());
  sample_token(*first);

  auto second = make_request(2, 10);
  scheduler.add(second.get());
  const SchedulerOutput output = scheduler.schedule();
  ASSERT_EQ(output.chunks.size(), 2u);
  EXPECT_EQ(output.chunks[0].request, first.get());
  EXPECT_EQ(output.chunks[0].count, 1);
  EXPECT_TRUE(output.chunks[0].need_logits);
  EXPECT_EQ(output.chunks[1].request, second.get());
  EXPECT_EQ(output.chunks[1].count, 5);
  EXPECT_FALSE(output.chunks[1].need_logits);
  EXPECT_EQ(output.num_decode_tokens, 1);
  EXPECT_EQ(output.num_prefill_tokens, 5);
}

TEST(Scheduler, CapsRunningAndReusesSlots) {
  KVSlotAllocator allocator(2, 64);
  Scheduler scheduler({/*max_num_seqs=*/2, /*max_num_batched_tokens=*/64}, allocator);
  auto a = make_request(1, 4);
  auto b = make_request(2, 4);
  auto c = make_request(3, 4);
  scheduler.add(a.get());
  scheduler.add(b.get());
  scheduler.add(c.get());
  const SchedulerOutput output = scheduler.schedule();
  EXPECT_EQ(output.chunks.size(), 2u);
  EXPECT_EQ(scheduler.num_running(), 2);
  EXPECT_EQ(scheduler.num_waiting(), 1);
  EXPECT_EQ(a->slot(), 0);
  EXPECT_EQ(b->slot(), 1);
  EXPECT_EQ(c->slot(), -1);
  EXPECT_EQ(allocator.num_free(), 0);

  complete(output);
  scheduler.remove(a.get());
  EXPECT_EQ(a->slot(), -1);
  EXPECT_EQ(allocator.num_free(), 1);
  sample_token(*b);
  const SchedulerOutput next = scheduler.schedule();
  ASSERT_EQ(next.chunks.size(), 2u);
  EXPECT_EQ(next.chunks[1].request, c.get());
  EXPECT_EQ(c->slot(), 0);
  EXPECT_EQ(scheduler.num_waiting(), 0);
}

TEST(Scheduler, RemoveWaitingRequest) {
  KVSlotAllocator allocator(1, 64);
  Scheduler scheduler({/*max_num_seqs=*/1, /*max_num_batched_tokens=*/64}, allocator);
  auto a = make_request(1, 4);
  scheduler.add(a.get());
  scheduler.remove(a.get());
  EXPECT_FALSE(scheduler.has_work());
  EXPECT_TRUE(scheduler.schedule().empty());
  EXPECT_EQ(allocator.num_free(), 1);
}

TEST(SchedulerConfig, RejectsInvalidValues) {
  EXPECT_THROW((SchedulerConfig{0, 512}.validate()), Error);
  EXPECT_THROW((SchedulerConfig{8, 4}.validate()), Error);
  EXPECT_NO_THROW((SchedulerConfig{8, 8}.validate()));
}

}  // namespace
}  // namespace swiftkv
