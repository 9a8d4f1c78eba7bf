// AVX-512 element-wise kernels. Built with -mavx512f -mavx512bw -mavx512vl
// -mfma -ffp-contract=off (so RoPE rounds exactly like the scalar code); called
// only after runtime dispatch. Tails use masked loads and stores.
#include <immintrin.h>
#include <math.h>

#include "kernels/elementwise_exp.h"
#include "kernels/elementwise_simd.h"

namespace swiftkv::elementwise_detail {

namespace {

constexpr int64_t kWidth = 16;

__mmask16 tail_mask(int64_t remaining) {
  return remaining >= kWidth ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1u);
}

// Sum of squares of row[0..D) in float64: each float square is exact in
// float64, so only the additions round (relative error about D * 2^-53).
double sum_of_squares(const float* row, int64_t D) {
  __m512d low_sum = _mm512_setzero_pd();
  __m512d high_sum = _mm512_setzero_pd();
  for (int64_t i = 0; i < D; i += kWidth) {
    const __m512 x = _mm512_maskz_loadu_ps(tail_mask(D - i), row + i);
    const __m512d low = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    const __m512d high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    low_sum = _mm512_fmadd_pd(low, low, low_sum);
    high_sum = _mm512_fmadd_pd(high, high, high_sum);
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(low_sum, high_sum));
}

}  // namespace

void rmsnorm_avx512(const float* x, const float* weight, int64_t T, int64_t D, float eps, float* out) {
  for (int64_t t = 0; t < T; ++t) {
    const float* row = x + t * D;
    const double mean_square = sum_of_squares(row, D) / static_cast<double>(D);
    const __m512 scale = _mm512_set1_ps(1.0f / sqrtf(static_cast<float>(mean_square) + eps));
    for (int64_t i = 0; i < D; i += kWidth) {
      const __mmask16 mask = tail_mask(D - i);
      const __m512 scaled = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, row + i), scale);
      _mm512_mask_storeu_ps(out + t * D + i, mask, _mm512_mul_ps(scaled, _mm512_maskz_loadu_ps(mask, weight + i)));
    }
  }
}

void silu_mul_avx512(const float* gate, const float* up, int64_t count, float* out) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < count; i += kWidth) {
    const __mmask16 mask = tail_mask(count - i);
    const __m512 g = _mm512_maskz_loadu_ps(mask, gate + i);
    const __m512 sigmoid_denominator = _mm512_add_ps(one, exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), g)));
    const __m512 silu = _mm512_div_ps(g, sigmoid_denominator);
    _mm512_mask_storeu_ps(out + i, mask, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(mask, up + i)));
  }
}

void rope_avx512(float* x, const int32_t* positions, int64_t T, int64_t NH, int64_t half_dim,
                 const float* cos_values, const float* sin_values) {
  for (int64_t t = 0; t < T; ++t) {
    const float* cos_row = cos_values + static_cast<int64_t>(positions[t]) * half_dim;
    const float* sin_row = sin_values + static_cast<int64_t>(positions[t]) * half_dim;
    for (int64_t h = 0; h < NH; ++h) {
      float* head = x + (t * NH + h) * 2 * half_dim;
      for (int64_t j = 0; j < half_dim; j += kWidth) {
        const __mmask16 mask = tail_mask(half_dim - j);
        const __m512 c = _mm512_maskz_loadu_ps(mask, cos_row + j);
        const __m512 s = _mm512_maskz_loadu_ps(mask, sin_row + j);
        const __m512 x1 = _mm512_maskz_loadu_ps(mask, head + j);
        const __m512 x2 = _mm512_maskz_loadu_ps(mask, head + half_dim + j);
        _mm512_mask_storeu_ps(head + j, mask, _mm512_sub_ps(_mm512_mul_ps(x1, c), _mm512_mul_ps(x2, s)));
        _mm512_mask_storeu_ps(head + half_dim + j, mask,
                              _mm512_add_ps(_mm512_mul_ps(x2, c), _mm512_mul_ps(x1, s)));
      }
    }
  }
}

void exp_array_avx512(const float* x, int64_t count, float* out) {
  for (int64_t i = 0; i < count; i += kWidth) {
    const __mmask16 mask = tail_mask(count - i);
    _mm512_mask_storeu_ps(out + i, mask, exp_avx512(_mm512_maskz_loadu_ps(mask, x + i)));
  }
}

}  // namespace swiftkv::elementwise_detail
