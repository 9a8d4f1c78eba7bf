// Linear layers y[T, N] = x[T, K] @ W[N, K]^T (+ bias[N]) with weights packed
// once at load in the format the active CPU level runs fastest.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "kernels/cpu_features.h"

namespace swiftkv {

enum class WeightFormat {
  kF32,   // reference: float32 weights, plain loops (linear_ref)
  kBF16,  // bf16 weights, float32 activations and accumulation
  kInt8,  // int8 weights with one float32 scale per block of 32 (decode of Q8_0 models)
  kQ4,    // 4-bit weights, a float32 scale and minimum per block of 32 (GGUF Q4_1)
  // A model-level choice, never a layer's format: kQ4 for tensors the file
  // stores as Q4_0 or Q4_1, kInt8 for Q8_0 ones, kBF16 for the others.
  kAuto,
};

const char* weight_format_name(WeightFormat format);
// Parses "f32", "bf16", "int8", "q4" or "auto"; throws Error naming the value otherwise.
WeightFormat parse_weight_format(const std::string& name);
// The format a layer stored as `source` gets under the model-level `requested`.
WeightFormat layer_weight_format(WeightFormat requested, DType source);

class LinearWeight {
 public:
  virtual ~LinearWeight() = default;

  // out[T, N] = x[T, K] @ W^T + bias. `x` and `out` are row-major float32
  // and must not overlap.
  virtual void forward(const float* x, int64_t T, float* out) const = 0;

  int64_t out_features() const { return N_; }  // N
  int64_t in_features() const { return K_; }   // K
  WeightFormat format() const { return format_; }
  // Bytes of packed weights (what a decode step streams from memory).
  virtual int64_t weight_bytes() const = 0;
  // Bytes a forward of T rows reads: weight_bytes(), or the bf16 copy's
  // where a quantized layer hands T rows to oneDNN.
  virtual int64_t weight_bytes_read(int64_t T) const {
    (void)T;
    return weight_bytes();
  }
  // Writes the float32 values the layer multiplies by (after bf16 rounding or
  // int8 quantization) to W[N, K]; tests compare against linear_ref on them.
  virtual void unpack_weights(float* W) const = 0;

 protected:
  LinearWeight(int64_t N, int64_t K, WeightFormat format) : N_(N), K_(K), format_(format) {}
  int64_t N_, K_;
  WeightFormat format_;
};

// Packs W[N, K] (float32, row-major) and the optional bias[N] (may be null)
// for `format` (not kAuto), using the kernels of `level`. The inputs are copied.
std::unique_ptr<LinearWeight> make_linear(const float* W, const float* bias, int64_t N, int64_t K,
                                          WeightFormat format, CpuLevel level);

}  // namespace swiftkv
