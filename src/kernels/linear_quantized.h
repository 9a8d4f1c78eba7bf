// The part the int8 and q4 linear layers share (internal). Decode-sized
// batches run the format's matrix-vector kernel. From onednn_min_rows rows
// that kernel would run at float32 FMA speed, so those batches run the oneDNN
// matmul on a bf16 copy of the quantized values.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/linear.h"
#include "kernels/linear_bf16.h"
#include "kernels/linear_onednn.h"

namespace swiftkv {

class QuantizedLinear : public LinearWeight {
 public:
  void forward(const float* x, int64_t T, float* out) const final {
    if (uses_prompt_copy(T)) {
      prompt_copy_->forward_f32(x, T, out);
      return;
    }
    forward_kernel(x, T, out);
  }

  int64_t weight_bytes_read(int64_t T) const final {
    return uses_prompt_copy(T) ? N_ * K_ * static_cast<int64_t>(sizeof(uint16_t)) : weight_bytes();
  }

 protected:
  QuantizedLinear(int64_t N, int64_t K, WeightFormat format, const float* bias, CpuLevel level)
      : LinearWeight(N, K, format), level_(level) {
    if (bias != nullptr) bias_.assign(bias, bias + N);
  }

  // Makes the bf16 copy at levels avx512 and amx, 2 more bytes per weight.
  // The derived constructor calls it once its values are packed.
  void finish_packing() { prompt_copy_ = make_prompt_copy(*this, bias(), level_); }

  // The matrix-vector kernel over all T rows.
  virtual void forward_kernel(const float* x, int64_t T, float* out) const = 0;

  const float* bias() const { return bias_.empty() ? nullptr : bias_.data(); }
  CpuLevel level() const { return level_; }

 private:
  bool uses_prompt_copy(int64_t T) const {
    return prompt_copy_ != nullptr && T >= onednn_min_rows(format_, level_);
  }

  CpuLevel level_;
  std::vector<float> bias_;                        // [N], or empty
  std::unique_ptr<OnednnBf16Matmul> prompt_copy_;  // null below avx512
};

}  // namespace swiftkv
