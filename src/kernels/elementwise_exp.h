// Vectorised float32 exp for the AVX2 and AVX-512 kernel files.
//
// Include it only from files compiled with -mavx2 -mfma (and -mavx512f for the
// 512-bit version). Every function has internal linkage, so the copies built
// with different instruction sets never merge at link time.
//
// Method (the Cephes expf scheme): n = round(x / ln 2), r = x - n ln 2 with
// ln 2 split in two parts, e^r by a degree-5 polynomial on |r| <= ln(2)/2 (the
// Cephes expf coefficients), then a multiply by 2^n. The relative error
// against double-precision exp is 1.2e-7 (about 1 ulp) at most over 10^6
// evenly spaced x in [-87, 88], as measured by ExpVectorMatchesStdExp in
// tests/elementwise_kernel_test.cpp.
// Inputs above 88 are clamped to 88 (the result is e^88, about 1.65e38,
// instead of overflowing), and inputs below -87 (including -inf) return 0, a
// loss of at most 1.7e-38 in absolute terms. NaN inputs give unspecified
// results.
#pragma once

#include <immintrin.h>

namespace swiftkv {
namespace {

constexpr float kExpMaxInput = 88.0f;
constexpr float kExpMinInput = -87.0f;
constexpr float kLog2e = 1.44269504088896341f;
// ln 2 = kLn2High + kLn2Low; kLn2High has few mantissa bits, so n * kLn2High
// is exact for the |n| <= 127 that the clamped range produces.
constexpr float kLn2High = 0.693359375f;
constexpr float kLn2Low = -2.12194440e-4f;
constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                               4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

#if defined(__AVX2__) && defined(__FMA__)
[[maybe_unused]] inline __m256 exp_avx2(__m256 x) {
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(kExpMinInput), _CMP_LT_OQ);
  x = _mm256_min_ps(x, _mm256_set1_ps(kExpMaxInput));
  x = _mm256_max_ps(x, _mm256_set1_ps(kExpMinInput));

  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2High), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Low), r);

  __m256 poly = _mm256_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(kExpPoly[i]));
  const __m256 r2 = _mm256_mul_ps(r, r);
  __m256 y = _mm256_fmadd_ps(poly, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));

  // 2^n built directly in the exponent field; n is in [-126, 127] here.
  const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23)));
  return _mm256_andnot_ps(underflow, y);
}
#endif

#if defined(__AVX512F__)
[[maybe_unused]] inline __m512 exp_avx512(__m512 x) {
  const __mmask16 in_range = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpMinInput), _CMP_GE_OQ);
  x = _mm512_min_ps(x, _mm512_set1_ps(kExpMaxInput));

  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2High), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Low), r);

  __m512 poly = _mm512_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(kExpPoly[i]));
  const __m512 r2 = _mm512_mul_ps(r, r);
  const __m512 y = _mm512_fmadd_ps(poly, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));

  // scalef multiplies by 2^n without building the exponent bits by hand.
  return _mm512_maskz_scalef_ps(in_range, y, n);
}
#endif

}  // namespace
}  // namespace swiftkv
