// Element types of stored tensors and conversions between them.
//
// Shape vocabulary used across the code base (row-major, outermost first):
//   T   token rows in a batch        D   hidden size
//   H   attention (query) heads      HKV key/value heads
//   DH  head dimension               F   MLP intermediate size
//   V   vocabulary size              L   number of layers
//   S   positions held in a KV cache
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace swiftkv {

enum class DType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kI32, kI64 };

// Name as written in safetensors headers and our messages ("F32", "Q4_1", ...).
const char* dtype_name(DType dtype);

// Elements per quantization block (1 for plain types) and bytes per block.
int64_t dtype_block_elements(DType dtype);
int64_t dtype_block_bytes(DType dtype);

// Bytes needed for `elements` values; `elements` must be a multiple of the
// block size for quantized types.
int64_t dtype_bytes_for(DType dtype, int64_t elements);

inline float bf16_to_f32(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof(value));
  return value;
}

// Round to nearest even, as PyTorch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float value);

// Converts `elements` values stored as `dtype` at `src` into float32 at `dst`.
// Quantized types (Q8_0, Q4_0, Q4_1) are dequantized block by block.
void convert_to_f32(DType dtype, const void* src, int64_t elements, float* dst);

}  // namespace swiftkv
