// The tiled online-softmax (flash-style) attention kernel, written once over
// a small set of vector operations (`Ops`) and instantiated by
// attention_avx512.cpp and attention_avx2.cpp with their own Ops.
//
// Ops provides: Vec, kWidth (floats per Vec), zero, load, store, set1, add,
// sub, mul, max, fmadd(a, b, c) = a * b + c, exp, reduce_add, reduce_max,
// transpose_sum(acc[kWidth]) (lane i = sum of the lanes of acc[i]) and
// keep_first(v, count, fill) (lanes >= count replaced by fill).
//
// Everything here has internal linkage, so each instruction-set file gets its
// own copy built with its own compiler flags.
#pragma once

#include <math.h>

#include <cstdint>
#include <limits>

#include "kernels/attention_simd.h"

namespace swiftkv::attention_detail {
namespace {

constexpr float kNegativeInfinity = -std::numeric_limits<float>::infinity();

// Computes scores[0..count) = scale * q . key_p for the `count` positions of
// a tile. It writes whole vectors, and the padding lanes past count get -inf.
template <class Ops>
void compute_scores(const float* q, const float* keys, int64_t row_stride, int64_t DH, int64_t count,
                    float scale, float* scores) {
  constexpr int kWidth = Ops::kWidth;
  for (int64_t block = 0; block < count; block += kWidth) {
    // Padding lanes re-read the last valid row, so every load stays in bounds.
    const float* key_rows[kWidth];
#pragma GCC unroll 16
    for (int i = 0; i < kWidth; ++i) {
      const int64_t position = block + i < count ? block + i : count - 1;
      key_rows[i] = keys + position * row_stride;
    }

    // One accumulator per position contains kWidth partial sums of its dot
    // product, and transpose_sum adds them up for all positions at once.
    typename Ops::Vec partial[kWidth];
#pragma GCC unroll 16
    for (int i = 0; i < kWidth; ++i) partial[i] = Ops::zero();
    for (int64_t c = 0; c < DH; c += kWidth) {
      const typename Ops::Vec q_chunk = Ops::load(q + c);
#pragma GCC unroll 16
      for (int i = 0; i < kWidth; ++i) partial[i] = Ops::fmadd(q_chunk, Ops::load(key_rows[i] + c), partial[i]);
    }

    typename Ops::Vec block_scores = Ops::mul(Ops::transpose_sum(partial), Ops::set1(scale));
    if (count - block < kWidth) block_scores = Ops::keep_first(block_scores, count - block, kNegativeInfinity);
    Ops::store(scores + block, block_scores);
  }
}

// Turns a tile of scores into unnormalised weights exp(score - new_max) in
// place and updates the running max and sum. Returns exp(old_max - new_max),
// the factor that rescales what was accumulated before this tile.
template <class Ops>
float softmax_tile(float* scores, int64_t count, float* running_max, float* running_sum) {
  constexpr int kWidth = Ops::kWidth;
  typename Ops::Vec max_lanes = Ops::set1(kNegativeInfinity);
  for (int64_t block = 0; block < count; block += kWidth) max_lanes = Ops::max(max_lanes, Ops::load(scores + block));
  const float tile_max = Ops::reduce_max(max_lanes);
  const float new_max = tile_max > *running_max ? tile_max : *running_max;
  // The first tile has running_max = -inf, so the correction is expf(-inf) = 0.
  const float correction = expf(*running_max - new_max);

  const typename Ops::Vec shift = Ops::set1(new_max);
  typename Ops::Vec sum_lanes = Ops::zero();
  for (int64_t block = 0; block < count; block += kWidth) {
    const typename Ops::Vec weights = Ops::exp(Ops::sub(Ops::load(scores + block), shift));
    Ops::store(scores + block, weights);
    sum_lanes = Ops::add(sum_lanes, weights);
  }
  *running_sum = *running_sum * correction + Ops::reduce_add(sum_lanes);
  *running_max = new_max;
  return correction;
}

// out[kChunks * kWidth] = out * correction + sum_p weights[p] * value_p,
// with the output slice kept in registers across the tile's positions.
template <class Ops, int kChunks>
void accumulate_chunks(const float* weights, const float* values, int64_t row_stride, int64_t count,
                       float correction, float* out) {
  constexpr int kWidth = Ops::kWidth;
  typename Ops::Vec acc[kChunks];
  const typename Ops::Vec scale = Ops::set1(correction);
#pragma GCC unroll 8
  for (int k = 0; k < kChunks; ++k) acc[k] = Ops::mul(Ops::load(out + k * kWidth), scale);

  for (int64_t p = 0; p < count; ++p) {
    const typename Ops::Vec weight = Ops::set1(weights[p]);
    const float* value_row = values + p * row_stride;
#pragma GCC unroll 8
    for (int k = 0; k < kChunks; ++k) acc[k] = Ops::fmadd(weight, Ops::load(value_row + k * kWidth), acc[k]);
  }

#pragma GCC unroll 8
  for (int k = 0; k < kChunks; ++k) Ops::store(out + k * kWidth, acc[k]);
}

// Applies accumulate_chunks to out[DH] in slices of at most 8 vectors, the
// most that fit in registers beside the weight and the loads.
template <class Ops>
void accumulate_values(const float* weights, const float* values, int64_t row_stride, int64_t count, int64_t DH,
                       float correction, float* out) {
  constexpr int kWidth = Ops::kWidth;
  constexpr int kMaxChunks = 8;
  for (int64_t c = 0; c < DH; c += kMaxChunks * kWidth) {
    const int64_t remaining = (DH - c) / kWidth;
    const int chunks = remaining < kMaxChunks ? static_cast<int>(remaining) : kMaxChunks;
    const float* value_slice = values + c;
    float* out_slice = out + c;
    switch (chunks) {
      case 1: accumulate_chunks<Ops, 1>(weights, value_slice, row_stride, count, correction, out_slice); break;
      case 2: accumulate_chunks<Ops, 2>(weights, value_slice, row_stride, count, correction, out_slice); break;
      case 3: accumulate_chunks<Ops, 3>(weights, value_slice, row_stride, count, correction, out_slice); break;
      case 4: accumulate_chunks<Ops, 4>(weights, value_slice, row_stride, count, correction, out_slice); break;
      case 5: accumulate_chunks<Ops, 5>(weights, value_slice, row_stride, count, correction, out_slice); break;
      case 6: accumulate_chunks<Ops, 6>(weights, value_slice, row_stride, count, correction, out_slice); break;
      case 7: accumulate_chunks<Ops, 7>(weights, value_slice, row_stride, count, correction, out_slice); break;
      default: accumulate_chunks<Ops, 8>(weights, value_slice, row_stride, count, correction, out_slice); break;
    }
  }
}

// Runs every query head of `task` over the positions in tiles. All heads of
// the task read each K/V tile while it is in the L1 cache. A head stops at its
// own n, so rows of one sequence with different causal lengths share a task.
// A task with `partial` set covers [begin, end) and leaves the normalisation
// to merge_partials.
template <class Ops>
void attend_kv_group(const KvGroupTask& task) {
  constexpr int kWidth = Ops::kWidth;
  const int64_t DH = task.DH;
  const int64_t tile = tile_positions(DH);
  float* scores = task.scratch;
  float* accumulators = scores + tile;
  float* running_max = accumulators + task.head_count * DH;
  float* running_sum = running_max + task.head_count;

  int64_t n_max = 0;
  for (int64_t h = 0; h < task.head_count; ++h) {
    const int64_t n = task.heads[h].n < task.end ? task.heads[h].n : task.end;
    if (n > n_max) n_max = n;
    running_max[h] = kNegativeInfinity;
    running_sum[h] = 0.0f;
    for (int64_t d = 0; d < DH; d += kWidth) Ops::store(accumulators + h * DH + d, Ops::zero());
  }

  for (int64_t t0 = task.begin; t0 < n_max;) {
    // A paged cache ends the tile at the block boundary, because the next
    // block can be anywhere in the pool. Tiles never span physically adjacent
    // blocks either, so the summation order, and with it a row's result,
    // does not depend on which blocks the row's sequence was given.
    int64_t tile_length = tile;
    int64_t offset = t0 * task.row_stride;
    if (task.block_table != nullptr) {
      const int64_t in_block = t0 % task.block_size;
      const int64_t block_left = task.block_size - in_block;
      if (block_left < tile_length) tile_length = block_left;
      offset = task.block_table[t0 / task.block_size] * task.block_stride + in_block * task.row_stride;
    }
    const float* key_tile = task.keys + offset;
    const float* value_tile = task.values + offset;
    for (int64_t h = 0; h < task.head_count; ++h) {
      const int64_t end = task.heads[h].n < task.end ? task.heads[h].n : task.end;
      const int64_t left = end - t0;
      if (left <= 0) continue;
      const int64_t count = left < tile_length ? left : tile_length;
      compute_scores<Ops>(task.heads[h].q, key_tile, task.row_stride, DH, count, task.scale, scores);
      const float correction = softmax_tile<Ops>(scores, count, &running_max[h], &running_sum[h]);
      accumulate_values<Ops>(scores, value_tile, task.row_stride, count, DH, correction,
                             accumulators + h * DH);
    }
    t0 += tile_length;
  }

  for (int64_t h = 0; h < task.head_count; ++h) {
    if (task.partial != nullptr) {
      task.partial[2 * h] = running_max[h];
      task.partial[2 * h + 1] = running_sum[h];
      for (int64_t d = 0; d < DH; d += kWidth) Ops::store(task.heads[h].out + d, Ops::load(accumulators + h * DH + d));
      continue;
    }
    const typename Ops::Vec inverse_sum = Ops::set1(1.0f / running_sum[h]);
    for (int64_t d = 0; d < DH; d += kWidth) {
      Ops::store(task.heads[h].out + d, Ops::mul(Ops::load(accumulators + h * DH + d), inverse_sum));
    }
  }
}

}  // namespace
}  // namespace swiftkv::attention_detail
