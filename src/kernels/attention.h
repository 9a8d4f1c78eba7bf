// Causal GQA attention of query rows over a float32 KV cache.
#pragma once

#include <cstdint>

#include "kernels/cpu_features.h"

namespace swiftkv {

// One query row of attention: q[H, DH] attends to positions 0..n-1 whose
// keys/values are rows of HKV * DH floats, `row_stride` floats apart
// (the KV cache layout). out[H, DH]. Query head h reads KV head h / (H / HKV).
struct AttentionRow {
  const float* q;
  const float* keys;
  const float* values;
  int64_t n;
  float* out;
};

// Runs `count` independent rows (threaded over rows and heads) with the
// kernel of `level`: a tiled online-softmax (flash-style) kernel for AVX2 and
// above, attention_row_ref for kScalar. Every row needs n >= 1.
// The vector kernels need DH % 8 == 0 (other DH runs attention_row_ref), and
// AVX-512 runs the AVX2 kernel when DH % 16 == 8. Consecutive rows with the
// same keys and values pointers (prefill rows of one sequence) share each
// K/V tile load. Throws Error when H is not a positive multiple of HKV or
// row_stride < HKV * DH. `level` must not exceed detected_cpu_level().
void attention_rows(const AttentionRow* rows, int64_t count, int64_t row_stride, int64_t H, int64_t HKV,
                    int64_t DH, CpuLevel level);

}  // namespace swiftkv
