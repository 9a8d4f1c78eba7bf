// AVX-512 kernels of the bf16, int8 and q4 linear layers. This file is compiled
// with AVX-512 flags (CMakeLists.txt) and is only called after runtime
// dispatch has seen level avx512 or higher.
//
// Weights are expanded to float32 and multiplied with float32 activations by
// FMA, so the only rounding is the weight format itself. Decode (T = 1) is
// bound by memory bandwidth, and the expansion (a shift and a mask per 32 bf16
// weights) hides behind the loads; _mm512_dpbf16_ps would also round the
// activations to bf16 and buy nothing while memory is the limit.
#include <immintrin.h>

#include "kernels/linear_kernels.h"

namespace swiftkv {
namespace {

constexpr int kRowTile = 4;    // output rows sharing each activation load
constexpr int kTokenTile = 4;  // token rows sharing each weight load

template <int NR, int TR>
void store_sums(const __m512 (&acc)[NR][TR], const LinearKernelArgs& args, int64_t n, int64_t t) {
  for (int r = 0; r < NR; ++r) {
    const float bias = args.bias != nullptr ? args.bias[n + r] : 0.0f;
    for (int i = 0; i < TR; ++i) args.out[(t + i) * args.N + n + r] = _mm512_reduce_add_ps(acc[r][i]) + bias;
  }
}

// NR output rows from n times TR token rows from t.
template <int NR, int TR>
void bf16_tile(const uint16_t* W, const LinearKernelArgs& args, int64_t n, int64_t t) {
  __m512 acc[NR][TR];
  for (int r = 0; r < NR; ++r)
    for (int i = 0; i < TR; ++i) acc[r][i] = _mm512_setzero_ps();
  const __m512i high_half = _mm512_set1_epi32(static_cast<int>(0xffff0000u));

  for (int64_t k = 0; k < args.Kp; k += kLinearBlock) {
    __m512 x_low[TR], x_high[TR];
    for (int i = 0; i < TR; ++i) {
      const float* x = args.x + (t + i) * args.Kp + k;
      x_low[i] = _mm512_loadu_ps(x);
      x_high[i] = _mm512_loadu_ps(x + 16);
    }
    for (int r = 0; r < NR; ++r) {
      const __m512i packed = _mm512_loadu_si512(W + (n + r) * args.Kp + k);
      // Lane j contains bf16 weights k + j (low half) and k + 16 + j (high half).
      const __m512 w_low = _mm512_castsi512_ps(_mm512_slli_epi32(packed, 16));
      const __m512 w_high = _mm512_castsi512_ps(_mm512_and_si512(packed, high_half));
      for (int i = 0; i < TR; ++i) {
        acc[r][i] = _mm512_fmadd_ps(w_low, x_low[i], acc[r][i]);
        acc[r][i] = _mm512_fmadd_ps(w_high, x_high[i], acc[r][i]);
      }
    }
  }
  store_sums<NR, TR>(acc, args, n, t);
}

// Loads 16 int8 weights as float32 times their block scale.
inline __m512 load_int8x16(const int8_t* w, __m512 scale) {
  const __m512i wide = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
  return _mm512_mul_ps(_mm512_cvtepi32_ps(wide), scale);
}

template <int NR, int TR>
void int8_tile(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n, int64_t t) {
  __m512 acc[NR][TR];
  for (int r = 0; r < NR; ++r)
    for (int i = 0; i < TR; ++i) acc[r][i] = _mm512_setzero_ps();
  const int64_t blocks = args.Kp / kLinearBlock;

  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t k = b * kLinearBlock;
    __m512 x_low[TR], x_high[TR];
    for (int i = 0; i < TR; ++i) {
      const float* x = args.x + (t + i) * args.Kp + k;
      x_low[i] = _mm512_loadu_ps(x);
      x_high[i] = _mm512_loadu_ps(x + 16);
    }
    for (int r = 0; r < NR; ++r) {
      const __m512 scale = _mm512_set1_ps(scales[(n + r) * blocks + b]);
      const int8_t* w = W + (n + r) * args.Kp + k;
      // One 64-byte line holds two blocks. Requesting the line 4 KiB ahead
      // keeps more reads in flight than the hardware prefetcher does, which
      // took batch-1 decode on SmolLM2 from 77 to about 150 tokens/s.
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(w + 4096), _MM_HINT_T0);
      const __m512 w_low = load_int8x16(w, scale);
      const __m512 w_high = load_int8x16(w + 16, scale);
      for (int i = 0; i < TR; ++i) {
        acc[r][i] = _mm512_fmadd_ps(w_low, x_low[i], acc[r][i]);
        acc[r][i] = _mm512_fmadd_ps(w_high, x_high[i], acc[r][i]);
      }
    }
  }
  store_sums<NR, TR>(acc, args, n, t);
}

// q4 blocks expand to float32 with one fma per 16 weights, the same
// instruction count per weight as int8 at two thirds of the bytes.
template <int NR, int TR>
void q4_tile(const Q4Block* W, const LinearKernelArgs& args, int64_t n, int64_t t) {
  __m512 acc[NR][TR];
  for (int r = 0; r < NR; ++r)
    for (int i = 0; i < TR; ++i) acc[r][i] = _mm512_setzero_ps();
  const int64_t blocks = args.Kp / kLinearBlock;
  const __m512i low_nibble = _mm512_set1_epi32(15);

  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t k = b * kLinearBlock;
    __m512 x_low[TR], x_high[TR];
    for (int i = 0; i < TR; ++i) {
      const float* x = args.x + (t + i) * args.Kp + k;
      x_low[i] = _mm512_loadu_ps(x);
      x_high[i] = _mm512_loadu_ps(x + 16);
    }
    for (int r = 0; r < NR; ++r) {
      const Q4Block* block = W + (n + r) * blocks + b;
      // Blocks are 24 bytes, so every other block starts a new 64-byte line.
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(block) + 4096, _MM_HINT_T0);
      const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block->q)));
      const __m512 scale = _mm512_set1_ps(block->scale);
      const __m512 min = _mm512_set1_ps(block->min);
      const __m512 w_low = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(q, low_nibble)), scale, min);
      const __m512 w_high = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(q, 4)), scale, min);
      for (int i = 0; i < TR; ++i) {
        acc[r][i] = _mm512_fmadd_ps(w_low, x_low[i], acc[r][i]);
        acc[r][i] = _mm512_fmadd_ps(w_high, x_high[i], acc[r][i]);
      }
    }
  }
  store_sums<NR, TR>(acc, args, n, t);
}

// All token rows for NR output rows from n: full token tiles, then one
// narrower tile for the remainder.
template <int NR>
void bf16_rows(const uint16_t* W, const LinearKernelArgs& args, int64_t n) {
  int64_t t = 0;
  for (; t + kTokenTile <= args.T; t += kTokenTile) bf16_tile<NR, kTokenTile>(W, args, n, t);
  switch (args.T - t) {
    case 3: bf16_tile<NR, 3>(W, args, n, t); break;
    case 2: bf16_tile<NR, 2>(W, args, n, t); break;
    case 1: bf16_tile<NR, 1>(W, args, n, t); break;
    default: break;
  }
}

template <int NR>
void int8_rows(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n) {
  int64_t t = 0;
  for (; t + kTokenTile <= args.T; t += kTokenTile) int8_tile<NR, kTokenTile>(W, scales, args, n, t);
  switch (args.T - t) {
    case 3: int8_tile<NR, 3>(W, scales, args, n, t); break;
    case 2: int8_tile<NR, 2>(W, scales, args, n, t); break;
    case 1: int8_tile<NR, 1>(W, scales, args, n, t); break;
    default: break;
  }
}

template <int NR>
void q4_rows(const Q4Block* W, const LinearKernelArgs& args, int64_t n) {
  int64_t t = 0;
  for (; t + kTokenTile <= args.T; t += kTokenTile) q4_tile<NR, kTokenTile>(W, args, n, t);
  switch (args.T - t) {
    case 3: q4_tile<NR, 3>(W, args, n, t); break;
    case 2: q4_tile<NR, 2>(W, args, n, t); break;
    case 1: q4_tile<NR, 1>(W, args, n, t); break;
    default: break;
  }
}

}  // namespace

void q4_rows_avx512(const Q4Block* W, const LinearKernelArgs& args, int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + kRowTile <= n1; n += kRowTile) q4_rows<kRowTile>(W, args, n);
  for (; n < n1; ++n) q4_rows<1>(W, args, n);
}

void bf16_rows_avx512(const uint16_t* W, const LinearKernelArgs& args, int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + kRowTile <= n1; n += kRowTile) bf16_rows<kRowTile>(W, args, n);
  for (; n < n1; ++n) bf16_rows<1>(W, args, n);
}

void int8_rows_avx512(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n0,
                      int64_t n1) {
  int64_t n = n0;
  for (; n + kRowTile <= n1; n += kRowTile) int8_rows<kRowTile>(W, scales, args, n);
  for (; n < n1; ++n) int8_rows<1>(W, scales, args, n);
}

uint64_t xor_lines_avx512(const uint8_t* data, int64_t bytes) {
  __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512()};
  for (int64_t i = 0; i < bytes; i += 256) {
    for (int j = 0; j < 4; ++j) {
      const uint8_t* line = data + i + 64 * j;
      _mm_prefetch(reinterpret_cast<const char*>(line) + 4096, _MM_HINT_T0);
      acc[j] = _mm512_xor_si512(acc[j], _mm512_loadu_si512(line));
    }
  }
  const __m512i all = _mm512_xor_si512(_mm512_xor_si512(acc[0], acc[1]), _mm512_xor_si512(acc[2], acc[3]));
  return static_cast<uint64_t>(_mm512_reduce_or_epi64(all));
}

void f32_to_bf16_avx512(const float* src, int64_t count, uint16_t* dst) {
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m256bh packed = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), reinterpret_cast<const __m256i&>(packed));
  }
  if (i < count) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (count - i)) - 1);
    const __m256bh packed = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, src + i));
    _mm256_mask_storeu_epi16(dst + i, mask, reinterpret_cast<const __m256i&>(packed));
  }
}

}  // namespace swiftkv
