// Numeric helpers shared by the kernel and model tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/dtype.h"
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

// Rounds values, in blocks of 32 (the last one may be shorter), to what a
// GGUF file stores after llama.cpp's reference quantizer and the loader's
// dequantization, so tests can build "quantized" weights without a file.
// Q4_0: d = v / -8 for the value v of largest magnitude (rounded to f16),
// value = d * (q - 8) with q = min(15, floor(x / d + 8.5)).
inline void round_to_q4_0(std::vector<float>& values) {
  for (size_t b = 0; b < values.size(); b += 32) {
    const size_t end = std::min(values.size(), b + 32);
    float largest = 0.0f;
    for (size_t j = b; j < end; ++j) {
      if (std::fabs(values[j]) > std::fabs(largest)) largest = values[j];
    }
    const float d = f16_to_f32(f32_to_f16(largest / -8.0f));
    for (size_t j = b; j < end; ++j) {
      const float q = d == 0.0f ? 8.0f : std::min(15.0f, std::floor(values[j] / d + 8.5f));
      values[j] = (q - 8.0f) * d;
    }
  }
}

// Q8_0: d = max|x| / 127 (rounded to f16), value = d * round(x / d).
inline void round_to_q8_0(std::vector<float>& values) {
  for (size_t b = 0; b < values.size(); b += 32) {
    const size_t end = std::min(values.size(), b + 32);
    float max_abs = 0.0f;
    for (size_t j = b; j < end; ++j) max_abs = std::max(max_abs, std::fabs(values[j]));
    const float d = f16_to_f32(f32_to_f16(max_abs / 127.0f));
    for (size_t j = b; j < end; ++j) values[j] = d == 0.0f ? 0.0f : d * std::round(values[j] / d);
  }
}

// Q4_1: m = the smallest value, d = (largest - m) / 15 (both rounded to f16),
// value = d * q + m with q = round((x - m) / d) clamped to [0, 15].
inline void round_to_q4_1(std::vector<float>& values) {
  for (size_t b = 0; b < values.size(); b += 32) {
    const size_t end = std::min(values.size(), b + 32);
    const auto [lo, hi] = std::minmax_element(values.begin() + b, values.begin() + end);
    const float d = f16_to_f32(f32_to_f16((*hi - *lo) / 15.0f));
    const float m = f16_to_f32(f32_to_f16(*lo));
    for (size_t j = b; j < end; ++j) {
      const float q = d == 0.0f ? 0.0f : std::clamp(std::round((values[j] - m) / d), 0.0f, 15.0f);
      values[j] = d * q + m;
    }
  }
}

}  // namespace swiftkv::testing
