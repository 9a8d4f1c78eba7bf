// Machine ceilings that the linear-layer timings are judged against, and a
// timer for one layer. Each function runs for about half a second.
#pragma once

#include <cstdint>

#include "kernels/linear.h"

namespace swiftkv {

// FLOP/s of a [size x size] x [size x size] oneDNN bf16 matmul (float32
// output) at the active CPU level; 0 where oneDNN has no bf16 matmul for
// that level (below avx512).
double measure_bf16_matmul_ceiling_flops(int64_t size);

// Returns the bytes/s of reading a 256 MiB buffer with all OpenMP threads,
// one chunk each. At avx512 and above it uses the loads and prefetches of
// the decode kernels, and plain 64-bit loads below.
double measure_memory_read_bandwidth();

// Seconds per layer.forward() call on T random token rows (best of several).
double measure_linear_seconds(const LinearWeight& layer, int64_t T);

}  // namespace swiftkv
