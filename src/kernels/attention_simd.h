// Interface between the attention dispatcher (attention.cpp) and the
// per-instruction-set kernels (attention_avx512.cpp, attention_avx2.cpp).
// Callers must check the CPU level before calling a kernel.
#pragma once

#include <cstdint>
#include <limits>

namespace swiftkv::attention_detail {

// One query head: q[DH] attends to positions 0..n-1, result written to out[DH].
struct QueryHead {
  const float* q;
  int64_t n;
  float* out;
};

// The query heads that read one KV head: the H / HKV heads of a GQA group,
// for one or more rows of the same sequence. `keys` and `values` already point
// at this KV head's DH floats in cache row 0 of physical block 0; row p is
// `row_stride` floats further. With a block table, position p is row
// p % block_size of block block_table[p / block_size], and block b starts
// b * block_stride floats after row 0 of block 0. Every position below the
// largest n must be readable.
struct KvGroupTask {
  const QueryHead* heads;
  int64_t head_count;
  const float* keys;
  const float* values;
  int64_t row_stride;
  const int32_t* block_table;  // null: positions are contiguous rows
  int64_t block_size;
  int64_t block_stride;
  int64_t DH;
  float scale;     // 1 / sqrt(DH)
  float* scratch;  // kv_group_scratch_floats(head_count, DH) floats
  // Positions [begin, min(n, end)) of every head. With `partial` set, each
  // head's out gets the unnormalised sum of weighted values and partial[2h],
  // partial[2h + 1] its running max and sum, for merge_partials.
  int64_t begin = 0;
  int64_t end = INT64_MAX;
  float* partial = nullptr;
};

// Positions per tile: K and V tiles of about 16 KiB each stay in the L1 data
// cache while every query head of the task reads them. These helpers are
// static so the copies in files built for different instruction sets stay
// separate.
static constexpr int64_t tile_positions(int64_t DH) {
  const int64_t positions = 4096 / DH;
  const int64_t rounded = positions / 16 * 16;
  return rounded < 16 ? 16 : rounded;
}

static constexpr int64_t kv_group_scratch_floats(int64_t head_count, int64_t DH) {
  // Scores of one tile, output accumulators [head_count, DH], and the
  // running max and sum per head.
  return tile_positions(DH) + head_count * (DH + 2);
}

// Both require DH % 8 == 0; the AVX-512 kernel also requires DH % 16 == 0.
void attend_kv_group_avx512(const KvGroupTask& task);
void attend_kv_group_avx2(const KvGroupTask& task);

}  // namespace swiftkv::attention_detail
