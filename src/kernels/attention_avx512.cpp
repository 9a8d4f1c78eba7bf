// AVX-512 instantiation of the tiled attention kernel. Built with
// -mavx512f -mavx512bw -mavx512vl -mfma; called only after runtime dispatch.
#include <immintrin.h>

#include "kernels/attention_simd.h"
#include "kernels/attention_tile.h"
#include "kernels/elementwise_exp.h"

namespace swiftkv::attention_detail {
namespace {

struct Avx512Ops {
  using Vec = __m512;
  static constexpr int kWidth = 16;

  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec set1(float x) { return _mm512_set1_ps(x); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec sub(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm512_max_ps(a, b); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec exp(Vec x) { return exp_avx512(x); }
  static float reduce_add(Vec v) { return _mm512_reduce_add_ps(v); }
  static float reduce_max(Vec v) { return _mm512_reduce_max_ps(v); }

  static Vec keep_first(Vec v, int64_t count, float fill) {
    const __mmask16 keep = static_cast<__mmask16>((1u << count) - 1u);
    return _mm512_mask_blend_ps(keep, _mm512_set1_ps(fill), v);
  }

  // Sums each of the 16 vectors in a tree of 128-bit-lane and in-lane
  // shuffles (15 adds in all). The tree leaves the sum of a[4j + l] in lane
  // 4l + j, so a final permutation puts the sum of a[i] in lane i.
  static Vec transpose_sum(const Vec* a) {
    Vec halves[8];
    for (int k = 0; k < 8; ++k) {
      halves[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                _mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    }
    Vec quarters[4];
    for (int k = 0; k < 4; ++k) {
      quarters[k] =
          _mm512_add_ps(_mm512_shuffle_f32x4(halves[2 * k], halves[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                        _mm512_shuffle_f32x4(halves[2 * k], halves[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    }
    Vec pairs[2];
    for (int k = 0; k < 2; ++k) {
      pairs[k] = _mm512_add_ps(_mm512_shuffle_ps(quarters[2 * k], quarters[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm512_shuffle_ps(quarters[2 * k], quarters[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    }
    const Vec sums = _mm512_add_ps(_mm512_shuffle_ps(pairs[0], pairs[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(pairs[0], pairs[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, sums);
  }
};

}  // namespace

void attend_kv_group_avx512(const KvGroupTask& task) { attend_kv_group<Avx512Ops>(task); }

}  // namespace swiftkv::attention_detail
