// Numeric helpers shared by the kernel and model tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu_features.h"

namespace swiftkv::testing {

// ||actual - expected|| / ||expected|| over n values.
inline double relative_error(const float* actual, const float* expected, int64_t n) {
  double diff = 0.0, norm = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(actual[i]) - static_cast<double>(expected[i]);
    diff += d * d;
    norm += static_cast<double>(expected[i]) * static_cast<double>(expected[i]);
  }
  return std::sqrt(diff / norm);
}

inline double relative_error(const std::vector<float>& actual, const std::vector<float>& expected) {
  return relative_error(actual.data(), expected.data(), static_cast<int64_t>(expected.size()));
}

// Every CPU level up to the one this machine supports, lowest first.
inline std::vector<CpuLevel> supported_levels() {
  std::vector<CpuLevel> levels;
  for (CpuLevel level : {CpuLevel::kScalar, CpuLevel::kAvx2, CpuLevel::kAvx512, CpuLevel::kAmx}) {
    if (level <= detected_cpu_level()) levels.push_back(level);
  }
  return levels;
}

// `count` values uniform in [-scale, scale].
inline std::vector<float> random_floats(size_t count, std::mt19937& rng, float scale) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

}  // namespace swiftkv::testing
