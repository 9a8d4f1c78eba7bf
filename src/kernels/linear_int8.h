// int8 linear layers: one float32 scale per block of 32 weights along K.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/linear.h"

namespace swiftkv {

std::unique_ptr<LinearWeight> make_linear_int8(const float* W, const float* bias, int64_t N, int64_t K,
                                               CpuLevel level);

}  // namespace swiftkv
