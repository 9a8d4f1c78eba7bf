// Linear layers of every weight format at every CPU level this machine runs,
// compared with linear_ref on the same (rounded or quantized) weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/linear.h"
#include "kernels/linear_bench.h"
#include "kernels/linear_bf16.h"
#include "kernels/linear_onednn.h"
#include "kernels/ops_ref.h"
#include "numeric_util.h"

namespace swiftkv {
namespace {

// Error bounds, as ||out - ref|| / ||ref||:
// - against linear_ref on the weights the layer stores (unpack_weights), with
//   float32 activations (every matrix-vector kernel): only the summation
//   order differs.
constexpr double kStoredWeightsTol = 1e-5;
// - the same for the oneDNN path, which also rounds activations to bf16
//   (relative error 2^-9 per element, about 1e-3 over a dot product).
constexpr double kOnednnTol = 5e-3;
// - against linear_ref on the original float32 weights: the format's own
//   rounding (bf16 keeps 8 mantissa bits; int8 keeps max|w|/127 steps).
//   Checked only where out has at least 32 values from K >= 32: a single
//   dot product can cancel to near zero and make any relative bound fail.
constexpr double kBf16FormatTol = 1e-2;
constexpr double kInt8FormatTol = 2e-2;
// q4 keeps 16 levels per block of 32: steps of (max - min) / 15, about 0.4
// standard deviations for normal weights, so outputs move by about 6%.
constexpr double kQ4FormatTol = 0.12;

double format_tolerance(WeightFormat format) {
  switch (format) {
    case WeightFormat::kBF16: return kBf16FormatTol;
    case WeightFormat::kInt8: return kInt8FormatTol;
    default: return kQ4FormatTol;
  }
}

constexpr WeightFormat kPackedFormats[] = {WeightFormat::kBF16, WeightFormat::kInt8, WeightFormat::kQ4};

std::vector<float> random_floats(int64_t count, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

// Unlike testing::relative_error, an all-zero reference (possible for N = 1
// or K = 1) falls back to the absolute error instead of dividing by zero.
double relative_error(const float* out, const float* ref, int64_t count) {
  double diff = 0.0, norm = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    diff += (static_cast<double>(out[i]) - ref[i]) * (static_cast<double>(out[i]) - ref[i]);
    norm += static_cast<double>(ref[i]) * ref[i];
  }
  return norm == 0.0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

using testing::supported_levels;

// bf16, int8 and q4 layers all hand prompt-sized batches to oneDNN (int8
// and q4 on a bf16 copy of their quantized values).
bool uses_onednn(WeightFormat format, CpuLevel level, int64_t T) {
  return format != WeightFormat::kF32 && T >= onednn_min_rows(format, level);
}

// Runs layer.forward on x[T, K] copied to an address one float past a
// 64-byte boundary, so that no kernel can depend on aligned rows.
std::vector<float> forward_misaligned(const LinearWeight& layer, const std::vector<float>& x, int64_t T) {
  std::vector<float> storage(x.size() + 17);
  float* shifted = storage.data() + 1;
  std::copy(x.begin(), x.end(), shifted);
  std::vector<float> out(T * layer.out_features());
  layer.forward(shifted, T, out.data());
  return out;
}

class LinearKernelTest : public ::testing::Test {
 protected:
  // oneDNN's instruction set is fixed for the process by its first user, so
  // the oneDNN path is tested at the detected level only.
  void SetUp() override { init_onednn_isa(detected_cpu_level()); }
  void TearDown() override { set_cpu_level_cap(CpuLevel::kAmx); }
};

TEST_F(LinearKernelTest, F32MatchesReference) {
  std::mt19937 rng(7);
  const int64_t N = 33, K = 31, T = 5;
  const std::vector<float> W = random_floats(N * K, rng), bias = random_floats(N, rng), x = random_floats(T * K, rng);
  std::vector<float> ref(T * N);
  linear_ref(x.data(), W.data(), bias.data(), T, K, N, ref.data());
  for (CpuLevel level : supported_levels()) {
    const auto layer = make_linear(W.data(), bias.data(), N, K, WeightFormat::kF32, level);
    const std::vector<float> out = forward_misaligned(*layer, x, T);
    EXPECT_LT(relative_error(out.data(), ref.data(), T * N), 1e-6) << cpu_level_name(level);
  }
}

// Every format x level x shape: odd N and K (not multiples of the vector or
// block width), several T (decode and prompt paths), with and without bias.
TEST_F(LinearKernelTest, AllFormatsMatchReference) {
  std::mt19937 rng(1234);
  const int64_t Ns[] = {1, 7, 33, 577};
  const int64_t Ks[] = {1, 31, 33, 576, 1000};
  const int64_t Ts[] = {1, 2, 3, 5, 17, 64, 129};
  for (WeightFormat format : kPackedFormats) {
    double worst_stored = 0.0, worst_onednn = 0.0, worst_format = 0.0;
    for (CpuLevel level : supported_levels()) {
      for (int64_t N : Ns) {
        for (int64_t K : Ks) {
          const std::vector<float> W = random_floats(N * K, rng);
          const std::vector<float> bias = random_floats(N, rng);
          const bool with_bias = (N + K) % 2 == 0;
          const auto layer = make_linear(W.data(), with_bias ? bias.data() : nullptr, N, K, format, level);
          std::vector<float> stored(N * K);
          layer->unpack_weights(stored.data());

          for (int64_t T : Ts) {
            const std::vector<float> x = random_floats(T * K, rng);
            const std::vector<float> out = forward_misaligned(*layer, x, T);
            std::vector<float> ref(T * N), ref_original(T * N);
            const float* b = with_bias ? bias.data() : nullptr;
            linear_ref(x.data(), stored.data(), b, T, K, N, ref.data());
            linear_ref(x.data(), W.data(), b, T, K, N, ref_original.data());

            const double err = relative_error(out.data(), ref.data(), T * N);
            const double format_err = relative_error(out.data(), ref_original.data(), T * N);
            const bool onednn = uses_onednn(format, level, T);
            const double tol = onednn ? kOnednnTol : kStoredWeightsTol;
            const double format_tol = format_tolerance(format);
            EXPECT_LT(err, tol) << weight_format_name(format) << " " << cpu_level_name(level) << " N=" << N
                                << " K=" << K << " T=" << T;
            (onednn ? worst_onednn : worst_stored) = std::max(onednn ? worst_onednn : worst_stored, err);
            if (T * N >= 32 && K >= 32) {
              EXPECT_LT(format_err, format_tol) << weight_format_name(format) << " " << cpu_level_name(level)
                                                << " N=" << N << " K=" << K << " T=" << T;
              worst_format = std::max(worst_format, format_err);
            }
          }
        }
      }
    }
    std::printf("%s: max rel error vs stored weights %.2e (kernels), %.2e (oneDNN); vs float32 weights %.2e\n",
                weight_format_name(format), worst_stored, worst_onednn, worst_format);
  }
}

TEST_F(LinearKernelTest, BiasIsAddedPerOutput) {
  std::mt19937 rng(5);
  const int64_t N = 33, K = 40;
  const std::vector<float> W = random_floats(N * K, rng), bias = random_floats(N, rng);
  for (WeightFormat format : {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kInt8, WeightFormat::kQ4}) {
    for (CpuLevel level : supported_levels()) {
      for (int64_t T : {int64_t{1}, int64_t{20}}) {
        const std::vector<float> x = random_floats(T * K, rng);
        const auto plain = make_linear(W.data(), nullptr, N, K, format, level);
        const auto biased = make_linear(W.data(), bias.data(), N, K, format, level);
        std::vector<float> out_plain(T * N), out_biased(T * N);
        plain->forward(x.data(), T, out_plain.data());
        biased->forward(x.data(), T, out_biased.data());
        for (int64_t i = 0; i < T * N; ++i) {
          ASSERT_NEAR(out_biased[i] - out_plain[i], bias[i % N], 1e-4)
              << weight_format_name(format) << " " << cpu_level_name(level) << " T=" << T << " index " << i;
        }
      }
    }
  }
}

// Row t of a batch must not depend on the batch size (oneDNN buckets of T,
// the switch between kernel and oneDNN, token tiles of the kernels).
TEST_F(LinearKernelTest, RowsIndependentOfBatchSize) {
  std::mt19937 rng(99);
  const int64_t N = 577, K = 576;
  const std::vector<float> W = random_floats(N * K, rng), bias = random_floats(N, rng);
  const int64_t big_T = 17;
  const std::vector<float> x = random_floats(big_T * K, rng);
  for (WeightFormat format : kPackedFormats) {
    for (CpuLevel level : supported_levels()) {
      const auto layer = make_linear(W.data(), bias.data(), N, K, format, level);
      std::vector<float> batch(big_T * N), single(N), batch_of_33(33 * N);
      layer->forward(x.data(), big_T, batch.data());
      const double tol = uses_onednn(format, level, big_T) ? kOnednnTol : kStoredWeightsTol;
      for (int64_t t = 0; t < big_T; ++t) {
        layer->forward(x.data() + t * K, 1, single.data());
        EXPECT_LT(relative_error(batch.data() + t * N, single.data(), N), tol)
            << weight_format_name(format) << " " << cpu_level_name(level) << " row " << t;
      }

      // T = 33 falls into another oneDNN bucket than T = 17; its first 17 rows repeat x.
      std::vector<float> x33(33 * K);
      for (int64_t t = 0; t < 33; ++t) std::copy(x.begin() + (t % big_T) * K, x.begin() + (t % big_T + 1) * K, x33.begin() + t * K);
      layer->forward(x33.data(), 33, batch_of_33.data());
      EXPECT_LT(relative_error(batch_of_33.data(), batch.data(), big_T * N), kStoredWeightsTol)
          << weight_format_name(format) << " " << cpu_level_name(level);
    }
  }
}

TEST_F(LinearKernelTest, QuantizedWeightsStayWithinOneStep) {
  std::mt19937 rng(3);
  const int64_t N = 5, K = 70;
  std::vector<float> W = random_floats(N * K, rng);
  W[3] = 0.0f;
  std::fill(W.begin() + K, W.begin() + K + 32, 0.0f);  // an all-zero block
  const auto layer = make_linear(W.data(), nullptr, N, K, WeightFormat::kInt8, detected_cpu_level());
  std::vector<float> stored(N * K);
  layer->unpack_weights(stored.data());
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k0 = 0; k0 < K; k0 += 32) {
      float max_abs = 0.0f;
      for (int64_t k = k0; k < std::min(k0 + 32, K); ++k) max_abs = std::max(max_abs, std::fabs(W[n * K + k]));
      for (int64_t k = k0; k < std::min(k0 + 32, K); ++k) {
        // Rounding to the nearest step leaves at most half a step (max|w| / 254).
        EXPECT_LE(std::fabs(stored[n * K + k] - W[n * K + k]), max_abs / 254.0f * 1.001f) << n << " " << k;
      }
    }
  }
  EXPECT_EQ(stored[K], 0.0f);
}

// Weights dequantized from GGUF Q4_1 blocks (f16 scale d and min m, nibbles
// from llama.cpp's rule: m = min, d = (max - min) / 15) must come back
// exactly: the decode path then multiplies by the values the file stores.
TEST_F(LinearKernelTest, Q4KeepsQ4_1ValuesExactly) {
  std::mt19937 rng(21);
  const int64_t N = 6, K = 96;
  std::vector<float> W = random_floats(N * K, rng);
  testing::round_to_q4_1(W);
  for (CpuLevel level : supported_levels()) {
    const auto layer = make_linear(W.data(), nullptr, N, K, WeightFormat::kQ4, level);
    std::vector<float> stored(N * K);
    layer->unpack_weights(stored.data());
    EXPECT_EQ(stored, W) << cpu_level_name(level);
    EXPECT_EQ(layer->weight_bytes(), N * (K / 32) * 24);
  }
}

// The same for GGUF Q4_0, whose largest value need not reach nibble 15.
TEST_F(LinearKernelTest, Q4KeepsQ4_0ValuesExactly) {
  std::mt19937 rng(22);
  const int64_t N = 6, K = 96;
  std::vector<float> W = random_floats(N * K, rng);
  testing::round_to_q4_0(W);
  const auto layer = make_linear(W.data(), nullptr, N, K, WeightFormat::kQ4, detected_cpu_level());
  std::vector<float> stored(N * K);
  layer->unpack_weights(stored.data());
  EXPECT_EQ(stored, W);
}

TEST_F(LinearKernelTest, NonFiniteWeightsStayInTheirBlock) {
  std::mt19937 rng(8);
  const int64_t N = 2, K = 64;
  std::vector<float> W = random_floats(N * K, rng);
  W[3] = std::numeric_limits<float>::quiet_NaN();
  W[K + 40] = std::numeric_limits<float>::infinity();
  for (WeightFormat format : {WeightFormat::kInt8, WeightFormat::kQ4}) {
    const auto layer = make_linear(W.data(), nullptr, N, K, format, detected_cpu_level());
    std::vector<float> stored(N * K);
    layer->unpack_weights(stored.data());
    // Block 1 of row 0 and block 0 of row 1 hold only finite weights.
    for (int64_t k : {int64_t{32}, int64_t{63}, K, K + 31}) {
      EXPECT_NEAR(stored[k], W[k], 0.2) << weight_format_name(format) << " index " << k;
    }
  }
}

TEST_F(LinearKernelTest, LevelAboveDetectionIsClamped) {
  std::mt19937 rng(11);
  const int64_t N = 9, K = 35, T = 2;
  const std::vector<float> W = random_floats(N * K, rng), x = random_floats(T * K, rng);
  const auto layer = make_linear(W.data(), nullptr, N, K, WeightFormat::kBF16, CpuLevel::kAmx);
  std::vector<float> out(T * N);
  layer->forward(x.data(), T, out.data());
  EXPECT_EQ(layer->format(), WeightFormat::kBF16);
  EXPECT_EQ(layer->out_features(), N);
  EXPECT_EQ(layer->in_features(), K);
}

TEST(WeightFormat, AutoKeepsQuantizedTensorsQuantized) {
  EXPECT_EQ(layer_weight_format(WeightFormat::kAuto, DType::kQ8_0), WeightFormat::kInt8);
  EXPECT_EQ(layer_weight_format(WeightFormat::kAuto, DType::kQ4_0), WeightFormat::kQ4);
  EXPECT_EQ(layer_weight_format(WeightFormat::kAuto, DType::kQ4_1), WeightFormat::kQ4);
  for (DType source : {DType::kF32, DType::kF16, DType::kBF16}) {
    EXPECT_EQ(layer_weight_format(WeightFormat::kAuto, source), WeightFormat::kBF16) << dtype_name(source);
  }
  // An explicit format applies to every tensor.
  EXPECT_EQ(layer_weight_format(WeightFormat::kBF16, DType::kQ4_1), WeightFormat::kBF16);
  EXPECT_EQ(layer_weight_format(WeightFormat::kF32, DType::kQ8_0), WeightFormat::kF32);
}

TEST(WeightFormat, ParsesNamesAndRejectsOthers) {
  for (WeightFormat format :
       {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kInt8, WeightFormat::kQ4, WeightFormat::kAuto}) {
    EXPECT_EQ(parse_weight_format(weight_format_name(format)), format);
  }
  try {
    parse_weight_format("q5");
    FAIL() << "q5 was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("'q5'"), std::string::npos) << error.what();
  }
}

// Prints throughput for the benchmark records; asserts nothing about speed.
TEST_F(LinearKernelTest, PrintThroughput) {
  std::printf("active CPU level: %s\n", cpu_level_name(active_cpu_level()));
  std::printf("memory read bandwidth: %.1f GB/s\n", measure_memory_read_bandwidth() / 1e9);
  std::mt19937 rng(17);
  struct Shape {
    int64_t T, K, N;
  };
  for (const Shape& s : {Shape{2048, 576, 1536}, Shape{2048, 2048, 8192}}) {
    const std::vector<float> W = random_floats(s.N * s.K, rng);
    const auto layer = make_linear(W.data(), nullptr, s.N, s.K, WeightFormat::kBF16, active_cpu_level());
    const double seconds = measure_linear_seconds(*layer, s.T);
    std::printf("bf16 [%lld x %lld] x [%lld x %lld]: %.1f GFLOP/s (incl. activation conversion)\n",
                static_cast<long long>(s.T), static_cast<long long>(s.K), static_cast<long long>(s.K),
                static_cast<long long>(s.N), 2.0 * s.T * s.K * s.N / seconds / 1e9);
  }
  for (const Shape& s : {Shape{1, 576, 1536}, Shape{1, 2048, 8192}, Shape{3, 2048, 8192}}) {
    const std::vector<float> W = random_floats(s.N * s.K, rng);
    for (WeightFormat format : kPackedFormats) {
      const auto layer = make_linear(W.data(), nullptr, s.N, s.K, format, active_cpu_level());
      const double seconds = measure_linear_seconds(*layer, s.T);
      std::printf("%s [%lld x %lld] x [%lld x %lld]: %.3f ms, %.1f GB/s of weights\n", weight_format_name(format),
                  static_cast<long long>(s.T), static_cast<long long>(s.K), static_cast<long long>(s.K),
                  static_cast<long long>(s.N), seconds * 1e3, layer->weight_bytes() / seconds / 1e9);
    }
  }
  std::printf("bf16 matmul ceiling (2048): %.1f GFLOP/s\n", measure_bf16_matmul_ceiling_flops(2048) / 1e9);
}

}  // namespace
}  // namespace swiftkv
