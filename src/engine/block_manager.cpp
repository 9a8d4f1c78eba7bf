#include "engine/block_manager.h"

#include <algorithm>
#include <climits>

#include "core/error.h"

namespace swiftkv {
namespace {

// The splitmix64 finalizer: every input bit changes about half the output bits.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t hash_block_tokens(uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t hash = mix(parent ^ (static_cast<uint64_t>(tokens.size()) << 32));
  for (int32_t token : tokens) hash = mix(hash + static_cast<uint32_t>(token) + 0x9e3779b97f4a7c15ull);
  return hash;
}

BlockManager::BlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching)
    : block_size_(block_size), enable_prefix_caching_(enable_prefix_caching) {
  SKV_ASSERT(num_blocks >= 1 && num_blocks <= INT32_MAX && block_size >= 1);
  blocks_.resize(static_cast<size_t>(num_blocks));
  for (int32_t block = 0; block < static_cast<int32_t>(num_blocks); ++block) {
    blocks_[block].free_position = free_queue_.insert(free_queue_.end(), block);
  }
}

double BlockManager::usage() const {
  return 1.0 - static_cast<double>(num_free_blocks()) / static_cast<double>(num_blocks());
}

// The cached block with `hash`, or -1. The tokens and the parent hash are
// compared too, so a 64-bit hash collision cannot return wrong K/V.
int32_t BlockManager::lookup(uint64_t hash, uint64_t parent_hash, std::span<const int32_t> tokens) const {
  const auto found = cached_.find(hash);
  if (found == cached_.end()) return -1;
  const Block& block = blocks_[static_cast<size_t>(found->second)];
  if (block.parent_hash != parent_hash || !std::equal(tokens.begin(), tokens.end(), block.tokens.begin(),
                                                      block.tokens.end())) {
    return -1;
  }
  return found->second;
}

PrefixMatch BlockManager::find_cached_prefix(std::span<const int32_t> tokens) const {
  PrefixMatch match;
  if (!enable_prefix_caching_ || tokens.empty()) return match;
  // Only full blocks are cached, and the last token is always computed.
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / block_size_;
  for (int64_t b = 0; b < max_blocks; ++b) {
    const std::span<const int32_t> block_tokens = tokens.subspan(static_cast<size_t>(b * block_size_),
                                                                 static_cast<size_t>(block_size_));
    const uint64_t hash = hash_block_tokens(match.last_hash, block_tokens);
    const int32_t block = lookup(hash, match.last_hash, block_tokens);
    if (block < 0) break;
    match.blocks.push_back(block);
    match.last_hash = hash;
  }
  match.num_tokens = static_cast<int64_t>(match.blocks.size()) * block_size_;
  return match;
}

// Adds a user to `block`, taking it out of the free queue if it was there.
void BlockManager::take(int32_t block) {
  Block& entry = blocks_[static_cast<size_t>(block)];
  if (entry.ref_count == 0) free_queue_.erase(entry.free_position);
  ++entry.ref_count;
}

// Takes the front of the free queue, evicting its prefix-cache entry.
int32_t BlockManager::pop_free_block() {
  SKV_ASSERT(!free_queue_.empty());
  const int32_t block = free_queue_.front();
  Block& entry = blocks_[static_cast<size_t>(block)];
  if (entry.hashed) {
    cached_.erase(entry.hash);
    entry.hashed = false;
    entry.tokens.clear();
  }
  take(block);
  return block;
}

void BlockManager::release(int32_t block) {
  Block& entry = blocks_[static_cast<size_t>(block)];
  SKV_ASSERT(entry.ref_count > 0);
  if (--entry.ref_count > 0) return;
  // An unhashed block holds nothing worth keeping, so it is reused first.
  entry.free_position =
      entry.hashed ? free_queue_.insert(free_queue_.end(), block) : free_queue_.insert(free_queue_.begin(), block);
}

bool BlockManager::allocate(RequestId id, int64_t num_tokens, const PrefixMatch* prefix) {
  const auto found = allocations_.find(id);
  const int64_t existing = found == allocations_.end() ? 0 : static_cast<int64_t>(found->second.blocks.size());
  const bool use_prefix = prefix != nullptr && existing == 0 && !prefix->blocks.empty();
  const int64_t prefix_blocks = use_prefix ? static_cast<int64_t>(prefix->blocks.size()) : 0;
  const int64_t new_blocks = std::max<int64_t>(0, blocks_for(num_tokens) - existing - prefix_blocks);

  // Prefix blocks without a user are in the free queue, but not free for new blocks.
  int64_t available = num_free_blocks();
  if (use_prefix) {
    for (int32_t block : prefix->blocks) available -= blocks_[static_cast<size_t>(block)].ref_count == 0 ? 1 : 0;
  }
  if (new_blocks > available) return false;
  if (existing == 0 && new_blocks == 0 && prefix_blocks == 0) return true;

  Allocation& allocation = allocations_[id];
  if (use_prefix) {
    for (int32_t block : prefix->blocks) {
      take(block);
      allocation.blocks.push_back(block);
    }
    allocation.num_hashed = prefix_blocks;
    allocation.last_hash = prefix->last_hash;
  }
  for (int64_t i = 0; i < new_blocks; ++i) allocation.blocks.push_back(pop_free_block());
  return true;
}

void BlockManager::cache_full_blocks(RequestId id, std::span<const int32_t> tokens, int64_t num_computed) {
  if (!enable_prefix_caching_) return;
  const auto found = allocations_.find(id);
  if (found == allocations_.end()) return;
  Allocation& allocation = found->second;
  const int64_t full_blocks = std::min<int64_t>(num_computed / block_size_,
                                                static_cast<int64_t>(allocation.blocks.size()));
  for (int64_t b = allocation.num_hashed; b < full_blocks; ++b) {
    const std::span<const int32_t> block_tokens = tokens.subspan(static_cast<size_t>(b * block_size_),
                                                                 static_cast<size_t>(block_size_));
    const uint64_t hash = hash_block_tokens(allocation.last_hash, block_tokens);
    Block& entry = blocks_[static_cast<size_t>(allocation.blocks[b])];
    // Another request may have cached the same tokens first; its block stays
    // the cached one and this copy is freed unhashed.
    if (!entry.hashed && cached_.find(hash) == cached_.end()) {
      entry.hashed = true;
      entry.hash = hash;
      entry.parent_hash = allocation.last_hash;
      entry.tokens.assign(block_tokens.begin(), block_tokens.end());
      cached_[hash] = allocation.blocks[b];
    }
    allocation.last_hash = hash;
    allocation.num_hashed = b + 1;
  }
}

void BlockManager::free(RequestId id) {
  const auto found = allocations_.find(id);
  if (found == allocations_.end()) return;
  // The last blocks of a sequence are the least likely to be shared, so
  // they are freed first and evicted before the prefix they extend.
  const std::vector<int32_t>& blocks = found->second.blocks;
  for (auto block = blocks.rbegin(); block != blocks.rend(); ++block) release(*block);
  allocations_.erase(found);
}

const std::vector<int32_t>& BlockManager::block_table(RequestId id) const {
  static const std::vector<int32_t> kNoBlocks;
  const auto found = allocations_.find(id);
  return found == allocations_.end() ? kNoBlocks : found->second.blocks;
}

}  // namespace swiftkv
