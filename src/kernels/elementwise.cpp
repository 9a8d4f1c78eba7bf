#include "kernels/elementwise.h"

#include <cmath>

#include "core/error.h"
#include "kernels/elementwise_simd.h"
#include "kernels/ops_ref.h"

namespace swiftkv {

namespace {

// Below this many floats a call runs on the calling thread, because waking
// the OpenMP team costs more than the work.
constexpr int64_t kMinParallelFloats = int64_t{1} << 16;
// silu_mul hands out the flat array in blocks of this many floats.
constexpr int64_t kSiluBlock = 4096;

}  // namespace

void rmsnorm(const float* x, const float* weight, int64_t T, int64_t D, float eps, float* out, CpuLevel level) {
  auto* const kernel = level >= CpuLevel::kAvx512 ? elementwise_detail::rmsnorm_avx512
                       : level >= CpuLevel::kAvx2 ? elementwise_detail::rmsnorm_avx2
                                                  : rmsnorm_ref;
#pragma omp parallel for schedule(static) if (T * D >= kMinParallelFloats)
  for (int64_t t = 0; t < T; ++t) kernel(x + t * D, weight, 1, D, eps, out + t * D);
}

void silu_mul(const float* gate, const float* up, int64_t count, float* out, CpuLevel level) {
  auto* const kernel = level >= CpuLevel::kAvx512 ? elementwise_detail::silu_mul_avx512
                       : level >= CpuLevel::kAvx2 ? elementwise_detail::silu_mul_avx2
                                                  : silu_mul_ref;
#pragma omp parallel for schedule(static) if (count >= kMinParallelFloats)
  for (int64_t start = 0; start < count; start += kSiluBlock) {
    const int64_t length = count - start < kSiluBlock ? count - start : kSiluBlock;
    kernel(gate + start, up + start, length, out + start);
  }
}

RopeTable make_rope_table(const std::vector<float>& inv_freq, int64_t max_positions) {
  RopeTable table;
  table.half_dim = static_cast<int64_t>(inv_freq.size());
  table.max_positions = max_positions;
  table.cos_values.resize(static_cast<size_t>(max_positions * table.half_dim));
  table.sin_values.resize(static_cast<size_t>(max_positions * table.half_dim));
  // The angle is rounded to float32 before cos/sin, exactly as rope_ref does,
  // so the table rotation matches rope_ref bit for bit.
  for (int64_t p = 0; p < max_positions; ++p) {
    for (int64_t j = 0; j < table.half_dim; ++j) {
      const float angle = static_cast<float>(p) * inv_freq[static_cast<size_t>(j)];
      table.cos_values[static_cast<size_t>(p * table.half_dim + j)] = std::cos(angle);
      table.sin_values[static_cast<size_t>(p * table.half_dim + j)] = std::sin(angle);
    }
  }
  return table;
}

namespace {

void rope_scalar(float* x, const int32_t* positions, int64_t T, int64_t NH, int64_t half_dim,
                 const float* cos_values, const float* sin_values) {
  for (int64_t t = 0; t < T; ++t) {
    const float* cos_row = cos_values + static_cast<int64_t>(positions[t]) * half_dim;
    const float* sin_row = sin_values + static_cast<int64_t>(positions[t]) * half_dim;
    for (int64_t h = 0; h < NH; ++h) {
      float* head = x + (t * NH + h) * 2 * half_dim;
      for (int64_t j = 0; j < half_dim; ++j) {
        const float x1 = head[j];
        const float x2 = head[j + half_dim];
        head[j] = x1 * cos_row[j] - x2 * sin_row[j];
        head[j + half_dim] = x2 * cos_row[j] + x1 * sin_row[j];
      }
    }
  }
}

}  // namespace

void rope(float* x, const int32_t* positions, int64_t T, int64_t NH, int64_t DH, const RopeTable& table,
          CpuLevel level) {
  if (DH != 2 * table.half_dim) {
    fail("rope: head dim %lld does not match the table, which was built for head dim %lld",
         static_cast<long long>(DH), static_cast<long long>(2 * table.half_dim));
  }
  for (int64_t t = 0; t < T; ++t) {
    if (positions[t] < 0 || positions[t] >= table.max_positions) {
      fail("rope: position %d of row %lld is outside the table's 0..%lld; build the table with a larger "
           "max_positions",
           positions[t], static_cast<long long>(t), static_cast<long long>(table.max_positions - 1));
    }
  }

  auto* const kernel = level >= CpuLevel::kAvx512 ? elementwise_detail::rope_avx512
                       : level >= CpuLevel::kAvx2 ? elementwise_detail::rope_avx2
                                                  : rope_scalar;
  const float* cos_values = table.cos_values.data();
  const float* sin_values = table.sin_values.data();
#pragma omp parallel for schedule(static) if (T * NH * DH >= kMinParallelFloats)
  for (int64_t t = 0; t < T; ++t) {
    kernel(x + t * NH * DH, positions + t, 1, NH, table.half_dim, cos_values, sin_values);
  }
}

}  // namespace swiftkv
