// Causal GQA attention of query rows over a float32 KV cache.
#pragma once

#include <cstdint>

#include "kernels/cpu_features.h"

namespace swiftkv {

// One query row of attention: q[H, DH] attends to positions 0..n-1 whose
// keys/values are rows of HKV * DH floats, `row_stride` floats apart
// (the KV cache layout). out[H, DH]. Query head h reads KV head h / (H / HKV).
//
// Without a block table, position p is row p of `keys` and `values`. With
// one (a paged KV cache), position p is row p % block_size of physical block
// block_table[p / block_size], and physical block b starts
// b * block_stride floats after `keys` and `values`.
struct AttentionRow {
  const float* q;
  const float* keys;
  const float* values;
  int64_t n;
  float* out;
  const int32_t* block_table = nullptr;  // [ceil(n / block_size)] physical block ids
  int64_t block_size = 0;                // positions per block
  int64_t block_stride = 0;              // floats from one physical block to the next
};

// Runs `count` independent rows (threaded over rows and heads) with the
// kernel of `level`: a tiled online-softmax (flash-style) kernel for AVX2 and
// above, attention_row_ref for kScalar. Every row needs n >= 1.
// At kAmx with DH % 32 == 0, 2 or more consecutive rows of one sequence
// (a prefill chunk) run as bf16 AMX tile products with float32 accumulation
// and softmax (relative error about 3e-3); a row's result there does not
// depend on the other rows of the call. Other rows run the float32 kernels.
// The vector kernels need DH % 8 == 0 (other DH runs attention_row_ref), and
// AVX-512 runs the AVX2 kernel when DH % 16 == 8. Consecutive rows with the
// same keys, values and block table pointers (prefill rows of one sequence)
// share each K/V tile load. With a block table, a tile never crosses a block
// boundary. Throws Error when H is not a positive multiple of HKV or
// row_stride < HKV * DH. `level` must not exceed detected_cpu_level().
void attention_rows(const AttentionRow* rows, int64_t count, int64_t row_stride, int64_t H, int64_t HKV,
                    int64_t DH, CpuLevel level);

}  // namespace swiftkv
