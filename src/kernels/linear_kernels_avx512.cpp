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

// Each format's weights: expand(row, block, low, high) writes the float32
// values of weights 32 * block + j (low) and 32 * block + 16 + j (high),
// j < 16, of output row `row`.

struct Bf16Weights {
  const uint16_t* W;
  int64_t Kp;

  void expand(int64_t row, int64_t block, __m512& low, __m512& high) const {
    // Lane j contains bf16 weights k + j (low half) and k + 16 + j (high half).
    const __m512i packed = _mm512_loadu_si512(W + row * Kp + block * kLinearBlock);
    low = _mm512_castsi512_ps(_mm512_slli_epi32(packed, 16));
    high = _mm512_castsi512_ps(_mm512_and_si512(packed, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  }
};

// Loads 16 int8 weights as float32.
inline __m512 load_int8x16(const int8_t* w) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w))));
}

struct Int8Weights {
  const int8_t* W;
  const float* scales;
  int64_t Kp;

  void expand(int64_t row, int64_t block, __m512& low, __m512& high) const {
    const int64_t blocks = Kp / kLinearBlock;
    const __m512 scale = _mm512_set1_ps(scales[row * blocks + block]);
    const int8_t* w = W + row * Kp + block * kLinearBlock;
    // One 64-byte line holds two blocks. Requesting the line 4 KiB ahead
    // keeps more reads in flight than the hardware prefetcher does, which
    // took batch-1 decode on SmolLM2 from 77 to about 150 tokens/s.
    if ((block & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(w + 4096), _MM_HINT_T0);
    low = _mm512_mul_ps(load_int8x16(w), scale);
    high = _mm512_mul_ps(load_int8x16(w + 16), scale);
  }
};

// q4 blocks expand to float32 with one fma per 16 weights, the same
// instruction count per weight as int8 at two thirds of the bytes.
struct Q4Weights {
  const Q4Block* W;
  int64_t Kp;

  void expand(int64_t row, int64_t block, __m512& low, __m512& high) const {
    const Q4Block* b = W + row * (Kp / kLinearBlock) + block;
    // Blocks are 24 bytes, so every other block starts a new 64-byte line.
    if ((block & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(b) + 4096, _MM_HINT_T0);
    const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->q)));
    const __m512 scale = _mm512_set1_ps(b->scale);
    const __m512 min = _mm512_set1_ps(b->min);
    low = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(q, _mm512_set1_epi32(15))), scale, min);
    high = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(q, 4)), scale, min);
  }
};

// NR output rows from n times TR token rows from t.
template <int NR, int TR, class Weights>
void tile(const Weights& weights, const LinearKernelArgs& args, int64_t n, int64_t t) {
  __m512 acc[NR][TR];
  for (int r = 0; r < NR; ++r)
    for (int i = 0; i < TR; ++i) acc[r][i] = _mm512_setzero_ps();

  for (int64_t b = 0; b < args.Kp / kLinearBlock; ++b) {
    __m512 x_low[TR], x_high[TR];
    for (int i = 0; i < TR; ++i) {
      const float* x = args.x + (t + i) * args.Kp + b * kLinearBlock;
      x_low[i] = _mm512_loadu_ps(x);
      x_high[i] = _mm512_loadu_ps(x + 16);
    }
    for (int r = 0; r < NR; ++r) {
      __m512 w_low, w_high;
      weights.expand(n + r, b, w_low, w_high);
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
template <int NR, class Weights>
void token_rows(const Weights& weights, const LinearKernelArgs& args, int64_t n) {
  int64_t t = 0;
  for (; t + kTokenTile <= args.T; t += kTokenTile) tile<NR, kTokenTile>(weights, args, n, t);
  switch (args.T - t) {
    case 3: tile<NR, 3>(weights, args, n, t); break;
    case 2: tile<NR, 2>(weights, args, n, t); break;
    case 1: tile<NR, 1>(weights, args, n, t); break;
    default: break;
  }
}

// Output rows [n0, n1) in tiles of kRowTile, then one at a time.
template <class Weights>
void output_rows(const Weights& weights, const LinearKernelArgs& args, int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + kRowTile <= n1; n += kRowTile) token_rows<kRowTile>(weights, args, n);
  for (; n < n1; ++n) token_rows<1>(weights, args, n);
}

}  // namespace

void bf16_rows_avx512(const uint16_t* W, const LinearKernelArgs& args, int64_t n0, int64_t n1) {
  output_rows(Bf16Weights{W, args.Kp}, args, n0, n1);
}

void int8_rows_avx512(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n0,
                      int64_t n1) {
  output_rows(Int8Weights{W, scales, args.Kp}, args, n0, n1);
}

void q4_rows_avx512(const Q4Block* W, const LinearKernelArgs& args, int64_t n0, int64_t n1) {
  output_rows(Q4Weights{W, args.Kp}, args, n0, n1);
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
