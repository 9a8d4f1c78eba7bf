// AVX2 instantiation of the tiled attention kernel. Built with -mavx2 -mfma;
// called only after runtime dispatch.
#include <immintrin.h>

#include "kernels/attention_simd.h"
#include "kernels/attention_tile.h"
#include "kernels/elementwise_exp.h"

namespace swiftkv::attention_detail {
namespace {

struct Avx2Ops {
  using Vec = __m256;
  static constexpr int kWidth = 8;

  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec set1(float x) { return _mm256_set1_ps(x); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec sub(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec exp(Vec x) { return exp_avx2(x); }

  static float reduce_add(Vec v) {
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    return _mm_cvtss_f32(sum);
  }

  static float reduce_max(Vec v) {
    __m128 max = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    max = _mm_max_ps(max, _mm_movehl_ps(max, max));
    max = _mm_max_ss(max, _mm_movehdup_ps(max));
    return _mm_cvtss_f32(max);
  }

  static Vec keep_first(Vec v, int64_t count, float fill) {
    const __m256 lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 keep = _mm256_cmp_ps(lane, _mm256_set1_ps(static_cast<float>(count)), _CMP_LT_OQ);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), v, keep);
  }

  // Sums each of the 8 vectors in a tree of 128-bit-lane and in-lane
  // shuffles (7 adds in all). The tree leaves the sum of a[2j + l] in lane
  // 4l + j, so a final permutation puts the sum of a[i] in lane i.
  static Vec transpose_sum(const Vec* a) {
    Vec halves[4];
    for (int k = 0; k < 4; ++k) {
      halves[k] = _mm256_add_ps(_mm256_permute2f128_ps(a[2 * k], a[2 * k + 1], 0x20),
                                _mm256_permute2f128_ps(a[2 * k], a[2 * k + 1], 0x31));
    }
    Vec pairs[2];
    for (int k = 0; k < 2; ++k) {
      pairs[k] = _mm256_add_ps(_mm256_shuffle_ps(halves[2 * k], halves[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm256_shuffle_ps(halves[2 * k], halves[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    }
    const Vec sums = _mm256_add_ps(_mm256_shuffle_ps(pairs[0], pairs[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm256_shuffle_ps(pairs[0], pairs[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    return _mm256_permutevar8x32_ps(sums, order);
  }
};

}  // namespace

void attend_kv_group_avx2(const KvGroupTask& task) { attend_kv_group<Avx2Ops>(task); }

}  // namespace swiftkv::attention_detail
