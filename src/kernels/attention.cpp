#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "kernels/attention_prefill.h"
#include "kernels/attention_simd.h"
#include "kernels/ops_ref.h"

namespace swiftkv {

namespace {

using attention_detail::KvGroupTask;
using attention_detail::PrefillRun;
using attention_detail::QueryHead;

// Query heads per task. Every head of a task reads each K/V tile once it is
// loaded, so more heads mean fewer loads. With 16 heads the K and V tiles
// (16 KiB each) and the output accumulators (16 * DH floats) fit together in a
// 48 KiB L1 data cache for DH <= 128. NOTE: 16 is not tuned by measurement.
constexpr int64_t kMaxHeadsPerTask = 16;

// Below this many multiply-adds a call runs on the calling thread, because
// waking the OpenMP team costs more than the work.
constexpr int64_t kMinParallelMultiplyAdds = int64_t{1} << 18;

// Rows of one sequence from which the AMX prefill kernel runs them. Measured
// with H 32, HKV 8, DH 64, n from 64 to 2048 and 2 threads on a Sapphire
// Rapids class machine. Both kernels took the same time for 2 rows and AMX
// was faster from 3 rows, while the float32 kernel was 1.5x faster for 1 row.
// NOTE: a prompt chunk of a single row (the token budget of a step nearly
// used up by other sequences) runs the float32 kernel while a longer chunk
// of the same prompt would run bf16 AMX, so such a row's result can differ by
// the bf16 rounding (about 3e-3 relative) with the batch it is scheduled in.
constexpr int64_t kMinPrefillRows = 2;

// Rows [first, first + count) of one sequence that share a task.
struct RowBlock {
  int64_t first;
  int64_t count;
};

// Groups consecutive rows that read the same cache (prefill rows of one
// sequence) into blocks of at most `max_rows`.
std::vector<RowBlock> block_rows(const AttentionRow* rows, int64_t count, int64_t max_rows) {
  std::vector<RowBlock> blocks;
  for (int64_t r = 0; r < count; ++r) {
    if (!blocks.empty()) {
      RowBlock& last = blocks.back();
      const AttentionRow& first_row = rows[last.first];
      if (last.count < max_rows && rows[r].keys == first_row.keys && rows[r].values == first_row.values &&
          rows[r].block_table == first_row.block_table) {
        ++last.count;
        continue;
      }
    }
    blocks.push_back({r, 1});
  }
  return blocks;
}

// Batch-1 decode offers the threads only HKV tasks (3 for SmolLM2), so one
// thread would read twice the cache of the other. A decode row (a block of
// one row) of at least 2 * kSplitPositions positions is therefore split into
// parts of at least kSplitPositions, which run as separate tasks and are
// merged. The parts depend only on the row's n, not on the batch.
constexpr int64_t kSplitPositions = 512;
constexpr int64_t kMaxParts = 8;

// A task: one KV head of a row block, over positions [begin, end).
struct TaskSpec {
  int64_t block;
  int64_t kv_head;
  int64_t begin = 0;
  int64_t end = INT64_MAX;
  int64_t split = -1;  // index into TaskPlan::splits for a part, else -1
  int64_t part = 0;
};

// A (decode row, KV head) whose parts merge_partials combines.
struct SplitRow {
  int64_t block;
  int64_t kv_head;
  int64_t parts;
};

struct TaskPlan {
  std::vector<TaskSpec> tasks;
  std::vector<SplitRow> splits;
};

// Floats of one split's partial results: kMaxParts x group x DH sums, then
// kMaxParts x group x (max, sum).
int64_t split_floats(int64_t group, int64_t DH) { return kMaxParts * group * (DH + 2); }

// Lists one task per (row block, KV head), or one per part of a split decode
// row. Later blocks of a prefill have longer rows, so their tasks come first
// to balance the dynamic schedule.
TaskPlan plan_tasks(const AttentionRow* rows, const std::vector<RowBlock>& blocks, int64_t HKV, int64_t DH) {
  TaskPlan plan;
  const int64_t tile = attention_detail::tile_positions(DH);
  for (int64_t b = static_cast<int64_t>(blocks.size()) - 1; b >= 0; --b) {
    const RowBlock& block = blocks[static_cast<size_t>(b)];
    const int64_t n = rows[block.first].n;
    const int64_t parts = block.count == 1 ? std::clamp<int64_t>(n / kSplitPositions, 1, kMaxParts) : 1;
    for (int64_t kv_head = HKV - 1; kv_head >= 0; --kv_head) {
      if (parts == 1) {
        plan.tasks.push_back({b, kv_head});
        continue;
      }
      // Part boundaries on tile multiples keep the tiles of an unsplit row.
      const int64_t length = ((n + parts - 1) / parts + tile - 1) / tile * tile;
      const int64_t split = static_cast<int64_t>(plan.splits.size());
      int64_t part = 0;
      for (int64_t begin = 0; begin < n; begin += length, ++part) {
        plan.tasks.push_back({b, kv_head, begin, std::min(n, begin + length), split, part});
      }
      plan.splits.push_back({b, kv_head, part});
    }
  }
  return plan;
}

// Combines the parts of a split row for each of `group` heads:
// out = sum_p acc_p * exp(max_p - max) / sum_p sum_p * exp(max_p - max).
void merge_partials(const float* acc, const float* stats, int64_t parts, int64_t group, int64_t DH, float* out) {
  for (int64_t h = 0; h < group; ++h) {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t p = 0; p < parts; ++p) max = std::max(max, stats[(p * group + h) * 2]);
    float sum = 0.0f;
    float factors[kMaxParts];
    for (int64_t p = 0; p < parts; ++p) {
      factors[p] = std::exp(stats[(p * group + h) * 2] - max);
      sum += stats[(p * group + h) * 2 + 1] * factors[p];
    }
    for (int64_t d = 0; d < DH; ++d) {
      float value = 0.0f;
      for (int64_t p = 0; p < parts; ++p) value += acc[(p * group + h) * DH + d] * factors[p];
      out[h * DH + d] = value / sum;
    }
  }
}

void check_shapes(const AttentionRow* rows, int64_t count, int64_t row_stride, int64_t H, int64_t HKV,
                  int64_t DH) {
  if (H <= 0 || HKV <= 0 || H % HKV != 0) {
    fail("attention: %lld query heads is not a positive multiple of %lld KV heads", static_cast<long long>(H),
         static_cast<long long>(HKV));
  }
  if (DH <= 0 || row_stride < HKV * DH) {
    fail("attention: row stride %lld is smaller than HKV * DH = %lld * %lld", static_cast<long long>(row_stride),
         static_cast<long long>(HKV), static_cast<long long>(DH));
  }
  for (int64_t r = 0; r < count; ++r) {
    SKV_ASSERT(rows[r].n >= 1);
    SKV_ASSERT(rows[r].block_table == nullptr || rows[r].block_size >= 1);
  }
}

// Copies the n positions of a paged row into contiguous keys/values rows of
// `row_stride` floats, in position order.
void gather_positions(const AttentionRow& row, int64_t row_stride, std::vector<float>& keys,
                      std::vector<float>& values) {
  keys.resize(static_cast<size_t>(row.n * row_stride));
  values.resize(keys.size());
  for (int64_t p = 0; p < row.n; ++p) {
    const int64_t offset =
        row.block_table[p / row.block_size] * row.block_stride + (p % row.block_size) * row_stride;
    std::copy_n(row.keys + offset, row_stride, keys.data() + p * row_stride);
    std::copy_n(row.values + offset, row_stride, values.data() + p * row_stride);
  }
}

// The reference path. A paged row whose positions span more than one block
// is gathered into contiguous rows first.
void attention_rows_scalar(const AttentionRow* rows, int64_t count, int64_t row_stride, int64_t H, int64_t HKV,
                           int64_t DH, bool parallel) {
#pragma omp parallel if (parallel)
  {
    std::vector<float> keys;
    std::vector<float> values;
#pragma omp for schedule(dynamic, 1)
    for (int64_t r = 0; r < count; ++r) {
      const AttentionRow& row = rows[r];
      if (row.block_table == nullptr) {
        attention_row_ref(row.q, row.keys, row.values, row.n, row_stride, H, HKV, DH, row.out);
      } else if (row.n <= row.block_size) {
        const int64_t offset = row.block_table[0] * row.block_stride;
        attention_row_ref(row.q, row.keys + offset, row.values + offset, row.n, row_stride, H, HKV, DH, row.out);
      } else {
        gather_positions(row, row_stride, keys, values);
        attention_row_ref(row.q, keys.data(), values.data(), row.n, row_stride, H, HKV, DH, row.out);
      }
    }
  }
}

// Runs rows with the tiled float32 kernels of attention_tile.h.
void attention_rows_tiled(const AttentionRow* rows, int64_t count, int64_t row_stride, int64_t H, int64_t HKV,
                          int64_t DH, CpuLevel level, bool parallel) {
  if (count == 0) return;
  // The vector kernels load whole vectors of a head, so DH must be a multiple
  // of the vector width; AVX-512 with DH % 16 == 8 uses the AVX2 kernel.
  if (level == CpuLevel::kScalar || DH % 8 != 0) {
    attention_rows_scalar(rows, count, row_stride, H, HKV, DH, parallel);
    return;
  }
  const bool use_avx512 = level >= CpuLevel::kAvx512 && DH % 16 == 0;
  void (*const attend)(const KvGroupTask&) =
      use_avx512 ? attention_detail::attend_kv_group_avx512 : attention_detail::attend_kv_group_avx2;

  const int64_t group = H / HKV;
  const int64_t rows_per_block = group >= kMaxHeadsPerTask ? 1 : kMaxHeadsPerTask / group;
  const std::vector<RowBlock> blocks = block_rows(rows, count, rows_per_block);
  const TaskPlan plan = plan_tasks(rows, blocks, HKV, DH);
  std::vector<float> partials(static_cast<size_t>(plan.splits.size() * split_floats(group, DH)));
  const float scale = 1.0f / std::sqrt(static_cast<float>(DH));

#pragma omp parallel if (parallel)
  {
    std::vector<QueryHead> heads(static_cast<size_t>(rows_per_block * group));
    std::vector<float> scratch(
        static_cast<size_t>(attention_detail::kv_group_scratch_floats(rows_per_block * group, DH)));

#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < static_cast<int64_t>(plan.tasks.size()); ++i) {
      const TaskSpec& spec = plan.tasks[static_cast<size_t>(i)];
      const RowBlock& block = blocks[static_cast<size_t>(spec.block)];
      float* split = spec.split < 0 ? nullptr : partials.data() + spec.split * split_floats(group, DH);

      int64_t head_count = 0;
      for (int64_t r = block.first; r < block.first + block.count; ++r) {
        for (int64_t h = spec.kv_head * group; h < (spec.kv_head + 1) * group; ++h) {
          float* out = split == nullptr ? rows[r].out + h * DH : split + (spec.part * group + head_count) * DH;
          heads[static_cast<size_t>(head_count++)] = {rows[r].q + h * DH, rows[r].n, out};
        }
      }
      const AttentionRow& first_row = rows[block.first];
      KvGroupTask task{heads.data(),           head_count, first_row.keys + spec.kv_head * DH,
                       first_row.values + spec.kv_head * DH, row_stride, first_row.block_table,
                       first_row.block_size,    first_row.block_stride, DH, scale, scratch.data()};
      task.begin = spec.begin;
      task.end = spec.end;
      if (split != nullptr) task.partial = split + kMaxParts * group * DH + spec.part * 2 * group;
      attend(task);
    }

#pragma omp for schedule(static)
    for (int64_t s = 0; s < static_cast<int64_t>(plan.splits.size()); ++s) {
      const SplitRow& split = plan.splits[static_cast<size_t>(s)];
      const AttentionRow& row = rows[blocks[static_cast<size_t>(split.block)].first];
      const float* acc = partials.data() + s * split_floats(group, DH);
      merge_partials(acc, acc + kMaxParts * group * DH, split.parts, group, DH, row.out + split.kv_head * group * DH);
    }
  }
}

// True when rows a and b read the same cache (rows of one sequence).
bool same_sequence(const AttentionRow& a, const AttentionRow& b) {
  return a.keys == b.keys && a.values == b.values && a.block_table == b.block_table &&
         a.block_size == b.block_size && a.block_stride == b.block_stride;
}

// Sends runs of at least kMinPrefillRows consecutive rows of one sequence to
// the AMX prefill kernel and copies the other rows into `rest`.
void attend_prefill_runs(const AttentionRow* rows, int64_t count, int64_t row_stride, int64_t H, int64_t HKV,
                         int64_t DH, bool parallel, std::vector<AttentionRow>& rest) {
  std::vector<PrefillRun> runs;
  for (int64_t first = 0; first < count;) {
    int64_t end = first + 1;
    while (end < count && same_sequence(rows[end], rows[first])) ++end;
    if (end - first >= kMinPrefillRows) {
      runs.push_back({rows + first, end - first});
    } else {
      rest.insert(rest.end(), rows + first, rows + end);
    }
    first = end;
  }
  if (!runs.empty()) {
    attention_detail::attend_prefill_amx(runs.data(), static_cast<int64_t>(runs.size()), row_stride, H, HKV, DH,
                                         parallel);
  }
}

}  // namespace

void attention_rows(const AttentionRow* rows, int64_t count, int64_t row_stride, int64_t H, int64_t HKV,
                    int64_t DH, CpuLevel level) {
  check_shapes(rows, count, row_stride, H, HKV, DH);
  if (count == 0) return;

  int64_t multiply_adds = 0;
  for (int64_t r = 0; r < count; ++r) multiply_adds += 2 * rows[r].n * H * DH;
  const bool parallel = multiply_adds >= kMinParallelMultiplyAdds;

  if (level >= CpuLevel::kAmx && DH % 32 == 0) {
    std::vector<AttentionRow> rest;
    attend_prefill_runs(rows, count, row_stride, H, HKV, DH, parallel, rest);
    attention_rows_tiled(rest.data(), static_cast<int64_t>(rest.size()), row_stride, H, HKV, DH, level, parallel);
    return;
  }
  attention_rows_tiled(rows, count, row_stride, H, HKV, DH, level, parallel);
}

}  // namespace swiftkv
