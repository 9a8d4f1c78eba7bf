#include "kernels/linear_q4.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/linear_kernels.h"
#include "kernels/linear_quantized.h"

namespace swiftkv {
namespace {

Q4RowsKernel q4_kernel_for(CpuLevel level) {
  switch (level) {
    case CpuLevel::kAmx:
    case CpuLevel::kAvx512: return q4_rows_avx512;
    case CpuLevel::kAvx2: return q4_rows_avx2;
    case CpuLevel::kScalar: return q4_rows_scalar;
  }
  return q4_rows_scalar;
}

constexpr int64_t kHalf = kLinearBlock / 2;

// Packs w[0, count) (count <= 32; the rest of the block is padding) with
// nibble = round((w - min) / scale), clamped to [0, 15].
Q4Block pack_block(const float* w, int64_t count, float scale, float min) {
  Q4Block block{};
  block.scale = scale;
  block.min = min;
  const float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
  for (int64_t j = 0; j < kLinearBlock; ++j) {
    const float q = j < count ? std::round((w[j] - min) * inverse) : 0.0f;
    // A NaN or infinite weight (a corrupt file) packs as nibble 0 instead of
    // an undefined float-to-int conversion.
    const auto nibble = std::isfinite(q) ? static_cast<uint8_t>(std::clamp(q, 0.0f, 15.0f)) : uint8_t{0};
    block.q[j % kHalf] |= static_cast<uint8_t>(j < kHalf ? nibble : nibble << 4);
  }
  return block;
}

// True when the block's values, fma(nibble, scale, min), equal w exactly.
bool reproduces(const Q4Block& block, const float* w, int64_t count) {
  for (int64_t j = 0; j < count; ++j) {
    const int nibble = j < kHalf ? block.q[j] & 15 : block.q[j - kHalf] >> 4;
    if (std::fma(static_cast<float>(nibble), block.scale, block.min) != w[j]) return false;
  }
  return true;
}

// Quantizes a block as GGUF Q4_1 does: min = the smallest weight, scale =
// (largest - min) / 15. That quantizer puts the smallest weight of every
// block at nibble 0 and the largest at 15, so a Q4_1 file's weights come back
// exact. Q4_0 puts the weight v of largest magnitude at nibble 0 with scale
// -v / 8, and its other end need not reach nibble 15; that rule is tried
// when the first does not reproduce the block, so Q4_0 files come back
// exact as well.
Q4Block quantize_block(const float* w, int64_t count) {
  const auto [lo, hi] = std::minmax_element(w, w + count);
  const Q4Block asymmetric = pack_block(w, count, (*hi - *lo) / 15.0f, *lo);
  if (reproduces(asymmetric, w, count)) return asymmetric;
  const float largest = std::fabs(*lo) > std::fabs(*hi) ? *lo : *hi;
  const Q4Block symmetric = pack_block(w, count, -largest / 8.0f, largest);
  return reproduces(symmetric, w, count) ? symmetric : asymmetric;
}

class LinearQ4 final : public QuantizedLinear {
 public:
  LinearQ4(const float* W, const float* bias, int64_t N, int64_t K, CpuLevel level)
      : QuantizedLinear(N, K, WeightFormat::kQ4, bias, level),
        blocks_((K + kLinearBlock - 1) / kLinearBlock),
        kernel_(q4_kernel_for(level)) {
    packed_.resize(N * blocks_);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t b = 0; b < blocks_; ++b) {
        const int64_t k0 = b * kLinearBlock;
        packed_[n * blocks_ + b] = quantize_block(W + n * K + k0, std::min(kLinearBlock, K - k0));
      }
    }
    finish_packing();
  }

  int64_t weight_bytes() const override { return N_ * blocks_ * static_cast<int64_t>(sizeof(Q4Block)); }

  // Values as the kernels compute them: fma(nibble, scale, min).
  void unpack_weights(float* W) const override {
    for (int64_t n = 0; n < N_; ++n) {
      for (int64_t k = 0; k < K_; ++k) {
        const Q4Block& block = packed_[n * blocks_ + k / kLinearBlock];
        const int64_t j = k % kLinearBlock;
        const int nibble = j < kHalf ? block.q[j] & 15 : block.q[j - kHalf] >> 4;
        W[n * K_ + k] = std::fma(static_cast<float>(nibble), block.scale, block.min);
      }
    }
  }

 private:
  void forward_kernel(const float* x, int64_t T, float* out) const override {
    const int64_t Kp = blocks_ * kLinearBlock;
    LinearKernelArgs args{pad_activations(x, T, K_, Kp), T, Kp, bias(), N_, out};
    for_each_row_range(N_, T * N_ * Kp, [&](int64_t n0, int64_t n1) { kernel_(packed_.data(), args, n0, n1); });
  }

  int64_t blocks_;  // blocks of 32 along K, the last one zero-padded
  Q4RowsKernel kernel_;
  std::vector<Q4Block> packed_;  // [N, blocks]
};

}  // namespace

std::unique_ptr<LinearWeight> make_linear_q4(const float* W, const float* bias, int64_t N, int64_t K,
                                             CpuLevel level) {
  return std::make_unique<LinearQ4>(W, bias, N, K, level);
}

}  // namespace swiftkv
