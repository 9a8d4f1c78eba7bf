// Portable loops over the packed bf16, int8 and q4 weights (the scalar level).
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "kernels/linear_kernels.h"

namespace swiftkv {

const float* pad_activations(const float* x, int64_t T, int64_t K, int64_t Kp) {
  if (K == Kp) return x;
  thread_local std::vector<float> padded;
  padded.assign(T * Kp, 0.0f);
  for (int64_t t = 0; t < T; ++t) std::memcpy(padded.data() + t * Kp, x + t * K, K * sizeof(float));
  return padded.data();
}

void bf16_rows_scalar(const uint16_t* W, const LinearKernelArgs& args, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) {
    const uint16_t* row = W + n * args.Kp;
    for (int64_t t = 0; t < args.T; ++t) {
      const float* x = args.x + t * args.Kp;
      float sum = 0.0f;
      for (int64_t k0 = 0; k0 < args.Kp; k0 += kLinearBlock) {
        // Element 2j of a block is k0 + j and element 2j + 1 is k0 + 16 + j.
        for (int64_t j = 0; j < kLinearBlock / 2; ++j) {
          sum += bf16_to_f32(row[k0 + 2 * j]) * x[k0 + j];
          sum += bf16_to_f32(row[k0 + 2 * j + 1]) * x[k0 + kLinearBlock / 2 + j];
        }
      }
      if (args.bias != nullptr) sum += args.bias[n];
      args.out[t * args.N + n] = sum;
    }
  }
}

void int8_rows_scalar(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n0,
                      int64_t n1) {
  const int64_t blocks = args.Kp / kLinearBlock;
  for (int64_t n = n0; n < n1; ++n) {
    const int8_t* row = W + n * args.Kp;
    const float* row_scales = scales + n * blocks;
    for (int64_t t = 0; t < args.T; ++t) {
      const float* x = args.x + t * args.Kp;
      float sum = 0.0f;
      for (int64_t b = 0; b < blocks; ++b) {
        // Dequantize each weight as the reference does (w * scale), so the
        // result matches linear_ref on the dequantized matrix.
        const float scale = row_scales[b];
        for (int64_t j = 0; j < kLinearBlock; ++j) {
          const int64_t k = b * kLinearBlock + j;
          sum += static_cast<float>(row[k]) * scale * x[k];
        }
      }
      if (args.bias != nullptr) sum += args.bias[n];
      args.out[t * args.N + n] = sum;
    }
  }
}

void q4_rows_scalar(const Q4Block* W, const LinearKernelArgs& args, int64_t n0, int64_t n1) {
  const int64_t blocks = args.Kp / kLinearBlock;
  constexpr int64_t kHalf = kLinearBlock / 2;
  for (int64_t n = n0; n < n1; ++n) {
    for (int64_t t = 0; t < args.T; ++t) {
      const float* x = args.x + t * args.Kp;
      float sum = 0.0f;
      for (int64_t b = 0; b < blocks; ++b) {
        const Q4Block& block = W[n * blocks + b];
        const float* xb = x + b * kLinearBlock;
        for (int64_t j = 0; j < kHalf; ++j) {
          sum += std::fma(static_cast<float>(block.q[j] & 15), block.scale, block.min) * xb[j];
          sum += std::fma(static_cast<float>(block.q[j] >> 4), block.scale, block.min) * xb[kHalf + j];
        }
      }
      if (args.bias != nullptr) sum += args.bias[n];
      args.out[t * args.N + n] = sum;
    }
  }
}

}  // namespace swiftkv
