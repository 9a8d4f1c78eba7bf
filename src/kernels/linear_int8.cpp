#include "kernels/linear_int8.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "kernels/linear_bf16.h"
#include "kernels/linear_kernels.h"
#include "kernels/linear_onednn.h"

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

class LinearInt8 final : public LinearWeight {
 public:
  LinearInt8(const float* W, const float* bias, int64_t N, int64_t K, CpuLevel level)
      : LinearWeight(N, K, WeightFormat::kInt8),
        Kp_((K + kLinearBlock - 1) / kLinearBlock * kLinearBlock),
        level_(level),
        kernel_(int8_kernel_for(level)) {
    if (bias != nullptr) bias_.assign(bias, bias + N);
    quantize(W);
    // NOTE: at levels avx512 and amx the layer keeps 1.125 + 2 bytes per weight.
    prompt_copy_ = make_prompt_copy(*this, bias, level_);
  }

  // Decode batches stream the int8 weights through the matrix-vector kernel;
  // prompt-sized batches, where that kernel would run at float32 FMA speed,
  // go to the oneDNN matmul on a bf16 copy of the int8 values.
  void forward(const float* x, int64_t T, float* out) const override {
    if (prompt_copy_ != nullptr && T >= onednn_min_rows(WeightFormat::kInt8, level_)) {
      prompt_copy_->forward_f32(x, T, out);
      return;
    }
    LinearKernelArgs args{pad_activations(x, T, K_, Kp_), T, Kp_, bias_.empty() ? nullptr : bias_.data(), N_,
                          out};
    for_each_row_range(N_, T * N_ * Kp_,
                       [&](int64_t n0, int64_t n1) { kernel_(packed_.data(), scales_.data(), args, n0, n1); });
  }

  int64_t weight_bytes() const override {
    return N_ * Kp_ + N_ * (Kp_ / kLinearBlock) * static_cast<int64_t>(sizeof(float));
  }

  int64_t weight_bytes_read(int64_t T) const override {
    if (prompt_copy_ != nullptr && T >= onednn_min_rows(WeightFormat::kInt8, level_)) {
      return N_ * K_ * static_cast<int64_t>(sizeof(uint16_t));
    }
    return weight_bytes();
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

  int64_t Kp_;  // K rounded up to kLinearBlock
  CpuLevel level_;
  Int8RowsKernel kernel_;
  std::vector<int8_t> packed_;  // [N, Kp]
  std::vector<float> scales_;   // [N, Kp / 32]
  std::vector<float> bias_;     // [N], or empty
  std::unique_ptr<OnednnBf16Matmul> prompt_copy_;  // null below avx512
};

}  // namespace

std::unique_ptr<LinearWeight> make_linear_int8(const float* W, const float* bias, int64_t N, int64_t K,
                                               CpuLevel level) {
  return std::make_unique<LinearInt8>(W, bias, N, K, level);
}

}  // namespace swiftkv
