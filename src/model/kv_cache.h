// Key/value cache addressed through a slot map (layer -> cache slot).
//
// An ordinary model has one slot per layer. A SwiftKV model with AcrossKV
// group size G shares one slot among the G layers of each group above K,
// so it has K + (L - K) / G slots.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/model_config.h"

namespace swiftkv {

class KVCache {
 public:
  // Room for `num_sequences` sequences of up to `capacity` positions each.
  // `swiftkv` selects the SwiftKV slot map (the config must be SwiftKV).
  KVCache(const ModelConfig& config, bool swiftkv, int64_t num_sequences, int64_t capacity);

  int64_t num_slots() const { return num_slots_; }
  int64_t slot_for_layer(int64_t layer) const { return slot_of_layer_[static_cast<size_t>(layer)]; }
  int64_t capacity() const { return capacity_; }
  int64_t num_sequences() const { return num_sequences_; }
  int64_t row_floats() const { return row_floats_; }  // HKV * DH

  // Row of HKV * DH floats for (sequence, slot, position).
  float* key(int64_t seq, int64_t slot, int64_t pos) { return keys_.data() + offset(seq, slot, pos); }
  float* value(int64_t seq, int64_t slot, int64_t pos) { return values_.data() + offset(seq, slot, pos); }

  // Cache bytes one token of one sequence occupies (keys and values, all slots).
  int64_t bytes_per_token() const { return 2 * num_slots_ * row_floats_ * static_cast<int64_t>(sizeof(float)); }
  int64_t total_bytes() const { return bytes_per_token() * capacity_ * num_sequences_; }

 private:
  int64_t offset(int64_t seq, int64_t slot, int64_t pos) const {
    return ((seq * num_slots_ + slot) * capacity_ + pos) * row_floats_;
  }

  int64_t num_sequences_;
  int64_t capacity_;
  int64_t row_floats_;
  int64_t num_slots_ = 0;
  std::vector<int64_t> slot_of_layer_;
  std::vector<float> keys_;    // [sequences, slots, S, HKV * DH]
  std::vector<float> values_;  // [sequences, slots, S, HKV * DH]
};

}  // namespace swiftkv
