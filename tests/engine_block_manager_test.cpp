// The block manager of the paged KV cache: allocation and freeing, reference
// counts of shared prefix blocks, prefix hash chaining and LRU eviction of
// cached blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "engine/block_manager.h"

namespace swiftkv {
namespace {

std::vector<int32_t> count_up(int32_t first, int64_t length) {
  std::vector<int32_t> tokens(static_cast<size_t>(length));
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}

// Allocates and caches `tokens` as if request `id` had computed all of them.
void compute(BlockManager& blocks, RequestId id, const std::vector<int32_t>& tokens) {
  const PrefixMatch prefix = blocks.find_cached_prefix(tokens);
  ASSERT_TRUE(blocks.allocate(id, static_cast<int64_t>(tokens.size()), &prefix));
  blocks.cache_full_blocks(id, tokens, static_cast<int64_t>(tokens.size()));
}

TEST(BlockManager, AllocatesGrowsAndFrees) {
  BlockManager blocks(/*num_blocks=*/8, /*block_size=*/4, /*enable_prefix_caching=*/false);
  EXPECT_EQ(blocks.num_free_blocks(), 8);
  ASSERT_TRUE(blocks.allocate(1, 5));
  EXPECT_EQ(blocks.block_table(1).size(), 2u);
  ASSERT_TRUE(blocks.allocate(1, 8));  // still two blocks
  EXPECT_EQ(blocks.block_table(1).size(), 2u);
  ASSERT_TRUE(blocks.allocate(1, 9));
  EXPECT_EQ(blocks.block_table(1).size(), 3u);
  ASSERT_TRUE(blocks.allocate(2, 16));
  EXPECT_EQ(blocks.num_free_blocks(), 1);
  EXPECT_DOUBLE_EQ(blocks.usage(), 7.0 / 8.0);

  // Every block id appears once.
  std::vector<int32_t> all = blocks.block_table(1);
  all.insert(all.end(), blocks.block_table(2).begin(), blocks.block_table(2).end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());

  blocks.free(1);
  blocks.free(2);
  blocks.free(3);  // no blocks: nothing happens
  EXPECT_EQ(blocks.num_free_blocks(), 8);
  EXPECT_TRUE(blocks.block_table(1).empty());
}

TEST(BlockManager, FailedAllocationChangesNothing) {
  BlockManager blocks(4, 4, false);
  ASSERT_TRUE(blocks.allocate(1, 8));
  EXPECT_FALSE(blocks.allocate(2, 12));
  EXPECT_TRUE(blocks.block_table(2).empty());
  EXPECT_FALSE(blocks.allocate(1, 17));
  EXPECT_EQ(blocks.block_table(1).size(), 2u);
  EXPECT_EQ(blocks.num_free_blocks(), 2);
}

TEST(BlockManager, HashChainsPriorContext) {
  const std::vector<int32_t> block = count_up(10, 4);
  const uint64_t first = hash_block_tokens(kRootBlockHash, block);
  EXPECT_EQ(first, hash_block_tokens(kRootBlockHash, block));
  // The same tokens after a different prefix hash differently.
  const uint64_t after_a = hash_block_tokens(hash_block_tokens(kRootBlockHash, count_up(0, 4)), block);
  const uint64_t after_b = hash_block_tokens(hash_block_tokens(kRootBlockHash, count_up(1, 4)), block);
  EXPECT_NE(after_a, after_b);
  EXPECT_NE(after_a, first);
  // Order matters inside a block.
  EXPECT_NE(hash_block_tokens(kRootBlockHash, std::vector<int32_t>{1, 2}),
            hash_block_tokens(kRootBlockHash, std::vector<int32_t>{2, 1}));
}

TEST(BlockManager, SharesCachedPrefixByRefCount) {
  BlockManager blocks(8, 4, true);
  const std::vector<int32_t> prompt = count_up(0, 10);  // two full blocks and two tokens
  compute(blocks, 1, prompt);
  EXPECT_EQ(blocks.num_free_blocks(), 5);

  // Same first 8 tokens, different tail: both full blocks hit.
  std::vector<int32_t> other = count_up(0, 8);
  other.push_back(99);
  const PrefixMatch match = blocks.find_cached_prefix(other);
  EXPECT_EQ(match.num_tokens, 8);
  ASSERT_EQ(match.blocks.size(), 2u);
  EXPECT_EQ(match.blocks[0], blocks.block_table(1)[0]);
  EXPECT_EQ(match.blocks[1], blocks.block_table(1)[1]);
  ASSERT_TRUE(blocks.allocate(2, 9, &match));
  EXPECT_EQ(blocks.num_free_blocks(), 4);  // only the tail block is new

  // The shared blocks stay in use until their last user leaves.
  blocks.free(1);
  EXPECT_EQ(blocks.num_free_blocks(), 5);
  blocks.free(2);
  EXPECT_EQ(blocks.num_free_blocks(), 8);
  // Freed but still cached: the prefix still hits.
  EXPECT_EQ(blocks.find_cached_prefix(other).num_tokens, 8);
}

TEST(BlockManager, PrefixMissAfterDifferentContext) {
  BlockManager blocks(8, 4, true);
  compute(blocks, 1, count_up(0, 9));
  // The second block's tokens after a different first block: no hit at all.
  std::vector<int32_t> other = count_up(100, 4);
  const std::vector<int32_t> second_block = count_up(4, 4);
  other.insert(other.end(), second_block.begin(), second_block.end());
  other.push_back(7);
  EXPECT_EQ(blocks.find_cached_prefix(other).num_tokens, 0);
}

TEST(BlockManager, KeepsLastTokenUncached) {
  BlockManager blocks(8, 4, true);
  const std::vector<int32_t> prompt = count_up(0, 8);
  compute(blocks, 1, prompt);
  // Both blocks are cached, but a full hit would leave nothing to compute.
  EXPECT_EQ(blocks.find_cached_prefix(prompt).num_tokens, 4);
  EXPECT_EQ(blocks.find_cached_prefix(count_up(0, 9)).num_tokens, 8);
}

TEST(BlockManager, DisabledCachingNeverHits) {
  BlockManager blocks(8, 4, false);
  compute(blocks, 1, count_up(0, 9));
  EXPECT_EQ(blocks.find_cached_prefix(count_up(0, 9)).num_tokens, 0);
}

TEST(BlockManager, EvictsLeastRecentlyFreedFirst) {
  BlockManager blocks(4, 2, true);
  compute(blocks, 1, count_up(0, 3));   // block [0, 1] cached, [2] not
  compute(blocks, 2, count_up(50, 3));  // block [50, 51] cached, [52] not
  blocks.free(1);
  blocks.free(2);
  EXPECT_EQ(blocks.num_free_blocks(), 4);

  // Two new blocks take the two unhashed ones; both prefixes survive.
  ASSERT_TRUE(blocks.allocate(3, 4));
  EXPECT_EQ(blocks.find_cached_prefix(count_up(0, 3)).num_tokens, 2);
  EXPECT_EQ(blocks.find_cached_prefix(count_up(50, 3)).num_tokens, 2);

  // The next block evicts request 1's prefix, freed before request 2's.
  ASSERT_TRUE(blocks.allocate(4, 2));
  EXPECT_EQ(blocks.find_cached_prefix(count_up(0, 3)).num_tokens, 0);
  EXPECT_EQ(blocks.find_cached_prefix(count_up(50, 3)).num_tokens, 2);
}

TEST(BlockManager, HitRemovesBlockFromEviction) {
  BlockManager blocks(3, 2, true);
  compute(blocks, 1, count_up(0, 3));
  blocks.free(1);
  // Request 2 reuses the cached block, so the two blocks it needs besides it
  // leave nothing for a third request.
  const PrefixMatch match = blocks.find_cached_prefix(count_up(0, 5));
  ASSERT_EQ(match.num_tokens, 2);
  ASSERT_TRUE(blocks.allocate(2, 5, &match));
  blocks.cache_full_blocks(2, count_up(0, 5), 5);
  EXPECT_EQ(blocks.num_free_blocks(), 0);
  EXPECT_FALSE(blocks.allocate(3, 1));
  // A prefix that needs its cached block plus more than the rest fails whole.
  blocks.free(2);
  const PrefixMatch again = blocks.find_cached_prefix(count_up(0, 7));
  ASSERT_EQ(again.num_tokens, 4);
  EXPECT_FALSE(blocks.allocate(4, 9, &again));
  EXPECT_EQ(blocks.num_free_blocks(), 3);
}

}  // namespace
}  // namespace swiftkv
