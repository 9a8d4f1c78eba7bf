#include "kernels/linear_bf16.h"

#include <limits>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/linear_kernels.h"
#include "kernels/linear_onednn.h"

namespace swiftkv {
namespace {

Bf16RowsKernel bf16_kernel_for(CpuLevel level) {
  switch (level) {
    case CpuLevel::kAmx:
    case CpuLevel::kAvx512: return bf16_rows_avx512;
    case CpuLevel::kAvx2: return bf16_rows_avx2;
    case CpuLevel::kScalar: return bf16_rows_scalar;
  }
  return bf16_rows_scalar;
}

class LinearBF16 final : public LinearWeight {
 public:
  LinearBF16(const float* W, const float* bias, int64_t N, int64_t K, CpuLevel level)
      : LinearWeight(N, K, WeightFormat::kBF16),
        Kp_((K + kLinearBlock - 1) / kLinearBlock * kLinearBlock),
        level_(level),
        kernel_(bf16_kernel_for(level)) {
    if (bias != nullptr) bias_.assign(bias, bias + N);
    pack(W);
  }

  void forward(const float* x, int64_t T, float* out) const override {
    if (onednn_ != nullptr && T >= onednn_min_rows(WeightFormat::kBF16, level_)) {
      onednn_->forward_f32(x, T, out);
      return;
    }
    LinearKernelArgs args{pad_activations(x, T, K_, Kp_), T, Kp_, bias_.empty() ? nullptr : bias_.data(), N_,
                          out};
    for_each_row_range(N_, T * N_ * Kp_, [&](int64_t n0, int64_t n1) { kernel_(packed_.data(), args, n0, n1); });
  }

  int64_t weight_bytes() const override { return N_ * Kp_ * static_cast<int64_t>(sizeof(uint16_t)); }

  void unpack_weights(float* W) const override {
    for (int64_t n = 0; n < N_; ++n) {
      for (int64_t k = 0; k < K_; ++k) W[n * K_ + k] = bf16_to_f32(packed_[n * Kp_ + packed_index(k)]);
    }
  }

 private:
  // Position of weight k inside a packed row (see linear_kernels.h).
  static int64_t packed_index(int64_t k) {
    const int64_t block = k / kLinearBlock * kLinearBlock;
    const int64_t j = k % kLinearBlock;
    return j < kLinearBlock / 2 ? block + 2 * j : block + 2 * (j - kLinearBlock / 2) + 1;
  }

  void pack(const float* W) {
    std::vector<uint16_t> plain(N_ * K_);
    for (int64_t i = 0; i < N_ * K_; ++i) plain[i] = f32_to_bf16(W[i]);

    packed_.assign(N_ * Kp_, 0);
    for (int64_t n = 0; n < N_; ++n) {
      for (int64_t k = 0; k < K_; ++k) packed_[n * Kp_ + packed_index(k)] = plain[n * K_ + k];
    }
    // NOTE: at levels avx512 and amx the layer keeps two copies of the
    // weights (the kernel layout and oneDNN's), twice the bf16 size.
    if (onednn_bf16_supported(level_)) {
      onednn_ = std::make_unique<OnednnBf16Matmul>(plain.data(), bias_.empty() ? nullptr : bias_.data(), N_, K_,
                                                   level_);
    }
  }

  int64_t Kp_;  // K rounded up to kLinearBlock
  CpuLevel level_;
  Bf16RowsKernel kernel_;
  std::vector<uint16_t> packed_;  // [N, Kp] in the kernel layout
  std::vector<float> bias_;       // [N], or empty
  std::unique_ptr<OnednnBf16Matmul> onednn_;
};

}  // namespace

// The thresholds sit where the oneDNN matmul overtakes the matrix-vector
// kernel, which runs at float32 FMA speed once T > 1. Measured on one
// Sapphire Rapids core with [T x 2048] x [2048 x 2048]: oneDNN took 0.53 ms
// (AMX) and 2.4 ms (AVX512_BF16) at every T up to 32. The bf16 kernel took
// 0.37 ms at T = 2, 0.74 ms at T = 4 and 2.3 ms at T = 12.
// The int8 and q4 kernels read 56% and 38% of bf16's bytes, which moves the
// crossing up: SmolLM2-135M decode steps on 2 cores with AMX took 14.2 ms
// (int8) and 13.2 ms (q4) at T = 4 against 23.0 ms through oneDNN, and 29.5
// and 26.6 ms at T = 8 against 25.8 ms.
// NOTE: the avx512 threshold of the quantized formats is an estimate; the
// bf16 ones were measured while other jobs loaded the machine.
int64_t onednn_min_rows(WeightFormat format, CpuLevel level) {
  const bool quantized = format == WeightFormat::kInt8 || format == WeightFormat::kQ4;
  switch (level) {
    case CpuLevel::kAmx: return quantized ? 8 : 4;
    case CpuLevel::kAvx512: return quantized ? 16 : 12;
    default: return std::numeric_limits<int64_t>::max();
  }
}

std::unique_ptr<LinearWeight> make_linear_bf16(const float* W, const float* bias, int64_t N, int64_t K,
                                               CpuLevel level) {
  return std::make_unique<LinearBF16>(W, bias, N, K, level);
}

}  // namespace swiftkv
