#include "kernels/cpu_features.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace swiftkv {
namespace {

TEST(CpuFeatures, LevelNamesRoundTrip) {
  for (CpuLevel level : {CpuLevel::kScalar, CpuLevel::kAvx2, CpuLevel::kAvx512, CpuLevel::kAmx}) {
    EXPECT_EQ(parse_cpu_level(cpu_level_name(level)), level);
  }
}

TEST(CpuFeatures, ParseRejectsUnknownName) {
  EXPECT_THROW(parse_cpu_level("sse4"), Error);
  EXPECT_THROW(parse_cpu_level(""), Error);
  EXPECT_THROW(parse_cpu_level("AVX2"), Error);
}

TEST(CpuFeatures, CapLowersActiveLevel) {
  const CpuLevel detected = detected_cpu_level();
  std::printf("detected CPU level: %s, active: %s\n", cpu_level_name(detected),
              cpu_level_name(active_cpu_level()));
  EXPECT_LE(static_cast<int>(active_cpu_level()), static_cast<int>(detected));

  set_cpu_level_cap(CpuLevel::kScalar);
  EXPECT_EQ(active_cpu_level(), CpuLevel::kScalar);
  set_cpu_level_cap(CpuLevel::kAvx2);
  EXPECT_LE(static_cast<int>(active_cpu_level()), static_cast<int>(CpuLevel::kAvx2));
  set_cpu_level_cap(CpuLevel::kAmx);
  EXPECT_LE(static_cast<int>(active_cpu_level()), static_cast<int>(detected));
}

TEST(CpuFeatures, DetectionIsStable) {
  EXPECT_EQ(detected_cpu_level(), detected_cpu_level());
}

}  // namespace
}  // namespace swiftkv
