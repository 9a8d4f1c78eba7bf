#include "kernels/linear_int8.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "kernels/linear_kernels.h"
#include "kernels/linear_quantized.h"

namespace swiftkv {
namespace {

Int8RowsKernel int8_kernel_for(CpuLevel level) {
  switch (level) {
    case CpuLevel::kAmx:
    case CpuLevel::kAvx512: return int8_rows_avx512;
    case CpuLevel::kAvx2: return int8_rows_avx2;
    case CpuLevel::kScalar: return int8_rows_scalar;
  }
  return int8_rows_scalar;
}

class LinearInt8 final : public QuantizedLinear {
 public:
  LinearInt8(const float* W, const float* bias, int64_t N, int64_t K, CpuLevel level)
      : QuantizedLinear(N, K, WeightFormat::kInt8, bias, level),
        Kp_((K + kLinearBlock - 1) / kLinearBlock * kLinearBlock),
        kernel_(int8_kernel_for(level)) {
    quantize(W);
    finish_packing();
  }

  int64_t weight_bytes() const override {
    return N_ * Kp_ + N_ * (Kp_ / kLinearBlock) * static_cast<int64_t>(sizeof(float));
  }

  void unpack_weights(float* W) const override {
    const int64_t blocks = Kp_ / kLinearBlock;
    for (int64_t n = 0; n < N_; ++n) {
      for (int64_t k = 0; k < K_; ++k) {
        W[n * K_ + k] = static_cast<float>(packed_[n * Kp_ + k]) * scales_[n * blocks + k / kLinearBlock];
      }
    }
  }

 private:
  // Symmetric quantization per block of 32 along K, as in GGUF Q8_0:
  // scale = max|w| / 127 and q = round(w / scale), ties away from zero.
  void quantize(const float* W) {
    const int64_t blocks = Kp_ / kLinearBlock;
    packed_.assign(N_ * Kp_, 0);
    scales_.assign(N_ * blocks, 0.0f);
    for (int64_t n = 0; n < N_; ++n) {
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t k0 = b * kLinearBlock;
        const int64_t k1 = std::min(k0 + kLinearBlock, K_);
        float max_abs = 0.0f;
        for (int64_t k = k0; k < k1; ++k) max_abs = std::max(max_abs, std::fabs(W[n * K_ + k]));
        if (max_abs == 0.0f) continue;
        const float scale = max_abs / 127.0f;
        scales_[n * blocks + b] = scale;
        for (int64_t k = k0; k < k1; ++k) {
          const float q = std::round(W[n * K_ + k] / scale);
          // A NaN or infinite weight (a corrupt file) packs as 0 instead of
          // an undefined float-to-int conversion.
          packed_[n * Kp_ + k] = std::isfinite(q) ? static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f)) : 0;
        }
      }
    }
  }

  void forward_kernel(const float* x, int64_t T, float* out) const override {
    LinearKernelArgs args{pad_activations(x, T, K_, Kp_), T, Kp_, bias(), N_, out};
    for_each_row_range(N_, T * N_ * Kp_,
                       [&](int64_t n0, int64_t n1) { kernel_(packed_.data(), scales_.data(), args, n0, n1); });
  }

  int64_t Kp_;  // K rounded up to kLinearBlock
  Int8RowsKernel kernel_;
  std::vector<int8_t> packed_;  // [N, Kp]
  std::vector<float> scales_;   // [N, Kp / 32]
};

}  // namespace

std::unique_ptr<LinearWeight> make_linear_int8(const float* W, const float* bias, int64_t N, int64_t K,
                                               CpuLevel level) {
  return std::make_unique<LinearInt8>(W, bias, N, K, level);
}

}  // namespace swiftkv
