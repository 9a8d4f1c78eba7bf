// Element-wise steps of the forward pass with per-level kernels. Each has a
// plain reference in ops_ref.h that the tests compare against. `level` must
// not exceed detected_cpu_level(); large inputs are split across OpenMP
// threads.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu_features.h"

namespace swiftkv {

// out[T, D] = x[T, D] / sqrt(mean(x^2) + eps) * weight[D]
void rmsnorm(const float* x, const float* weight, int64_t T, int64_t D, float eps, float* out, CpuLevel level);

// out[i] = silu(gate[i]) * up[i]; `out` may alias `gate`.
void silu_mul(const float* gate, const float* up, int64_t count, float* out, CpuLevel level);

// Rotate-half RoPE with precomputed tables: cos/sin[p * DH/2 + j] for
// positions p < max_positions. Same math as rope_ref.
struct RopeTable {
  int64_t half_dim = 0;  // DH / 2
  int64_t max_positions = 0;
  std::vector<float> cos_values;  // [max_positions, DH / 2]
  std::vector<float> sin_values;  // [max_positions, DH / 2]
};
RopeTable make_rope_table(const std::vector<float>& inv_freq, int64_t max_positions);
// Rotates x[T, NH, DH] in place. Throws Error when a position is outside
// 0..table.max_positions-1 or DH != 2 * table.half_dim. The scalar, AVX2 and
// AVX-512 paths all give the same bits as rope_ref.
void rope(float* x, const int32_t* positions, int64_t T, int64_t NH, int64_t DH, const RopeTable& table,
          CpuLevel level);

}  // namespace swiftkv
