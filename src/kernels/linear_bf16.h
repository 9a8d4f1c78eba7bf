// bf16 linear layers: oneDNN matmul for prompt-sized batches, hand-written
// matrix-vector kernels for decode.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/linear.h"

namespace swiftkv {

// Smallest T that layers of `format` (bf16, int8 or q4) at `level` hand to
// the oneDNN matmul; smaller batches run the matrix-vector kernel.
// INT64_MAX where oneDNN is not used.
int64_t onednn_min_rows(WeightFormat format, CpuLevel level);

std::unique_ptr<LinearWeight> make_linear_bf16(const float* W, const float* bias, int64_t N, int64_t K,
                                               CpuLevel level);

}  // namespace swiftkv
