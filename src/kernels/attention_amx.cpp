// Prefill attention on AMX: many query rows of one sequence attend to the
// sequence's cached positions with scores Q K^T and weighted values P V as
// bf16 tile products (float32 accumulation) and an online softmax in float32.
// Built with -mamx-tile -mamx-bf16 and the AVX-512 flags; called only after
// runtime dispatch.
//
// Work split:
//  1. Pack: the keys and values of every KV head of a run are converted once
//     to bf16 in the layouts the tile products read (below), so every query
//     block of the run reuses them and tiles ignore block boundaries.
//  2. Attend: a task is (run, KV head, block of 32 query heads). The query
//     heads of a GQA group share the packed K/V of their KV head, and the
//     block walks the positions in steps of 64 up to its largest n.
//
// A row's result depends only on its own q, n and the keys and values, never
// on the other rows of its block. Tile products compute each output row from
// its own input row, key steps start at position 0, and a step past a row's
// n leaves that row untouched.
#include <immintrin.h>
#include <math.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "kernels/attention_prefill.h"
#include "kernels/attention_simd.h"
#include "kernels/elementwise_exp.h"

namespace swiftkv::attention_detail {
namespace {

constexpr float kNegativeInfinity = -std::numeric_limits<float>::infinity();

// A tile is 16 rows of 64 bytes: 16 float32 or 32 bf16 per row.
constexpr int64_t kTileRows = 16;
// Query heads per block (two tile rows) and positions per online-softmax
// step. 64 positions give each head's max and sum reductions 64 scores and
// fit the weights of a step in four tiles beside two output tiles and two
// value tiles.
constexpr int64_t kBlockHeads = 32;
constexpr int64_t kKeyStep = 64;

// The AMX tile configuration (palette 1): every tile in use is 16 x 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

void configure_tiles() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = kTileRows;
  }
  _tile_loadconfig(&config);
}

// Packed bf16 keys and values of one run for all KV heads, with positions
// padded to a multiple of kKeyStep (the padding is zero).
//   keys:   [HKV, padded / 16, DH / 2, 16, 2]: for each group of 16 positions
//           the pairs of dimensions (2r, 2r + 1) of each position, so rows
//           16c .. 16c + 15 are the B tile of dimensions 32c .. 32c + 31.
//   values: [HKV, padded / 2, DH, 2]: each dimension of positions (2r, 2r + 1)
//           side by side, so 16 rows at stride 4 DH bytes are the B tile of
//           32 positions and 16 dimensions.
struct PackedRun {
  const PrefillRun* run;
  int64_t n_max;
  int64_t padded;
  uint16_t* keys;
  uint16_t* values;
};

const float* position_row(const AttentionRow& row, const float* base, int64_t p, int64_t row_stride) {
  if (row.block_table == nullptr) return base + p * row_stride;
  return base + row.block_table[p / row.block_size] * row.block_stride + (p % row.block_size) * row_stride;
}

// Bf16 of x[0..16) in the low 16 bits of each 32-bit lane (round to nearest even).
__m512i bf16_low(const float* x) {
  return _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(x))));
}

// Packs positions 16j .. 16j + 15 of KV head `kv_head`.
void pack_positions(const PackedRun& packed, int64_t kv_head, int64_t j, int64_t row_stride, int64_t DH) {
  const AttentionRow& first = packed.run->rows[0];
  uint32_t* key_tile = reinterpret_cast<uint32_t*>(packed.keys + (kv_head * packed.padded + j * 16) * DH);
  uint32_t* value_pairs = reinterpret_cast<uint32_t*>(packed.values + (kv_head * packed.padded + j * 16) * DH);
  const __m512i pair_offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                                                    14, 15),
                                                  _mm512_set1_epi32(16));

  for (int64_t i = 0; i < 16; ++i) {
    const int64_t p = j * 16 + i;
    if (p >= packed.n_max) {
      for (int64_t r = 0; r < DH / 2; ++r) key_tile[r * 16 + i] = 0;
      continue;
    }
    const float* key = position_row(first, first.keys, p, row_stride) + kv_head * DH;
    for (int64_t c = 0; c < DH; c += 32) {
      // 16 dimension pairs of this position go to rows c/2 .. c/2 + 15, column i.
      const __m512i pairs = reinterpret_cast<__m512i>(
          _mm512_cvtne2ps_pbh(_mm512_loadu_ps(key + c + 16), _mm512_loadu_ps(key + c)));
      _mm512_i32scatter_epi32(key_tile + (c / 2) * 16 + i, pair_offsets, pairs, 4);
    }
  }

  for (int64_t r = 0; r < 8; ++r) {
    const int64_t p0 = j * 16 + 2 * r;
    uint32_t* out = value_pairs + r * DH;
    const float* v0 = p0 < packed.n_max ? position_row(first, first.values, p0, row_stride) + kv_head * DH : nullptr;
    const float* v1 =
        p0 + 1 < packed.n_max ? position_row(first, first.values, p0 + 1, row_stride) + kv_head * DH : nullptr;
    for (int64_t d = 0; d < DH; d += 16) {
      const __m512i low = v0 != nullptr ? bf16_low(v0 + d) : _mm512_setzero_si512();
      const __m512i high = v1 != nullptr ? _mm512_slli_epi32(bf16_low(v1 + d), 16) : _mm512_setzero_si512();
      _mm512_storeu_si512(out + d, _mm512_or_si512(low, high));
    }
  }
}

// Per-thread buffers of one query block.
struct BlockScratch {
  std::vector<uint16_t> q;        // [kBlockHeads, DH] bf16
  std::vector<float> scores;      // [kBlockHeads, kKeyStep]
  std::vector<uint16_t> weights;  // [kBlockHeads, kKeyStep] bf16
  std::vector<float> acc;         // [kBlockHeads, DH]
  float running_max[kBlockHeads];
  float running_sum[kBlockHeads];

  explicit BlockScratch(int64_t DH)
      : q(static_cast<size_t>(kBlockHeads * DH)),
        scores(static_cast<size_t>(kBlockHeads * kKeyStep)),
        weights(static_cast<size_t>(kBlockHeads * kKeyStep)),
        acc(static_cast<size_t>(kBlockHeads * DH)) {}
};

// scores[32, 64] = Q[32, DH] K^T for positions k0 .. k0 + 63, as two 32 x 32
// halves of four 16 x 16 tiles each.
void score_step(BlockScratch& s, const uint16_t* keys, int64_t k0, int64_t DH) {
  for (int64_t half = 0; half < kKeyStep; half += 32) {
    const uint16_t* key_tile = keys + (k0 + half) * DH;
    float* scores = s.scores.data() + half;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t c = 0; c < DH; c += 32) {
      _tile_loadd(4, s.q.data() + c, DH * 2);
      _tile_loadd(5, s.q.data() + 16 * DH + c, DH * 2);
      _tile_loadd(6, key_tile + c * 16, 64);
      _tile_loadd(7, key_tile + 16 * DH + c * 16, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, scores, kKeyStep * 4);
    _tile_stored(1, scores + 16, kKeyStep * 4);
    _tile_stored(2, scores + 16 * kKeyStep, kKeyStep * 4);
    _tile_stored(3, scores + 16 * kKeyStep + 16, kKeyStep * 4);
  }
}

// Keeps lanes of vector v (positions 16v .. 16v + 15 of the step) below `valid`.
__mmask16 valid_lanes(int64_t valid, int64_t v) {
  const int64_t count = valid - 16 * v;
  if (count >= 16) return 0xFFFF;
  if (count <= 0) return 0;
  return static_cast<__mmask16>((1u << count) - 1u);
}

// Online softmax of head m's scores for positions k0 .. k0 + 63: writes the
// bf16 weights exp(score - max), rescales the head's accumulator when the max
// grows and adds the rounded weights to the running sum.
void softmax_step(BlockScratch& s, int64_t m, int64_t n, int64_t k0, int64_t DH, float scale) {
  constexpr int kVectors = kKeyStep / 16;
  uint16_t* weights = s.weights.data() + m * kKeyStep;
  const int64_t valid = n - k0;
  if (valid <= 0) {
    std::memset(weights, 0, kKeyStep * sizeof(uint16_t));
    return;
  }
  const __m512 masked = _mm512_set1_ps(kNegativeInfinity);
  const __m512 factor = _mm512_set1_ps(scale);
  const float* scores = s.scores.data() + m * kKeyStep;
  __m512 x[kVectors];
  __m512 max_lanes = masked;
  for (int v = 0; v < kVectors; ++v) {
    x[v] = _mm512_mask_mul_ps(masked, valid_lanes(valid, v), _mm512_loadu_ps(scores + 16 * v), factor);
    max_lanes = _mm512_max_ps(max_lanes, x[v]);
  }

  const float old_max = s.running_max[m];
  const float step_max = _mm512_reduce_max_ps(max_lanes);
  const float new_max = step_max > old_max ? step_max : old_max;
  const __m512 shift = _mm512_set1_ps(new_max);
  __m512 sum_lanes = _mm512_setzero_ps();
  for (int v = 0; v < kVectors; v += 2) {
    const __m512bh rounded = _mm512_cvtne2ps_pbh(exp_avx512(_mm512_sub_ps(x[v + 1], shift)),
                                                 exp_avx512(_mm512_sub_ps(x[v], shift)));
    _mm512_storeu_si512(weights + 16 * v, reinterpret_cast<__m512i>(rounded));
    // The even positions are the low halves of the 32-bit lanes and the odd
    // ones the high halves; shifting or masking makes them float32.
    const __m512i bits = reinterpret_cast<__m512i>(rounded);
    const __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(bits, 16));
    const __m512 odd =
        _mm512_castsi512_ps(_mm512_and_si512(bits, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
    sum_lanes = _mm512_add_ps(sum_lanes, _mm512_add_ps(even, odd));
  }

  // The first step has old_max = -inf and an all-zero accumulator.
  const float correction = expf(old_max - new_max);
  s.running_sum[m] = s.running_sum[m] * correction + _mm512_reduce_add_ps(sum_lanes);
  s.running_max[m] = new_max;
  if (correction != 1.0f) {
    float* acc = s.acc.data() + m * DH;
    const __m512 c = _mm512_set1_ps(correction);
    for (int64_t d = 0; d < DH; d += 16) _mm512_storeu_ps(acc + d, _mm512_mul_ps(_mm512_loadu_ps(acc + d), c));
  }
}

// acc[32, DH] += P[32, 64] V for positions k0 .. k0 + 63. Tiles 4-7 hold the
// weights (rows 0-15 and 16-31 of positions 0-31, then of 32-63).
void value_step(BlockScratch& s, const uint16_t* values, int64_t k0, int64_t DH) {
  const uint16_t* weights = s.weights.data();
  _tile_loadd(4, weights, kKeyStep * 2);
  _tile_loadd(5, weights + 16 * kKeyStep, kKeyStep * 2);
  _tile_loadd(6, weights + 32, kKeyStep * 2);
  _tile_loadd(7, weights + 16 * kKeyStep + 32, kKeyStep * 2);
  const uint16_t* first_pairs = values + k0 * DH;  // positions k0 .. k0 + 31
  const uint16_t* second_pairs = first_pairs + 32 * DH;
  for (int64_t d = 0; d < DH; d += 16) {
    float* acc = s.acc.data() + d;
    _tile_loadd(0, acc, DH * 4);
    _tile_loadd(1, acc + 16 * DH, DH * 4);
    _tile_loadd(2, first_pairs + 2 * d, DH * 4);
    _tile_loadd(3, second_pairs + 2 * d, DH * 4);
    _tile_dpbf16ps(0, 4, 2);
    _tile_dpbf16ps(1, 5, 2);
    _tile_dpbf16ps(0, 6, 3);
    _tile_dpbf16ps(1, 7, 3);
    _tile_stored(0, acc, DH * 4);
    _tile_stored(1, acc + 16 * DH, DH * 4);
  }
}

// Runs query heads [first, first + 32) of `packed` over KV head `kv_head`.
// Head i of the run is query head kv_head * group + i % group of row i / group.
void attend_block(const PackedRun& packed, int64_t kv_head, int64_t first, int64_t group, int64_t DH, float scale,
                  BlockScratch& s) {
  QueryHead heads[kBlockHeads];
  const int64_t head_total = packed.run->count * group;
  int64_t block_n = 0;
  for (int64_t m = 0; m < kBlockHeads; ++m) {
    const int64_t i = first + m;
    uint16_t* q_bf16 = s.q.data() + m * DH;
    s.running_max[m] = kNegativeInfinity;
    s.running_sum[m] = 0.0f;
    std::memset(s.acc.data() + m * DH, 0, DH * sizeof(float));
    if (i >= head_total) {
      heads[m] = {nullptr, 0, nullptr};
      std::memset(q_bf16, 0, DH * sizeof(uint16_t));
      continue;
    }
    const AttentionRow& row = packed.run->rows[i / group];
    const int64_t h = kv_head * group + i % group;
    heads[m] = {row.q + h * DH, row.n, row.out + h * DH};
    block_n = std::max(block_n, row.n);
    for (int64_t c = 0; c < DH; c += 32) {
      const __m512bh pairs = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(heads[m].q + c + 16), _mm512_loadu_ps(heads[m].q + c));
      _mm512_storeu_si512(q_bf16 + c, reinterpret_cast<__m512i>(pairs));
    }
  }

  const uint16_t* keys = packed.keys + kv_head * packed.padded * DH;
  const uint16_t* values = packed.values + kv_head * packed.padded * DH;
  for (int64_t k0 = 0; k0 < block_n; k0 += kKeyStep) {
    score_step(s, keys, k0, DH);
    for (int64_t m = 0; m < kBlockHeads; ++m) softmax_step(s, m, heads[m].n, k0, DH, scale);
    value_step(s, values, k0, DH);
  }

  for (int64_t m = 0; m < kBlockHeads; ++m) {
    if (heads[m].out == nullptr) continue;
    const __m512 inverse_sum = _mm512_set1_ps(1.0f / s.running_sum[m]);
    const float* acc = s.acc.data() + m * DH;
    for (int64_t d = 0; d < DH; d += 16) {
      _mm512_storeu_ps(heads[m].out + d, _mm512_mul_ps(_mm512_loadu_ps(acc + d), inverse_sum));
    }
  }
}

struct PackItem {
  int64_t run, kv_head, j;
};

struct BlockTask {
  int64_t run, kv_head, first;
};

}  // namespace

void attend_prefill_amx(const PrefillRun* runs, int64_t run_count, int64_t row_stride, int64_t H, int64_t HKV,
                        int64_t DH, bool parallel) {
  SKV_ASSERT(DH % 32 == 0);
  const int64_t group = H / HKV;
  const float scale = 1.0f / sqrtf(static_cast<float>(DH));

  // The packed buffer is reused across calls because a prefill calls this once
  // per layer with the same sizes.
  thread_local std::vector<uint16_t> buffer;
  std::vector<PackedRun> packed(static_cast<size_t>(run_count));
  int64_t total = 0;
  for (int64_t r = 0; r < run_count; ++r) {
    int64_t n_max = 0;
    for (int64_t i = 0; i < runs[r].count; ++i) n_max = std::max(n_max, runs[r].rows[i].n);
    const int64_t padded = (n_max + kKeyStep - 1) / kKeyStep * kKeyStep;
    packed[r] = {&runs[r], n_max, padded, nullptr, nullptr};
    total += 2 * HKV * padded * DH;
  }
  if (static_cast<int64_t>(buffer.size()) < total) buffer.resize(static_cast<size_t>(total));
  std::vector<PackItem> pack_items;
  std::vector<BlockTask> tasks;
  int64_t offset = 0;
  for (int64_t r = 0; r < run_count; ++r) {
    PackedRun& p = packed[r];
    p.keys = buffer.data() + offset;
    p.values = p.keys + HKV * p.padded * DH;
    offset += 2 * HKV * p.padded * DH;
    for (int64_t g = 0; g < HKV; ++g) {
      for (int64_t j = 0; j < p.padded / 16; ++j) pack_items.push_back({r, g, j});
      for (int64_t first = 0; first < runs[r].count * group; first += kBlockHeads) tasks.push_back({r, g, first});
    }
  }
  const int64_t pack_count = static_cast<int64_t>(pack_items.size());
  const int64_t task_count = static_cast<int64_t>(tasks.size());

#pragma omp parallel if (parallel)
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < pack_count; ++i) {
      const PackItem& item = pack_items[static_cast<size_t>(i)];
      pack_positions(packed[static_cast<size_t>(item.run)], item.kv_head, item.j, row_stride, DH);
    }

    configure_tiles();
    BlockScratch scratch(DH);
    // Later blocks of a run attend to more positions, so handing them out
    // first balances the dynamic schedule.
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < task_count; ++i) {
      const BlockTask& task = tasks[static_cast<size_t>(task_count - 1 - i)];
      attend_block(packed[static_cast<size_t>(task.run)], task.kv_head, task.first, group, DH, scale, scratch);
    }
    _tile_release();
  }
}

}  // namespace swiftkv::attention_detail
