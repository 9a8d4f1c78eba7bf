// oneDNN bf16 matmul for prompt-sized batches (internal to the linear layers).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/cpu_features.h"
#include "kernels/linear.h"

namespace swiftkv {

// Sets oneDNN's maximum instruction set from `level` (amx -> avx512_core_amx,
// avx512 -> avx512_core_bf16, avx2 -> avx2, scalar -> sse41) on the first
// call and does nothing on later calls. oneDNN accepts the setting only once
// per process and only before it creates its first primitive, so the first
// caller's level decides for the whole process.
void init_onednn_isa(CpuLevel level);

// True when oneDNN 2.6 has a fast bf16 matmul at `level`. Below AVX-512 it
// has none and primitive creation fails.
bool onednn_bf16_supported(CpuLevel level);

// out[T, N] = x[T, K] @ W^T + bias with bf16 weights and activations and
// float32 output. The weights are reordered once into the layout oneDNN picks;
// primitives are created per bucket of T (a multiple of kRowBucket) and kept.
class OnednnBf16Matmul {
 public:
  static constexpr int64_t kRowBucket = 32;
  static constexpr int64_t kMaxRows = 2048;  // larger T runs in chunks of this many rows

  // W[N, K] bf16 in plain row-major order; bias[N] float32 or null.
  OnednnBf16Matmul(const uint16_t* W, const float* bias, int64_t N, int64_t K, CpuLevel level);

  // x[rows_padded(T), K] bf16 whose rows past T are zero; out[T, N] float32.
  void forward(const uint16_t* x, int64_t T, float* out) const;
  // Computes the same for float32 x[T, K], rounding the rows to bf16 in a
  // per-thread buffer first.
  void forward_f32(const float* x, int64_t T, float* out) const;

  // T rounded up to kRowBucket: the rows `x` must hold.
  static int64_t rows_padded(int64_t T) { return (T + kRowBucket - 1) / kRowBucket * kRowBucket; }

 private:
  const dnnl::matmul& primitive_for(int64_t rows) const;
  dnnl::matmul::primitive_desc make_desc(int64_t rows, const dnnl::memory::desc& weights_md) const;

  int64_t N_, K_;
  bool has_bias_;
  dnnl::memory::desc weights_md_;  // oneDNN's chosen layout of W^T [K, N]
  dnnl::memory weights_;
  dnnl::memory bias_;              // [1, N] float32, empty without bias
  mutable std::mutex mutex_;
  mutable std::map<int64_t, dnnl::matmul> primitives_;  // bucketed row count -> primitive
};

// Returns a oneDNN copy of a quantized layer's stored values, rounded to
// bf16, for its prompt-sized batches. Returns null where oneDNN has no bf16
// matmul at `level`. `bias` is [N] or null.
std::unique_ptr<OnednnBf16Matmul> make_prompt_copy(const LinearWeight& layer, const float* bias, CpuLevel level);

}  // namespace swiftkv
