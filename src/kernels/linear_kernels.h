// Per-ISA kernels behind the bf16, int8 and q4 linear layers (internal).
//
// Every kernel computes out[t, n] = x[t, :] . W[n, :] (+ bias[n]) for the
// output rows n in [n0, n1) and all T token rows, on one thread. The callers
// split N across threads. Weights are read once per call for all T rows, so
// a decode step streams each weight byte from memory once.
//
// Layouts (Kp = K rounded up to a multiple of 32, padding is zero):
//   bf16: W[N, Kp] uint16. Within each block of 32 along K, element 2j is
//         k = 32b + j and element 2j + 1 is k = 32b + 16 + j (j < 16), so
//         one 32-bit lane expands to two float32 weights with a shift and a
//         mask, and the matching activations are two contiguous loads.
//   int8: W[N, Kp] int8 in plain order; scales[N, Kp / 32] float32, and the
//         weight value is W * scale.
//   q4:   W[N, Kp / 32] Q4Block, GGUF Q4_1's nibble order with float32 scale
//         and min: weight k0 + j is q[j] & 15, weight k0 + 16 + j is
//         q[j] >> 4 (j < 16), and its value is fma(nibble, scale, min).
// Activations x[T, Kp] are float32 with row stride Kp and zero padding.
#pragma once

#include <omp.h>

#include <cstdint>

namespace swiftkv {

inline constexpr int64_t kLinearBlock = 32;  // K block of both layouts

struct Q4Block {
  float scale;
  float min;
  uint8_t q[16];
};

struct LinearKernelArgs {
  const float* x;     // [T, Kp]
  int64_t T;
  int64_t Kp;
  const float* bias;  // [N] or null
  int64_t N;          // row stride of out
  float* out;         // [T, N]
};

using Bf16RowsKernel = void (*)(const uint16_t* W, const LinearKernelArgs& args, int64_t n0, int64_t n1);
using Int8RowsKernel = void (*)(const int8_t* W, const float* scales, const LinearKernelArgs& args,
                                int64_t n0, int64_t n1);

void bf16_rows_scalar(const uint16_t* W, const LinearKernelArgs& args, int64_t n0, int64_t n1);
void bf16_rows_avx2(const uint16_t* W, const LinearKernelArgs& args, int64_t n0, int64_t n1);
void bf16_rows_avx512(const uint16_t* W, const LinearKernelArgs& args, int64_t n0, int64_t n1);

using Q4RowsKernel = void (*)(const Q4Block* W, const LinearKernelArgs& args, int64_t n0, int64_t n1);

void q4_rows_scalar(const Q4Block* W, const LinearKernelArgs& args, int64_t n0, int64_t n1);
void q4_rows_avx2(const Q4Block* W, const LinearKernelArgs& args, int64_t n0, int64_t n1);
void q4_rows_avx512(const Q4Block* W, const LinearKernelArgs& args, int64_t n0, int64_t n1);

void int8_rows_scalar(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n0,
                      int64_t n1);
void int8_rows_avx2(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n0,
                    int64_t n1);
void int8_rows_avx512(const int8_t* W, const float* scales, const LinearKernelArgs& args, int64_t n0,
                      int64_t n1);

// XOR of the 64-byte lines of data[0, bytes) (bytes a multiple of 256),
// read with AVX-512 loads and the decode kernels' 4 KiB prefetch: the memory
// read ceiling the bandwidth figures divide by.
uint64_t xor_lines_avx512(const uint8_t* data, int64_t bytes);

// Converts float32 to bf16 (round to nearest even) with AVX512_BF16.
// NOTE: the instruction flushes float32 denormals to zero, unlike f32_to_bf16.
void f32_to_bf16_avx512(const float* src, int64_t count, uint16_t* dst);

// Returns x[T, K] with its rows zero-padded to Kp floats: x itself when
// K == Kp, else a copy in a per-thread buffer that the next call reuses.
const float* pad_activations(const float* x, int64_t T, int64_t K, int64_t Kp);

// Calls rows(n0, n1) on disjoint ranges covering [0, N), one per OpenMP
// thread. `work` (multiply-adds) below about 64K runs on the calling thread,
// where waking the team would cost more than the product.
template <typename RowsFn>
void for_each_row_range(int64_t N, int64_t work, RowsFn&& rows) {
  if (work < (int64_t{1} << 16) || omp_in_parallel()) {
    rows(int64_t{0}, N);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads();
    const int64_t id = omp_get_thread_num();
    // Ranges are multiples of 4 rows so that the kernels' row tiles stay full.
    const int64_t per_thread = ((N + threads - 1) / threads + 3) / 4 * 4;
    const int64_t n0 = id * per_thread < N ? id * per_thread : N;
    const int64_t n1 = n0 + per_thread < N ? n0 + per_thread : N;
    if (n0 < n1) rows(n0, n1);
  }
}

}  // namespace swiftkv
