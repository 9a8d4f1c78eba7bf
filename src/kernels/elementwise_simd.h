// Interface between the element-wise dispatcher (elementwise.cpp) and the
// per-instruction-set kernels (elementwise_avx512.cpp, elementwise_avx2.cpp).
// Callers must check the CPU level first. These functions run on the calling
// thread; the dispatcher splits large inputs across threads.
#pragma once

#include <cstdint>

namespace swiftkv::elementwise_detail {

// out[T, D] = x[T, D] / sqrt(mean(x^2) + eps) * weight[D], with the sum of
// squares accumulated in float64 as rmsnorm_ref does.
void rmsnorm_avx512(const float* x, const float* weight, int64_t T, int64_t D, float eps, float* out);
void rmsnorm_avx2(const float* x, const float* weight, int64_t T, int64_t D, float eps, float* out);

// out[i] = gate[i] / (1 + exp(-gate[i])) * up[i]. `out` may alias `gate`.
void silu_mul_avx512(const float* gate, const float* up, int64_t count, float* out);
void silu_mul_avx2(const float* gate, const float* up, int64_t count, float* out);

// Rotate-half RoPE of x[T, NH, 2 * half_dim] in place. cos/sin[p * half_dim + j]
// are the table rows, and the caller must check every positions[t] against the
// table size first.
void rope_avx512(float* x, const int32_t* positions, int64_t T, int64_t NH, int64_t half_dim,
                 const float* cos_values, const float* sin_values);
void rope_avx2(float* x, const int32_t* positions, int64_t T, int64_t NH, int64_t half_dim,
               const float* cos_values, const float* sin_values);

// out[i] = exp(x[i]) with the vector exp of elementwise_exp.h, so tests can
// measure its error directly.
void exp_array_avx512(const float* x, int64_t count, float* out);
void exp_array_avx2(const float* x, int64_t count, float* out);

}  // namespace swiftkv::elementwise_detail
