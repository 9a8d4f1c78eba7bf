#include "core/dtype.h"

#include "core/error.h"

namespace swiftkv {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kQ8_0: return "Q8_0";
    case DType::kQ4_0: return "Q4_0";
    case DType::kQ4_1: return "Q4_1";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
  }
  return "?";
}

int64_t dtype_block_elements(DType dtype) {
  switch (dtype) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1: return 32;
    default: return 1;
  }
}

int64_t dtype_block_bytes(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kQ8_0: return 2 + 32;      // f16 scale, 32 int8
    case DType::kQ4_0: return 2 + 16;      // f16 scale, 32 nibbles
    case DType::kQ4_1: return 2 + 2 + 16;  // f16 scale, f16 min, 32 nibbles
  }
  return 0;
}

int64_t dtype_bytes_for(DType dtype, int64_t elements) {
  const int64_t block = dtype_block_elements(dtype);
  SKV_ASSERT(elements % block == 0);
  return elements / block * dtype_block_bytes(dtype);
}

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  uint32_t out;
  if (exponent == 0x1f) {
    out = sign | 0x7f800000u | (mantissa << 13);  // inf or NaN
  } else if (exponent != 0) {
    out = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    out = sign;  // signed zero
  } else {
    // Subnormal half: normalise the mantissa into a float32 exponent.
    exponent = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      exponent--;
    }
    out = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float value;
  std::memcpy(&value, &out, sizeof(value));
  return value;
}

uint16_t f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs_bits >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow to inf
  if (abs_bits < 0x38800000u) {
    // Subnormal or zero half: shift with round to nearest even.
    if (abs_bits < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t exponent = abs_bits >> 23;
    const uint32_t mantissa = (abs_bits & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) half++;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((abs_bits - 0x38000000u) >> 13);
  const uint32_t rest = abs_bits & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++;
  return static_cast<uint16_t>(sign | half);
}

namespace {

void dequantize_q8_0(const uint8_t* src, int64_t blocks, float* dst) {
  for (int64_t b = 0; b < blocks; ++b, src += 34, dst += 32) {
    uint16_t scale_bits;
    std::memcpy(&scale_bits, src, 2);
    const float scale = f16_to_f32(scale_bits);
    const int8_t* q = reinterpret_cast<const int8_t*>(src + 2);
    for (int i = 0; i < 32; ++i) dst[i] = scale * static_cast<float>(q[i]);
  }
}

// Q4_0 and Q4_1 store element j in the low nibble of byte j and element
// j + 16 in the high nibble (ggml's block layout).
void dequantize_q4_0(const uint8_t* src, int64_t blocks, float* dst) {
  for (int64_t b = 0; b < blocks; ++b, src += 18, dst += 32) {
    uint16_t scale_bits;
    std::memcpy(&scale_bits, src, 2);
    const float scale = f16_to_f32(scale_bits);
    const uint8_t* q = src + 2;
    for (int i = 0; i < 16; ++i) {
      dst[i] = scale * static_cast<float>((q[i] & 0x0f) - 8);
      dst[i + 16] = scale * static_cast<float>((q[i] >> 4) - 8);
    }
  }
}

void dequantize_q4_1(const uint8_t* src, int64_t blocks, float* dst) {
  for (int64_t b = 0; b < blocks; ++b, src += 20, dst += 32) {
    uint16_t scale_bits, min_bits;
    std::memcpy(&scale_bits, src, 2);
    std::memcpy(&min_bits, src + 2, 2);
    const float scale = f16_to_f32(scale_bits);
    const float min = f16_to_f32(min_bits);
    const uint8_t* q = src + 4;
    for (int i = 0; i < 16; ++i) {
      dst[i] = scale * static_cast<float>(q[i] & 0x0f) + min;
      dst[i + 16] = scale * static_cast<float>(q[i] >> 4) + min;
    }
  }
}

}  // namespace

void convert_to_f32(DType dtype, const void* src, int64_t elements, float* dst) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(elements) * 4);
      return;
    case DType::kF16:
      for (int64_t i = 0; i < elements; ++i) {
        uint16_t bits;
        std::memcpy(&bits, bytes + 2 * i, 2);
        dst[i] = f16_to_f32(bits);
      }
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < elements; ++i) {
        uint16_t bits;
        std::memcpy(&bits, bytes + 2 * i, 2);
        dst[i] = bf16_to_f32(bits);
      }
      return;
    case DType::kQ8_0: dequantize_q8_0(bytes, elements / 32, dst); return;
    case DType::kQ4_0: dequantize_q4_0(bytes, elements / 32, dst); return;
    case DType::kQ4_1: dequantize_q4_1(bytes, elements / 32, dst); return;
    case DType::kI32:
    case DType::kI64:
      fail("cannot convert integer tensor of type %s to float32", dtype_name(dtype));
  }
}

}  // namespace swiftkv
