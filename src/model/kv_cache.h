// Paged key/value cache addressed through a slot map (layer -> cache slot)
// and per-sequence block tables (logical block -> physical block).
//
// An ordinary model has one slot per layer. A SwiftKV model with AcrossKV
// group size G shares one slot among the G layers of each group above K,
// so it has K + (L - K) / G slots, and a block of the same bytes holds
// L / (K + (L - K) / G) times more tokens.
//
// The pool contains `num_blocks` physical blocks of `block_size` positions.
// Position p of sequence s is row p % block_size of physical block
// block_table(s)[p / block_size]. A contiguous cache is the special case of
// one block per sequence whose table is {s}.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "formats/model_config.h"

namespace swiftkv {

class KVCache {
 public:
  // A pool of `num_blocks` blocks of `block_size` positions and no block
  // tables yet. `swiftkv` selects the SwiftKV slot map (the config must be
  // SwiftKV). The memory is zeroed lazily by the operating system, so
  // untouched blocks cost no resident memory.
  KVCache(const ModelConfig& config, bool swiftkv, int64_t num_blocks, int64_t block_size);

  int64_t num_slots() const { return num_slots_; }
  int64_t slot_for_layer(int64_t layer) const { return slot_of_layer_[static_cast<size_t>(layer)]; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t row_floats() const { return row_floats_; }  // HKV * DH

  // Sets the physical blocks of sequence `seq`; sequences are numbered from
  // 0 and the table list grows as needed. Every id must be below num_blocks().
  void set_block_table(int64_t seq, std::vector<int32_t> table);
  const std::vector<int32_t>& block_table(int64_t seq) const { return tables_[static_cast<size_t>(seq)]; }
  // Sequences with a block table.
  int64_t num_sequences() const { return static_cast<int64_t>(tables_.size()); }
  // Positions sequence `seq` can hold with its current table.
  int64_t capacity(int64_t seq) const { return static_cast<int64_t>(block_table(seq).size()) * block_size_; }

  // Row of HKV * DH floats for (sequence, slot, position).
  float* key(int64_t seq, int64_t slot, int64_t pos) { return keys_.get() + offset(seq, slot, pos); }
  float* value(int64_t seq, int64_t slot, int64_t pos) { return values_.get() + offset(seq, slot, pos); }
  // Row 0 of `slot` in physical block 0; AttentionRow::keys/values.
  const float* slot_keys(int64_t slot) const { return keys_.get() + slot * block_size_ * row_floats_; }
  const float* slot_values(int64_t slot) const { return values_.get() + slot * block_size_ * row_floats_; }
  // Floats from one physical block to the next (AttentionRow::block_stride).
  int64_t block_stride() const { return num_slots_ * block_size_ * row_floats_; }

  // Cache bytes one token occupies (keys and values, all slots).
  int64_t bytes_per_token() const { return 2 * num_slots_ * row_floats_ * static_cast<int64_t>(sizeof(float)); }
  int64_t bytes_per_block() const { return bytes_per_token() * block_size_; }
  int64_t total_bytes() const { return bytes_per_block() * num_blocks_; }

 private:
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };

  int64_t offset(int64_t seq, int64_t slot, int64_t pos) const {
    const int64_t block = block_table(seq)[static_cast<size_t>(pos / block_size_)];
    return ((block * num_slots_ + slot) * block_size_ + pos % block_size_) * row_floats_;
  }

  int64_t num_blocks_;
  int64_t block_size_;
  int64_t row_floats_;
  int64_t num_slots_ = 0;
  std::vector<int64_t> slot_of_layer_;
  std::vector<std::vector<int32_t>> tables_;   // per sequence
  std::unique_ptr<float, FreeDeleter> keys_;    // [blocks, slots, block_size, HKV * DH]
  std::unique_ptr<float, FreeDeleter> values_;  // [blocks, slots, block_size, HKV * DH]
};

// Slots of the KV cache for `config` (see KVCache): L, or K + (L - K) / G
// with SwiftKV.
int64_t num_kv_slots(const ModelConfig& config, bool swiftkv);

}  // namespace swiftkv
