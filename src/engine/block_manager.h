// The block manager of the paged KV cache. It allocates fixed-size blocks to
// requests and keeps each request's block table. It also caches full blocks
// by the hash of their tokens, so requests with a common prompt prefix share
// its blocks (automatic prefix caching).
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/request.h"

namespace swiftkv {

// Hash of a full block: its tokens chained with the hash of the block
// before it (`parent`; kRootBlockHash for the first block). Equal hashes mean
// equal token prefixes up to the end of the block, so the same block of
// tokens after a different prefix gets a different hash.
constexpr uint64_t kRootBlockHash = 0x5157f7a1c0ffee11ull;
uint64_t hash_block_tokens(uint64_t parent, std::span<const int32_t> tokens);

// Cached blocks that hold the first `num_tokens` tokens of a sequence.
struct PrefixMatch {
  std::vector<int32_t> blocks;
  int64_t num_tokens = 0;
  uint64_t last_hash = kRootBlockHash;  // hash of the last block, the parent of the next
};

class BlockManager {
 public:
  // `num_blocks` physical blocks of `block_size` positions each.
  BlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching);

  // The longest run of cached full blocks that starts `tokens`, leaving at
  // least one token to compute so the last one gets logits. Empty when
  // prefix caching is off.
  PrefixMatch find_cached_prefix(std::span<const int32_t> tokens) const;

  // Grows the block table of `id` to cover `num_tokens` positions, taking
  // the blocks of `prefix` first when the request has no blocks yet.
  // Returns false, and changes nothing, when too few blocks are free.
  bool allocate(RequestId id, int64_t num_tokens, const PrefixMatch* prefix = nullptr);

  // Registers the hash of every block of `id` that the first `num_computed`
  // of `tokens` fill, so later requests can reuse it.
  void cache_full_blocks(RequestId id, std::span<const int32_t> tokens, int64_t num_computed);

  // Releases the blocks of `id`. A block whose last user leaves stays in the
  // prefix cache, if hashed, until an allocation evicts it (least recently
  // freed first). Does nothing for an id without blocks.
  void free(RequestId id);

  // Physical block ids of `id` in position order; empty without blocks.
  const std::vector<int32_t>& block_table(RequestId id) const;

  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t block_size() const { return block_size_; }
  bool prefix_caching() const { return enable_prefix_caching_; }
  // Blocks no request uses, prefix-cached ones included.
  int64_t num_free_blocks() const { return static_cast<int64_t>(free_queue_.size()); }
  // Share of blocks in use by requests, from 0 to 1.
  double usage() const;
  // Blocks that `num_tokens` positions need.
  int64_t blocks_for(int64_t num_tokens) const { return (num_tokens + block_size_ - 1) / block_size_; }

 private:
  struct Block {
    int32_t ref_count = 0;
    bool hashed = false;
    uint64_t hash = 0;
    uint64_t parent_hash = 0;
    std::vector<int32_t> tokens;                 // [block_size] when hashed
    std::list<int32_t>::iterator free_position;  // valid while ref_count == 0
  };

  // A request's blocks and how many of them are registered in the prefix cache.
  struct Allocation {
    std::vector<int32_t> blocks;
    int64_t num_hashed = 0;
    uint64_t last_hash = kRootBlockHash;
  };

  int32_t lookup(uint64_t hash, uint64_t parent_hash, std::span<const int32_t> tokens) const;
  void take(int32_t block);
  int32_t pop_free_block();
  void release(int32_t block);

  int64_t block_size_;
  bool enable_prefix_caching_;
  std::vector<Block> blocks_;
  // Blocks with no user: unhashed ones at the front, then prefix-cached ones
  // from least to most recently freed. Allocation takes the front.
  std::list<int32_t> free_queue_;
  std::unordered_map<uint64_t, int32_t> cached_;  // block hash -> block
  std::unordered_map<RequestId, Allocation> allocations_;
};

}  // namespace swiftkv
