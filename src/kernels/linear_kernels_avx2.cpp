// AVX2 + FMA kernels of the bf16, int8 and q4 linear layers. This file is
// compiled with -mavx2 -mfma -mf16c (CMakeLists.txt) and is only called after
// runtime dispatch has seen level avx2 or higher. Weights are expanded to
// float32 and multiplied with float32 activations, as in the AVX-512 file.
#include <immintrin.h>

#include "kernels/linear_kernels.h"

namespace swiftkv {
namespace {

constexpr int kRowTile = 4;    // output rows sharing each activation load
constexpr int kTokenTile = 2;  // token rows sharing each weight load (16 registers)

inline float reduce_add(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

template <int NR, int TR>
void store_sums(const __m256 (&acc)[NR][TR], const LinearKernelArgs& args, int64_t n, int64_t t) {
  for (int r = 0; r < NR; ++r) {
    const float bias = args.bias != nullptr ? args.bias[n + r] : 0.0f;
    for (int i = 0; i < TR; ++i) args.out[(t + i) * args.N + n + r] = reduce_add(acc[r][i]) + bias;
  }
}

template <int NR, int TR>
void bf16_tile(const uint16_t* W, const LinearKernelArgs& args, int64_t n, int64_t t) {
  __m256 acc[NR][TR];
  for (int r = 0; r < NR; ++r)
    for (int i = 0; i < TR; ++i) acc[r][i] = _mm256_setzero_ps();
  const __m256i high_half = _mm256_set1_epi32(static_cast<int>(0xffff0000u));

  for (int64_t k = 0; k < args.Kp; k += kLinearBlock) {
    // Lane j of block half h contains weights k + 8h + j and k + 16 + 8h + j.
    for (int h = 0; h < 2; ++h) {
      __m256 x_low[TR], x_high[TR];
      for (int i = 0; i < TR; ++i) {
        const float* x = args.x + (t + i) * args.Kp + k + 8 * h;
        x_low[i] = _mm256_loadu_ps(x);
        x_high[i] = _mm256_loadu_ps(x + 16);
      }
      for (int r = 0; r < NR; ++r) {
        const __m256i packed =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(W + (n + r) * args.Kp + k + 16 * h));
        const __m256 w_low = _mm256_castsi256_ps(_mm256_slli_epi32(packed, 16));
        const __m256 w_high = _mm256_castsi256_ps(_mm256_and_si256(packed, high_half));
        for (int i = 0; i < TR; ++i) {
          acc[r][i] = _mm256_fmadd_ps(w_low, x_low[i], acc[r][i]);
          acc[r][i] = _mm256_fmadd_ps(w_high, x_high[i], acc[r][i]);
        }
      }
    }
  }
  store_sums<NR, TR>(acc, args, n, t);
}

template <int NR, int TR>
void int8_tile(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n, int64_t t) {
  __m256 acc[NR][TR];
  for (int r = 0; r < NR; ++r)
    for (int i = 0; i < TR; ++i) acc[r][i] = _mm256_setzero_ps();
  const int64_t blocks = args.Kp / kLinearBlock;

  for (int64_t b = 0; b < blocks; ++b) {
    __m256 scale[NR];
    for (int r = 0; r < NR; ++r) scale[r] = _mm256_set1_ps(scales[(n + r) * blocks + b]);
    for (int c = 0; c < kLinearBlock; c += 8) {
      const int64_t k = b * kLinearBlock + c;
      __m256 x[TR];
      for (int i = 0; i < TR; ++i) x[i] = _mm256_loadu_ps(args.x + (t + i) * args.Kp + k);
      for (int r = 0; r < NR; ++r) {
        const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(W + (n + r) * args.Kp + k));
        const __m256 w = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)), scale[r]);
        for (int i = 0; i < TR; ++i) acc[r][i] = _mm256_fmadd_ps(w, x[i], acc[r][i]);
      }
    }
  }
  store_sums<NR, TR>(acc, args, n, t);
}

// Half c of a q4 block: bytes 8c..8c+7 hold weights k + 8c + j (low
// nibbles) and k + 16 + 8c + j (high nibbles).
template <int NR, int TR>
void q4_tile(const Q4Block* W, const LinearKernelArgs& args, int64_t n, int64_t t) {
  __m256 acc[NR][TR];
  for (int r = 0; r < NR; ++r)
    for (int i = 0; i < TR; ++i) acc[r][i] = _mm256_setzero_ps();
  const int64_t blocks = args.Kp / kLinearBlock;
  const __m256i low_nibble = _mm256_set1_epi32(15);

  for (int64_t b = 0; b < blocks; ++b) {
    for (int c = 0; c < 2; ++c) {
      const int64_t k = b * kLinearBlock + 8 * c;
      __m256 x_low[TR], x_high[TR];
      for (int i = 0; i < TR; ++i) {
        x_low[i] = _mm256_loadu_ps(args.x + (t + i) * args.Kp + k);
        x_high[i] = _mm256_loadu_ps(args.x + (t + i) * args.Kp + k + 16);
      }
      for (int r = 0; r < NR; ++r) {
        const Q4Block* block = W + (n + r) * blocks + b;
        const __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block->q + 8 * c)));
        const __m256 scale = _mm256_set1_ps(block->scale);
        const __m256 min = _mm256_set1_ps(block->min);
        const __m256 w_low = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(q, low_nibble)), scale, min);
        const __m256 w_high = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(q, 4)), scale, min);
        for (int i = 0; i < TR; ++i) {
          acc[r][i] = _mm256_fmadd_ps(w_low, x_low[i], acc[r][i]);
          acc[r][i] = _mm256_fmadd_ps(w_high, x_high[i], acc[r][i]);
        }
      }
    }
  }
  store_sums<NR, TR>(acc, args, n, t);
}

template <int NR>
void q4_rows(const Q4Block* W, const LinearKernelArgs& args, int64_t n) {
  int64_t t = 0;
  for (; t + kTokenTile <= args.T; t += kTokenTile) q4_tile<NR, kTokenTile>(W, args, n, t);
  if (t < args.T) q4_tile<NR, 1>(W, args, n, t);
}

template <int NR>
void bf16_rows(const uint16_t* W, const LinearKernelArgs& args, int64_t n) {
  int64_t t = 0;
  for (; t + kTokenTile <= args.T; t += kTokenTile) bf16_tile<NR, kTokenTile>(W, args, n, t);
  if (t < args.T) bf16_tile<NR, 1>(W, args, n, t);
}

template <int NR>
void int8_rows(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n) {
  int64_t t = 0;
  for (; t + kTokenTile <= args.T; t += kTokenTile) int8_tile<NR, kTokenTile>(W, scales, args, n, t);
  if (t < args.T) int8_tile<NR, 1>(W, scales, args, n, t);
}

}  // namespace

void q4_rows_avx2(const Q4Block* W, const LinearKernelArgs& args, int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + kRowTile <= n1; n += kRowTile) q4_rows<kRowTile>(W, args, n);
  for (; n < n1; ++n) q4_rows<1>(W, args, n);
}

void bf16_rows_avx2(const uint16_t* W, const LinearKernelArgs& args, int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + kRowTile <= n1; n += kRowTile) bf16_rows<kRowTile>(W, args, n);
  for (; n < n1; ++n) bf16_rows<1>(W, args, n);
}

void int8_rows_avx2(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n0,
                    int64_t n1) {
  int64_t n = n0;
  for (; n + kRowTile <= n1; n += kRowTile) int8_rows<kRowTile>(W, scales, args, n);
  for (; n < n1; ++n) int8_rows<1>(W, scales, args, n);
}

}  // namespace swiftkv
