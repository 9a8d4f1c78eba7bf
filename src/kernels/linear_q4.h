// 4-bit linear layers: GGUF Q4_1's blocks of 32 weights with a scale and a
// minimum each, so a Q4_0 or Q4_1 tensor decodes from the values the file
// stores.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/linear.h"

namespace swiftkv {

std::unique_ptr<LinearWeight> make_linear_q4(const float* W, const float* bias, int64_t N, int64_t K,
                                             CpuLevel level);

}  // namespace swiftkv
