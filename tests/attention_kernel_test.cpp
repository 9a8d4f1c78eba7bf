// The tiled attention kernel against attention_row_ref at every CPU level
// this machine supports, plus a prefill throughput report.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/cpu_features.h"
#include "kernels/ops_ref.h"
#include "numeric_util.h"

namespace swiftkv {
namespace {

// Relative error bound ||out - ref|| / ||ref||. The kernel sums dot products
// and softmax terms in a different order than the reference and uses a vector
// exp with relative error below 1.2e-7. Measured: at most 1.1e-6 up to
// n = 1000 and 4.6e-6 at n = 32768, where both sides round a float32 sum of
// 32768 weighted values.
constexpr double kAttentionTolerance = 1e-5;

// The AMX prefill kernel (2 or more rows of a sequence with DH % 32 == 0)
// rounds queries, keys, values and softmax weights to bf16 (8 significant
// bits, relative rounding error up to 2^-9 = 2e-3 each) and accumulates in
// float32.
constexpr double kBf16AttentionTolerance = 1e-2;

// The bound for results computed at `level`: AMX may run the bf16 kernel.
double tolerance_at(CpuLevel level) {
  return level == CpuLevel::kAmx ? kBf16AttentionTolerance : kAttentionTolerance;
}

using testing::random_floats;
using testing::relative_error;
using testing::supported_levels;

struct HeadShape {
  int64_t H, HKV, DH;
};

// One sequence whose cache contains `n` positions, with `row_count` query rows at
// the last positions (prefill when row_count > 1). Rows are `row_stride` floats
// apart in the cache, wider than HKV * DH as when layers are interleaved.
struct SequenceCase {
  HeadShape shape;
  int64_t n;
  int64_t row_count;
  int64_t row_stride;
  std::vector<float> keys, values, queries, expected;

  SequenceCase(HeadShape s, int64_t n_, int64_t rows, std::mt19937& rng)
      : shape(s), n(n_), row_count(rows), row_stride(s.HKV * s.DH + 8) {
    // Queries in [-2, 2] and keys in [-1, 1] give scaled scores with a standard
    // deviation of about 0.7, so the softmax is neither flat nor one-hot.
    keys = random_floats(static_cast<size_t>(n * row_stride), rng, 1.0f);
    values = random_floats(static_cast<size_t>(n * row_stride), rng, 1.0f);
    queries = random_floats(static_cast<size_t>(rows * s.H * s.DH), rng, 2.0f);
    expected.resize(queries.size());
    for (int64_t r = 0; r < rows; ++r) {
      attention_row_ref(queries.data() + r * s.H * s.DH, keys.data(), values.data(), n - rows + 1 + r, row_stride,
                        s.H, s.HKV, s.DH, expected.data() + r * s.H * s.DH);
    }
  }

  std::vector<AttentionRow> rows(std::vector<float>& out) const {
    std::vector<AttentionRow> result;
    for (int64_t r = 0; r < row_count; ++r) {
      result.push_back({queries.data() + r * shape.H * shape.DH, keys.data(), values.data(), n - row_count + 1 + r,
                        out.data() + r * shape.H * shape.DH});
    }
    return result;
  }
};

const HeadShape kShapes[] = {{1, 1, 8}, {4, 2, 8},  {9, 3, 64},  {32, 8, 64}, {1, 1, 72},
                             {9, 3, 72}, {4, 2, 128}, {32, 8, 128}, {8, 2, 256}};
// 1100 and 2049 split a decode row into 2 and 4 parts.
const int64_t kLengths[] = {1, 2, 63, 64, 65, 1000, 1100, 2049};

TEST(AttentionKernel, DecodeRowsMatchReference) {
  std::mt19937 rng(1);
  for (const HeadShape& shape : kShapes) {
    for (int64_t n : kLengths) {
      const SequenceCase sequence(shape, n, 1, rng);
      for (CpuLevel level : supported_levels()) {
        std::vector<float> out(sequence.expected.size());
        const std::vector<AttentionRow> rows = sequence.rows(out);
        attention_rows(rows.data(), 1, sequence.row_stride, shape.H, shape.HKV, shape.DH, level);
        EXPECT_LE(relative_error(out, sequence.expected), kAttentionTolerance)
            << cpu_level_name(level) << " H=" << shape.H << " HKV=" << shape.HKV << " DH=" << shape.DH << " n=" << n;
      }
    }
  }
}

TEST(AttentionKernel, PrefillRowsMatchReference) {
  std::mt19937 rng(2);
  for (const HeadShape& shape : kShapes) {
    for (int64_t n : kLengths) {
      // The last rows of a prompt: each row attends to its own prefix.
      const int64_t row_count = n < 37 ? n : 37;
      const SequenceCase sequence(shape, n, row_count, rng);
      for (CpuLevel level : supported_levels()) {
        std::vector<float> out(sequence.expected.size());
        const std::vector<AttentionRow> rows = sequence.rows(out);
        attention_rows(rows.data(), row_count, sequence.row_stride, shape.H, shape.HKV, shape.DH, level);
        EXPECT_LE(relative_error(out, sequence.expected), tolerance_at(level))
            << cpu_level_name(level) << " H=" << shape.H << " HKV=" << shape.HKV << " DH=" << shape.DH << " n=" << n;
      }
    }
  }
}

TEST(AttentionKernel, BatchOfSequencesMatchesReference) {
  // Decode rows of several sequences in one call, each over its own cache.
  std::mt19937 rng(3);
  const HeadShape shape{9, 3, 64};
  std::vector<SequenceCase> sequences;
  for (int64_t n : {1, 17, 64, 300, 1000}) sequences.emplace_back(shape, n, 1, rng);

  for (CpuLevel level : supported_levels()) {
    std::vector<std::vector<float>> outputs;
    std::vector<AttentionRow> rows;
    for (const SequenceCase& sequence : sequences) outputs.emplace_back(sequence.expected.size());
    for (size_t i = 0; i < sequences.size(); ++i) rows.push_back(sequences[i].rows(outputs[i])[0]);
    attention_rows(rows.data(), static_cast<int64_t>(rows.size()), sequences[0].row_stride, shape.H, shape.HKV,
                   shape.DH, level);
    for (size_t i = 0; i < sequences.size(); ++i) {
      EXPECT_LE(relative_error(outputs[i], sequences[i].expected), kAttentionTolerance)
          << cpu_level_name(level) << " n=" << sequences[i].n;
    }
  }
}

TEST(AttentionKernel, LongContextMatchesReference) {
  // 32k positions: the running sum and max cross 500+ tiles.
  std::mt19937 rng(4);
  const SequenceCase sequence({32, 8, 128}, 32768, 1, rng);
  for (CpuLevel level : supported_levels()) {
    std::vector<float> out(sequence.expected.size());
    const std::vector<AttentionRow> rows = sequence.rows(out);
    attention_rows(rows.data(), 1, sequence.row_stride, 32, 8, 128, level);
    EXPECT_LE(relative_error(out, sequence.expected), kAttentionTolerance) << cpu_level_name(level);
  }
}

// `sequence`'s cache copied into a pool of shuffled blocks of `block_size`
// positions with two spare blocks, as a paged KV cache stores it.
struct PagedCopy {
  std::vector<float> keys, values;
  std::vector<int32_t> table;
  int64_t block_stride;

  PagedCopy(const SequenceCase& sequence, int64_t block_size, std::mt19937& rng) {
    const int64_t num_blocks = (sequence.n + block_size - 1) / block_size + 2;
    block_stride = block_size * sequence.row_stride;
    std::vector<int32_t> order(static_cast<size_t>(num_blocks));
    for (int32_t b = 0; b < static_cast<int32_t>(num_blocks); ++b) order[b] = b;
    std::shuffle(order.begin(), order.end(), rng);
    table.assign(order.begin(), order.begin() + (num_blocks - 2));
    keys = random_floats(static_cast<size_t>(num_blocks * block_stride), rng, 1.0f);  // garbage in unused rows
    values = random_floats(keys.size(), rng, 1.0f);
    for (int64_t p = 0; p < sequence.n; ++p) {
      const int64_t offset = table[p / block_size] * block_stride + (p % block_size) * sequence.row_stride;
      std::copy_n(sequence.keys.data() + p * sequence.row_stride, sequence.row_stride, keys.data() + offset);
      std::copy_n(sequence.values.data() + p * sequence.row_stride, sequence.row_stride, values.data() + offset);
    }
  }
};

// Points the rows at `paged`'s block pool instead of the contiguous cache.
void use_paged_cache(std::vector<AttentionRow>& rows, const PagedCopy& paged, int64_t block_size) {
  for (AttentionRow& row : rows) {
    row.keys = paged.keys.data();
    row.values = paged.values.data();
    row.block_table = paged.table.data();
    row.block_size = block_size;
    row.block_stride = paged.block_stride;
  }
}

TEST(AttentionKernel, PagedRowsMatchContiguous) {
  std::mt19937 rng(6);
  const HeadShape shapes[] = {{4, 2, 8}, {9, 3, 64}, {9, 3, 72}};
  for (const HeadShape& shape : shapes) {
    // n = 1500 is one decode row, split into 2 parts.
    for (int64_t n : {1, 5, 63, 65, 200, 1500}) {
      int64_t row_count = std::min<int64_t>(n, 7);
      if (n >= 1000) row_count = 1;
      const SequenceCase sequence(shape, n, row_count, rng);
      for (int64_t block_size : {1, 3, 16, 17}) {
        const PagedCopy paged(sequence, block_size, rng);
        for (CpuLevel level : supported_levels()) {
          std::vector<float> contiguous_out(sequence.expected.size());
          const std::vector<AttentionRow> contiguous_rows = sequence.rows(contiguous_out);
          attention_rows(contiguous_rows.data(), row_count, sequence.row_stride, shape.H, shape.HKV, shape.DH,
                         level);

          std::vector<float> paged_out(sequence.expected.size());
          std::vector<AttentionRow> paged_rows = sequence.rows(paged_out);
          use_paged_cache(paged_rows, paged, block_size);
          attention_rows(paged_rows.data(), row_count, sequence.row_stride, shape.H, shape.HKV, shape.DH, level);

          const std::string where = std::string(cpu_level_name(level)) + " DH=" + std::to_string(shape.DH) +
                                    " n=" + std::to_string(n) + " block_size=" + std::to_string(block_size);
          EXPECT_LE(relative_error(paged_out, sequence.expected), tolerance_at(level)) << where;
          // The reference path gathers the same rows in the same order.
          if (level == CpuLevel::kScalar) {
            EXPECT_EQ(paged_out, contiguous_out) << where;
          }
          EXPECT_LE(relative_error(paged_out, contiguous_out), kAttentionTolerance) << where;
        }
      }
    }
  }
}

TEST(AttentionKernel, AmxPrefillMatchesReference) {
  if (detected_cpu_level() < CpuLevel::kAmx) GTEST_SKIP() << "this CPU has no AMX";
  std::mt19937 rng(7);
  // GQA ratios 1, 4 and 8 with DH 64 and 128.
  const HeadShape shapes[] = {{4, 4, 64}, {8, 2, 128}, {16, 2, 64}, {32, 8, 64}, {32, 4, 128}};
  struct Chunk {
    int64_t rows, n;  // the rows attend at positions n - rows .. n - 1
  };
  // Row counts that are not multiples of the 32-head block, odd context
  // lengths, and chunks whose first position is above 0.
  const Chunk chunks[] = {{2, 2}, {3, 70}, {17, 17}, {45, 45}, {100, 301}, {33, 1000}};
  for (const HeadShape& shape : shapes) {
    for (const Chunk& chunk : chunks) {
      const SequenceCase sequence(shape, chunk.n, chunk.rows, rng);
      std::vector<float> out(sequence.expected.size());
      std::vector<AttentionRow> rows = sequence.rows(out);
      attention_rows(rows.data(), chunk.rows, sequence.row_stride, shape.H, shape.HKV, shape.DH, CpuLevel::kAmx);
      const std::string where = "H=" + std::to_string(shape.H) + " HKV=" + std::to_string(shape.HKV) +
                                " DH=" + std::to_string(shape.DH) + " rows=" + std::to_string(chunk.rows) +
                                " n=" + std::to_string(chunk.n);
      const double contiguous_error = relative_error(out, sequence.expected);
      EXPECT_LE(contiguous_error, kBf16AttentionTolerance) << where;
      // Far above the float32 kernels' error, so the bf16 kernel really ran.
      EXPECT_GE(contiguous_error, 1e-5) << where;

      for (int64_t block_size : {16, 17}) {
        const PagedCopy paged(sequence, block_size, rng);
        std::vector<float> paged_out(sequence.expected.size());
        std::vector<AttentionRow> paged_rows = sequence.rows(paged_out);
        use_paged_cache(paged_rows, paged, block_size);
        attention_rows(paged_rows.data(), chunk.rows, sequence.row_stride, shape.H, shape.HKV, shape.DH,
                       CpuLevel::kAmx);
        // Packing reads positions in order from any block layout, so the
        // paged result equals the contiguous one bit for bit.
        EXPECT_EQ(paged_out, out) << where << " block_size=" << block_size;
      }
    }
  }
}

TEST(AttentionKernel, AmxPrefillIndependentOfBatch) {
  if (detected_cpu_level() < CpuLevel::kAmx) GTEST_SKIP() << "this CPU has no AMX";
  std::mt19937 rng(8);
  const HeadShape shape{32, 8, 64};
  const SequenceCase sequence(shape, 150, 70, rng);
  const SequenceCase other(shape, 90, 40, rng);

  std::vector<float> alone(sequence.expected.size());
  const std::vector<AttentionRow> alone_rows = sequence.rows(alone);
  attention_rows(alone_rows.data(), 70, sequence.row_stride, shape.H, shape.HKV, shape.DH, CpuLevel::kAmx);

  // The same rows after rows of another sequence (19 of its prefill rows and
  // its last row), which run in the same parallel region.
  std::vector<float> together(sequence.expected.size());
  std::vector<float> other_out(other.expected.size());
  std::vector<AttentionRow> batch = other.rows(other_out);
  batch.erase(batch.begin() + 19, batch.end() - 1);
  const std::vector<AttentionRow> sequence_rows = sequence.rows(together);
  batch.insert(batch.end(), sequence_rows.begin(), sequence_rows.end());
  attention_rows(batch.data(), static_cast<int64_t>(batch.size()), sequence.row_stride, shape.H, shape.HKV,
                 shape.DH, CpuLevel::kAmx);
  EXPECT_EQ(together, alone);

  // The same rows as two prefill chunks of 27 and 43 rows.
  std::vector<float> chunked(sequence.expected.size());
  const std::vector<AttentionRow> chunk_rows = sequence.rows(chunked);
  attention_rows(chunk_rows.data(), 27, sequence.row_stride, shape.H, shape.HKV, shape.DH, CpuLevel::kAmx);
  attention_rows(chunk_rows.data() + 27, 43, sequence.row_stride, shape.H, shape.HKV, shape.DH, CpuLevel::kAmx);
  EXPECT_EQ(chunked, alone);
}

TEST(AttentionKernel, InvalidHeadCountsThrow) {
  std::vector<float> buffer(64, 0.0f);
  const AttentionRow row{buffer.data(), buffer.data(), buffer.data(), 1, buffer.data()};
  EXPECT_THROW(attention_rows(&row, 1, 24, 3, 2, 8, CpuLevel::kScalar), Error);
  EXPECT_THROW(attention_rows(&row, 1, 8, 2, 2, 8, CpuLevel::kScalar), Error);
}

// Prefill of `T` tokens of one sequence: row t attends to positions 0..t.
double prefill_seconds(const HeadShape& shape, int64_t T, CpuLevel level) {
  std::mt19937 rng(5);
  const int64_t row_stride = shape.HKV * shape.DH;
  const std::vector<float> keys = random_floats(static_cast<size_t>(T * row_stride), rng, 1.0f);
  const std::vector<float> values = random_floats(static_cast<size_t>(T * row_stride), rng, 1.0f);
  const std::vector<float> queries = random_floats(static_cast<size_t>(T * shape.H * shape.DH), rng, 2.0f);
  std::vector<float> out(queries.size());
  std::vector<AttentionRow> rows;
  for (int64_t t = 0; t < T; ++t) {
    rows.push_back({queries.data() + t * shape.H * shape.DH, keys.data(), values.data(), t + 1,
                    out.data() + t * shape.H * shape.DH});
  }
  const auto start = std::chrono::steady_clock::now();
  attention_rows(rows.data(), T, row_stride, shape.H, shape.HKV, shape.DH, level);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(AttentionKernel, PrefillThroughputReport) {
  // Prints throughput only and asserts nothing about speed.
  const int64_t T = 2048;
  for (const HeadShape& shape : {HeadShape{9, 3, 64}, HeadShape{32, 8, 64}}) {
    // 4 * n * H * DH FLOPs per row (QK^T and PV), summed over n = 1..T.
    const double flops = 4.0 * static_cast<double>(T) * static_cast<double>(T + 1) / 2.0 *
                         static_cast<double>(shape.H * shape.DH);
    for (CpuLevel level : supported_levels()) {
      prefill_seconds(shape, 256, level);     // warm-up: threads and page faults
      const double seconds = prefill_seconds(shape, T, level);
      std::printf("attention prefill T=%lld H=%lld HKV=%lld DH=%lld %-6s: %8.1f ms, %6.1f GFLOP/s\n",
                  static_cast<long long>(T), static_cast<long long>(shape.H), static_cast<long long>(shape.HKV),
                  static_cast<long long>(shape.DH), cpu_level_name(level), seconds * 1e3, flops / seconds * 1e-9);
    }
  }
}

}  // namespace
}  // namespace swiftkv
