#include "kernels/linear.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/linear_bf16.h"
#include "kernels/linear_int8.h"
#include "kernels/linear_q4.h"
#include "kernels/ops_ref.h"

namespace swiftkv {
namespace {

// Float32 weights run through the reference loops at every CPU level.
class LinearF32 final : public LinearWeight {
 public:
  LinearF32(const float* W, const float* bias, int64_t N, int64_t K)
      : LinearWeight(N, K, WeightFormat::kF32), W_(W, W + N * K) {
    if (bias != nullptr) bias_.assign(bias, bias + N);
  }

  void forward(const float* x, int64_t T, float* out) const override {
    linear_ref(x, W_.data(), bias_.empty() ? nullptr : bias_.data(), T, K_, N_, out);
  }

  int64_t weight_bytes() const override { return N_ * K_ * static_cast<int64_t>(sizeof(float)); }

  void unpack_weights(float* W) const override { std::copy(W_.begin(), W_.end(), W); }

 private:
  std::vector<float> W_;     // [N, K]
  std::vector<float> bias_;  // [N], or empty
};

}  // namespace

const char* weight_format_name(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32: return "f32";
    case WeightFormat::kBF16: return "bf16";
    case WeightFormat::kInt8: return "int8";
    case WeightFormat::kQ4: return "q4";
    case WeightFormat::kAuto: return "auto";
  }
  return "unknown";
}

WeightFormat parse_weight_format(const std::string& name) {
  for (WeightFormat format : {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kInt8, WeightFormat::kQ4,
                              WeightFormat::kAuto}) {
    if (name == weight_format_name(format)) return format;
  }
  fail("unknown weight format '%s'; use auto, bf16, int8, q4 or f32", name.c_str());
}

WeightFormat layer_weight_format(WeightFormat requested, DType source) {
  if (requested != WeightFormat::kAuto) return requested;
  switch (source) {
    case DType::kQ8_0: return WeightFormat::kInt8;
    case DType::kQ4_0:
    case DType::kQ4_1: return WeightFormat::kQ4;
    default: return WeightFormat::kBF16;
  }
}

std::unique_ptr<LinearWeight> make_linear(const float* W, const float* bias, int64_t N, int64_t K,
                                          WeightFormat format, CpuLevel level) {
  SKV_ASSERT(W != nullptr && N > 0 && K > 0);
  // A level above what the CPU runs would crash on the first illegal instruction.
  if (static_cast<int>(level) > static_cast<int>(detected_cpu_level())) level = detected_cpu_level();
  switch (format) {
    case WeightFormat::kF32: return std::make_unique<LinearF32>(W, bias, N, K);
    case WeightFormat::kBF16: return make_linear_bf16(W, bias, N, K, level);
    case WeightFormat::kInt8: return make_linear_int8(W, bias, N, K, level);
    case WeightFormat::kQ4: return make_linear_q4(W, bias, N, K, level);
    case WeightFormat::kAuto: break;
  }
  fail("unknown weight format %d", static_cast<int>(format));
}

}  // namespace swiftkv
