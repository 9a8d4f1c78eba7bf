// AVX2 element-wise kernels. Built with -mavx2 -mfma -ffp-contract=off (so
// RoPE rounds exactly like the scalar code); called only after runtime
// dispatch. Tails use masked loads and stores.
#include <immintrin.h>
#include <math.h>

#include "kernels/elementwise_exp.h"
#include "kernels/elementwise_simd.h"

namespace swiftkv::elementwise_detail {

namespace {

constexpr int64_t kWidth = 8;

// Lane i is enabled (sign bit set) when i < remaining.
__m256i tail_mask(int64_t remaining) {
  const int32_t count = remaining >= kWidth ? static_cast<int32_t>(kWidth) : static_cast<int32_t>(remaining);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Sum of squares of row[0..D) in float64: each float square is exact in
// float64, so only the additions round (relative error about D * 2^-53).
double sum_of_squares(const float* row, int64_t D) {
  __m256d low_sum = _mm256_setzero_pd();
  __m256d high_sum = _mm256_setzero_pd();
  for (int64_t i = 0; i < D; i += kWidth) {
    const __m256 x = _mm256_maskload_ps(row + i, tail_mask(D - i));
    const __m256d low = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    const __m256d high = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    low_sum = _mm256_fmadd_pd(low, low, low_sum);
    high_sum = _mm256_fmadd_pd(high, high, high_sum);
  }
  const __m256d sum = _mm256_add_pd(low_sum, high_sum);
  __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(sum), _mm256_extractf128_pd(sum, 1));
  pair = _mm_add_sd(pair, _mm_unpackhi_pd(pair, pair));
  return _mm_cvtsd_f64(pair);
}

}  // namespace

void rmsnorm_avx2(const float* x, const float* weight, int64_t T, int64_t D, float eps, float* out) {
  for (int64_t t = 0; t < T; ++t) {
    const float* row = x + t * D;
    const double mean_square = sum_of_squares(row, D) / static_cast<double>(D);
    const __m256 scale = _mm256_set1_ps(1.0f / sqrtf(static_cast<float>(mean_square) + eps));
    for (int64_t i = 0; i < D; i += kWidth) {
      const __m256i mask = tail_mask(D - i);
      const __m256 scaled = _mm256_mul_ps(_mm256_maskload_ps(row + i, mask), scale);
      _mm256_maskstore_ps(out + t * D + i, mask, _mm256_mul_ps(scaled, _mm256_maskload_ps(weight + i, mask)));
    }
  }
}

void silu_mul_avx2(const float* gate, const float* up, int64_t count, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < count; i += kWidth) {
    const __m256i mask = tail_mask(count - i);
    const __m256 g = _mm256_maskload_ps(gate + i, mask);
    const __m256 sigmoid_denominator = _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), g)));
    const __m256 silu = _mm256_div_ps(g, sigmoid_denominator);
    _mm256_maskstore_ps(out + i, mask, _mm256_mul_ps(silu, _mm256_maskload_ps(up + i, mask)));
  }
}

void rope_avx2(float* x, const int32_t* positions, int64_t T, int64_t NH, int64_t half_dim,
               const float* cos_values, const float* sin_values) {
  for (int64_t t = 0; t < T; ++t) {
    const float* cos_row = cos_values + static_cast<int64_t>(positions[t]) * half_dim;
    const float* sin_row = sin_values + static_cast<int64_t>(positions[t]) * half_dim;
    for (int64_t h = 0; h < NH; ++h) {
      float* head = x + (t * NH + h) * 2 * half_dim;
      for (int64_t j = 0; j < half_dim; j += kWidth) {
        const __m256i mask = tail_mask(half_dim - j);
        const __m256 c = _mm256_maskload_ps(cos_row + j, mask);
        const __m256 s = _mm256_maskload_ps(sin_row + j, mask);
        const __m256 x1 = _mm256_maskload_ps(head + j, mask);
        const __m256 x2 = _mm256_maskload_ps(head + half_dim + j, mask);
        _mm256_maskstore_ps(head + j, mask, _mm256_sub_ps(_mm256_mul_ps(x1, c), _mm256_mul_ps(x2, s)));
        _mm256_maskstore_ps(head + half_dim + j, mask, _mm256_add_ps(_mm256_mul_ps(x2, c), _mm256_mul_ps(x1, s)));
      }
    }
  }
}

void exp_array_avx2(const float* x, int64_t count, float* out) {
  for (int64_t i = 0; i < count; i += kWidth) {
    const __m256i mask = tail_mask(count - i);
    _mm256_maskstore_ps(out + i, mask, exp_avx2(_mm256_maskload_ps(x + i, mask)));
  }
}

}  // namespace swiftkv::elementwise_detail
