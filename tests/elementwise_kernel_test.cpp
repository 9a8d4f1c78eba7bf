// The element-wise kernels (rmsnorm, silu_mul, RoPE, and the vector exp they
// build on) against their references at every CPU level this machine supports.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/elementwise.h"
#include "kernels/elementwise_simd.h"
#include "kernels/ops_ref.h"
#include "numeric_util.h"

namespace swiftkv {
namespace {

// rmsnorm: both sides sum squares in float64 and then round the same float32
// operations, so only the summation order differs (the measured error is 0).
constexpr double kRmsnormTolerance = 1e-6;
// silu_mul: the vector exp is within 1.2e-7 relative of exp, and the division
// and product add two roundings (measured: 1.1e-8 over the whole array).
constexpr double kSiluMulTolerance = 1e-6;
// RoPE: the table contains the same cos/sin values that rope_ref computes, and
// the vector code rounds the same products (no FMA contraction), so the
// results are identical. The bound leaves room for a future FMA version.
constexpr double kRopeTolerance = 1e-6;
// Vector exp against double-precision exp on [-87, 88] (measured: 1.18e-7).
constexpr double kExpTolerance = 2e-7;

using testing::random_floats;
using testing::relative_error;
using testing::supported_levels;

const int64_t kSizes[] = {1, 7, 16, 576, 2049};

TEST(ElementwiseKernel, RmsnormMatchesReference) {
  std::mt19937 rng(1);
  const int64_t T = 3;
  for (int64_t D : kSizes) {
    const std::vector<float> x = random_floats(static_cast<size_t>(T * D), rng, 3.0f);
    const std::vector<float> weight = random_floats(static_cast<size_t>(D), rng, 1.5f);
    std::vector<float> expected(x.size());
    rmsnorm_ref(x.data(), weight.data(), T, D, 1e-5f, expected.data());
    for (CpuLevel level : supported_levels()) {
      std::vector<float> out(x.size());
      rmsnorm(x.data(), weight.data(), T, D, 1e-5f, out.data(), level);
      EXPECT_LE(relative_error(out, expected), kRmsnormTolerance) << cpu_level_name(level) << " D=" << D;
    }
  }
}

TEST(ElementwiseKernel, RmsnormRunsManyRowsInParallel) {
  // Enough rows to cross the threading threshold.
  std::mt19937 rng(2);
  const int64_t T = 200, D = 576;
  const std::vector<float> x = random_floats(static_cast<size_t>(T * D), rng, 3.0f);
  const std::vector<float> weight = random_floats(static_cast<size_t>(D), rng, 1.5f);
  std::vector<float> expected(x.size());
  rmsnorm_ref(x.data(), weight.data(), T, D, 1e-5f, expected.data());
  for (CpuLevel level : supported_levels()) {
    std::vector<float> out(x.size());
    rmsnorm(x.data(), weight.data(), T, D, 1e-5f, out.data(), level);
    EXPECT_LE(relative_error(out, expected), kRmsnormTolerance) << cpu_level_name(level);
  }
}

TEST(ElementwiseKernel, SiluMulMatchesReference) {
  std::mt19937 rng(3);
  for (int64_t count : {int64_t{1}, int64_t{7}, int64_t{576}, int64_t{2049}, int64_t{100003}}) {
    // Gates in [-10, 10] reach the flat ends of the sigmoid and its middle.
    const std::vector<float> gate = random_floats(static_cast<size_t>(count), rng, 10.0f);
    const std::vector<float> up = random_floats(static_cast<size_t>(count), rng, 2.0f);
    std::vector<float> expected(gate.size());
    silu_mul_ref(gate.data(), up.data(), count, expected.data());
    for (CpuLevel level : supported_levels()) {
      std::vector<float> out(gate.size());
      silu_mul(gate.data(), up.data(), count, out.data(), level);
      EXPECT_LE(relative_error(out, expected), kSiluMulTolerance) << cpu_level_name(level) << " count=" << count;
    }
  }
}

TEST(ElementwiseKernel, SiluMulWritesIntoGate) {
  std::mt19937 rng(4);
  const int64_t count = 2049;
  const std::vector<float> gate = random_floats(static_cast<size_t>(count), rng, 8.0f);
  const std::vector<float> up = random_floats(static_cast<size_t>(count), rng, 2.0f);
  std::vector<float> expected(gate.size());
  silu_mul_ref(gate.data(), up.data(), count, expected.data());
  for (CpuLevel level : supported_levels()) {
    std::vector<float> in_place = gate;
    silu_mul(in_place.data(), up.data(), count, in_place.data(), level);
    EXPECT_LE(relative_error(in_place, expected), kSiluMulTolerance) << cpu_level_name(level);
  }
}

TEST(ElementwiseKernel, SiluMulSaturatesWithoutNan) {
  const std::vector<float> gate = {-1000.0f, -100.0f, -88.5f, 88.5f, 100.0f, 1000.0f, 0.0f, -0.0f};
  const std::vector<float> up(gate.size(), 1.0f);
  for (CpuLevel level : supported_levels()) {
    std::vector<float> out(gate.size());
    silu_mul(gate.data(), up.data(), static_cast<int64_t>(gate.size()), out.data(), level);
    for (size_t i = 0; i < gate.size(); ++i) {
      EXPECT_TRUE(std::isfinite(out[i])) << cpu_level_name(level) << " gate=" << gate[i];
      if (gate[i] <= 0.0f) {
        EXPECT_LE(std::fabs(out[i]), 1e-30f) << cpu_level_name(level) << " gate=" << gate[i];
      }
      if (gate[i] > 80.0f) {
        EXPECT_EQ(out[i], gate[i]) << cpu_level_name(level) << " gate=" << gate[i];
      }
    }
  }
}

TEST(ElementwiseKernel, RopeMatchesReference) {
  std::mt19937 rng(5);
  const int64_t T = 5, NH = 3, max_positions = 32768;
  const std::vector<int32_t> positions = {0, 1, 77, 8191, 32767};
  for (int64_t DH : {8, 64, 72, 128}) {
    const std::vector<float> inv_freq = rope_inv_freq(DH, 500000.0f, RopeScalingParams{});
    const RopeTable table = make_rope_table(inv_freq, max_positions);
    const std::vector<float> x = random_floats(static_cast<size_t>(T * NH * DH), rng, 2.0f);
    std::vector<float> expected = x;
    rope_ref(expected.data(), positions.data(), T, NH, DH, inv_freq);
    for (CpuLevel level : supported_levels()) {
      std::vector<float> out = x;
      rope(out.data(), positions.data(), T, NH, DH, table, level);
      EXPECT_LE(relative_error(out, expected), kRopeTolerance) << cpu_level_name(level) << " DH=" << DH;
      if (level == CpuLevel::kScalar) {
        EXPECT_EQ(std::memcmp(out.data(), expected.data(), out.size() * sizeof(float)), 0) << "DH=" << DH;
      }
    }
  }
}

TEST(ElementwiseKernel, RopeRejectsPositionOutsideTable) {
  const RopeTable table = make_rope_table(rope_inv_freq(8, 10000.0f, RopeScalingParams{}), 16);
  std::vector<float> x(8, 1.0f);
  const int32_t past_end = 16, negative = -1;
  EXPECT_THROW(rope(x.data(), &past_end, 1, 1, 8, table, CpuLevel::kScalar), Error);
  EXPECT_THROW(rope(x.data(), &negative, 1, 1, 8, table, CpuLevel::kScalar), Error);
}

TEST(ElementwiseKernel, RopeRejectsHeadDimMismatch) {
  const RopeTable table = make_rope_table(rope_inv_freq(8, 10000.0f, RopeScalingParams{}), 16);
  std::vector<float> x(16, 1.0f);
  const int32_t position = 3;
  EXPECT_THROW(rope(x.data(), &position, 1, 1, 16, table, CpuLevel::kScalar), Error);
}

void check_exp(void (*exp_array)(const float*, int64_t, float*), const char* name) {
  // 10^6 evenly spaced points over the range where the result is normal.
  const int64_t count = 1000000;
  std::vector<float> x(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) x[i] = -87.0f + 175.0f * static_cast<float>(i) / static_cast<float>(count - 1);
  std::vector<float> out(x.size());
  exp_array(x.data(), count, out.data());
  double max_error = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    const double exact = std::exp(static_cast<double>(x[i]));
    max_error = std::max(max_error, std::fabs(out[i] - exact) / exact);
  }
  std::printf("%s vector exp: max relative error %.3g on [-87, 88]\n", name, max_error);
  EXPECT_LE(max_error, kExpTolerance) << name;

  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> edges = {-inf, -1000.0f, -87.5f, 0.0f, 88.5f, 1000.0f};
  std::vector<float> edge_out(edges.size());
  exp_array(edges.data(), static_cast<int64_t>(edges.size()), edge_out.data());
  EXPECT_EQ(edge_out[0], 0.0f) << name;
  EXPECT_EQ(edge_out[1], 0.0f) << name;
  EXPECT_EQ(edge_out[2], 0.0f) << name;
  EXPECT_EQ(edge_out[3], 1.0f) << name;
  EXPECT_TRUE(std::isfinite(edge_out[4])) << name;
  EXPECT_TRUE(std::isfinite(edge_out[5])) << name;
}

TEST(ElementwiseKernel, ExpVectorMatchesStdExp) {
  if (detected_cpu_level() >= CpuLevel::kAvx2) check_exp(elementwise_detail::exp_array_avx2, "avx2");
  if (detected_cpu_level() >= CpuLevel::kAvx512) check_exp(elementwise_detail::exp_array_avx512, "avx512");
}

}  // namespace
}  // namespace swiftkv
