// Scheduler decisions: decode rows first, prompt chunks within the token
// budget, the sequence cap, block allocation, prefix-cache hits and
// preemption when blocks run out.
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

// A request whose prompt is `prompt_length` tokens counting up from `first_token`.
std::unique_ptr<RequestState> make_request(RequestId id, int64_t prompt_length, int32_t first_token = 5) {
  Request request;
  for (int64_t i = 0; i < prompt_length; ++i) request.prompt_tokens.push_back(first_token + static_cast<int32_t>(i));
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
  BlockManager blocks(/*num_blocks=*/16, /*block_size=*/4, /*enable_prefix_caching=*/true);
  Scheduler scheduler({/*max_num_seqs=*/2, /*max_num_batched_tokens=*/8}, blocks);
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
    // Blocks cover exactly the scheduled positions.
    EXPECT_EQ(static_cast<int64_t>(blocks.block_table(1).size()), (request->num_computed() + 3) / 4);
  }
  EXPECT_FALSE(request->in_prefill());
}

TEST(Scheduler, DecodesFirstThenPrefill) {
  BlockManager blocks(16, 4, true);
  Scheduler scheduler({/*max_num_seqs=*/2, /*max_num_batched_tokens=*/6}, blocks);
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

TEST(Scheduler, CapsRunningAndFreesBlocks) {
  BlockManager blocks(16, 4, true);
  Scheduler scheduler({/*max_num_seqs=*/2, /*max_num_batched_tokens=*/64}, blocks);
  auto a = make_request(1, 4);
  auto b = make_request(2, 4, 50);
  auto c = make_request(3, 4, 100);
  scheduler.add(a.get());
  scheduler.add(b.get());
  scheduler.add(c.get());
  const SchedulerOutput output = scheduler.schedule();
  EXPECT_EQ(output.chunks.size(), 2u);
  EXPECT_EQ(scheduler.num_running(), 2);
  EXPECT_EQ(scheduler.num_waiting(), 1);
  EXPECT_EQ(blocks.block_table(1).size(), 1u);
  EXPECT_EQ(blocks.block_table(2).size(), 1u);
  EXPECT_TRUE(blocks.block_table(3).empty());
  EXPECT_EQ(blocks.num_free_blocks(), 14);

  complete(output);
  scheduler.remove(a.get());
  EXPECT_TRUE(blocks.block_table(1).empty());
  EXPECT_EQ(blocks.num_free_blocks(), 15);
  sample_token(*b);
  const SchedulerOutput next = scheduler.schedule();
  ASSERT_EQ(next.chunks.size(), 2u);
  EXPECT_EQ(next.chunks[1].request, c.get());
  EXPECT_EQ(blocks.block_table(3).size(), 1u);
  EXPECT_EQ(scheduler.num_waiting(), 0);
  // b's decode token at position 4 starts its second block.
  EXPECT_EQ(blocks.block_table(2).size(), 2u);
}

TEST(Scheduler, RemoveWaitingRequest) {
  BlockManager blocks(16, 4, true);
  Scheduler scheduler({/*max_num_seqs=*/1, /*max_num_batched_tokens=*/64}, blocks);
  auto a = make_request(1, 4);
  scheduler.add(a.get());
  scheduler.remove(a.get());
  EXPECT_FALSE(scheduler.has_work());
  EXPECT_TRUE(scheduler.schedule().empty());
  EXPECT_EQ(blocks.num_free_blocks(), 16);
}

TEST(Scheduler, PreemptsNewestWhenBlocksRunOut) {
  // Four blocks of 4: two 8-token prompts fill them, and the first decode
  // token (position 8) needs a fifth.
  BlockManager blocks(/*num_blocks=*/4, /*block_size=*/4, /*enable_prefix_caching=*/true);
  Scheduler scheduler({/*max_num_seqs=*/2, /*max_num_batched_tokens=*/64}, blocks);
  auto older = make_request(1, 8);
  auto newer = make_request(2, 8, 100);
  scheduler.add(older.get());
  scheduler.add(newer.get());
  const SchedulerOutput prefill = scheduler.schedule();
  ASSERT_EQ(prefill.chunks.size(), 2u);
  EXPECT_EQ(blocks.num_free_blocks(), 0);
  complete(prefill);
  for (const ScheduledChunk& chunk : prefill.chunks) {
    blocks.cache_full_blocks(chunk.request->id(), chunk.request->tokens(), chunk.request->num_computed());
  }
  sample_token(*older);
  sample_token(*newer);

  const SchedulerOutput decode = scheduler.schedule();
  EXPECT_EQ(decode.num_preemptions, 1);
  ASSERT_EQ(decode.chunks.size(), 1u);
  EXPECT_EQ(decode.chunks[0].request, older.get());
  EXPECT_EQ(decode.num_decode_tokens, 1);
  EXPECT_EQ(scheduler.num_running(), 1);
  EXPECT_EQ(scheduler.num_waiting(), 1);
  EXPECT_EQ(newer->num_computed(), 0);
  EXPECT_TRUE(blocks.block_table(2).empty());
  EXPECT_EQ(blocks.block_table(1).size(), 3u);
  EXPECT_EQ(blocks.num_free_blocks(), 1);

  // The preempted request waits until blocks free up. Then it recomputes its
  // prompt and generated token after its first block, which survived in the
  // prefix cache. Its second block was evicted for the older request.
  complete(decode);
  sample_token(*older);
  const SchedulerOutput waiting = scheduler.schedule();
  ASSERT_EQ(waiting.chunks.size(), 1u);
  EXPECT_EQ(waiting.chunks[0].request, older.get());
  scheduler.remove(older.get());
  const SchedulerOutput resumed = scheduler.schedule();
  ASSERT_EQ(resumed.chunks.size(), 1u);
  EXPECT_EQ(resumed.chunks[0].request, newer.get());
  EXPECT_EQ(resumed.prefix_hit_tokens, 4);
  EXPECT_EQ(resumed.prefix_query_tokens, 9);
  EXPECT_EQ(resumed.chunks[0].start, 4);
  EXPECT_EQ(resumed.chunks[0].count, 5);  // 4 prompt tokens and the generated one
  EXPECT_TRUE(resumed.chunks[0].need_logits);
}

TEST(Scheduler, PreemptionNeverLosesRequests) {
  // Eight requests of 5 to 20 prompt tokens and 12 output tokens each in
  // ten blocks of 4 (one request needs at most 8): preemption happens often.
  BlockManager blocks(10, 4, true);
  Scheduler scheduler({/*max_num_seqs=*/4, /*max_num_batched_tokens=*/16}, blocks);
  std::vector<std::unique_ptr<RequestState>> requests;
  for (int i = 0; i < 8; ++i) {
    requests.push_back(make_request(static_cast<RequestId>(i + 1), 5 + 2 * i, static_cast<int32_t>(i % 3)));
    scheduler.add(requests.back().get());
  }

  // Runs steps as the engine does until every request generated 12 tokens.
  int64_t preemptions = 0;
  int64_t finished = 0;
  for (int step = 0; step < 2000 && scheduler.has_work(); ++step) {
    const SchedulerOutput output = scheduler.schedule();
    preemptions += output.num_preemptions;
    ASSERT_FALSE(output.empty()) << "no progress at step " << step;
    ASSERT_LE(output.num_tokens, 16);
    for (const ScheduledChunk& chunk : output.chunks) {
      RequestState& request = *chunk.request;
      ASSERT_EQ(chunk.start, request.num_computed());
      // The block table covers every scheduled position.
      ASSERT_GE(static_cast<int64_t>(blocks.block_table(request.id()).size()) * 4, chunk.start + chunk.count);
      request.mark_computed(chunk.count);
      blocks.cache_full_blocks(request.id(), request.tokens(), request.num_computed());
      if (!chunk.need_logits) continue;
      sample_token(request);
      if (request.num_generated() == 12) {
        scheduler.remove(&request);
        ++finished;
      }
    }
  }

  EXPECT_EQ(finished, 8);
  EXPECT_GT(preemptions, 0);
  EXPECT_FALSE(scheduler.has_work());
  EXPECT_EQ(blocks.num_free_blocks(), 10);
}

TEST(SchedulerConfig, RejectsInvalidValues) {
  EXPECT_THROW((SchedulerConfig{0, 512}.validate()), Error);
  EXPECT_THROW((SchedulerConfig{8, 4}.validate()), Error);
  EXPECT_NO_THROW((SchedulerConfig{8, 8}.validate()));
}

}  // namespace
}  // namespace swiftkv
