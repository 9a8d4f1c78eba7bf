// Plain float32 reference implementations of the transformer operations.
// They define the expected output that optimised kernels are tested against,
// so they favour clarity over speed (apart from threading over rows).
#pragma once

#include <cstdint>
#include <vector>

namespace swiftkv {

// out[T, D] = x[T, D] / sqrt(mean(x^2) + eps) * weight[D]
void rmsnorm_ref(const float* x, const float* weight, int64_t T, int64_t D, float eps, float* out);

// out[T, N] = x[T, K] @ W[N, K]^T (+ bias[N] when bias is not null).
// W is a Hugging Face linear weight: one row per output feature.
void linear_ref(const float* x, const float* W, const float* bias, int64_t T, int64_t K, int64_t N,
                float* out);

// out[T, F] = silu(gate[T, F]) * up[T, F]
void silu_mul_ref(const float* gate, const float* up, int64_t count, float* out);

// Rotary position embedding tables. The frequencies follow the Hugging Face
// Llama code: inv_freq[j] = theta^(-2j / DH), optionally rescaled by the
// "llama3" rope_scaling rule.
struct RopeScalingParams {
  bool llama3 = false;
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int64_t original_max_position_embeddings = 8192;
};
std::vector<float> rope_inv_freq(int64_t DH, float theta, const RopeScalingParams& scaling);

// Rotates x[T, NH, DH] in place in the rotate-half layout: for j < DH/2 the
// pair is (x[j], x[j + DH/2]) at angle positions[t] * inv_freq[j].
void rope_ref(float* x, const int32_t* positions, int64_t T, int64_t NH, int64_t DH,
              const std::vector<float>& inv_freq);

// Causal attention of one query row over n cached positions of one sequence.
// q[H, DH]; keys/values: n rows, each HKV * DH floats, `row_stride` floats
// apart; out[H, DH]. Query head h reads key/value head h / (H / HKV) (GQA).
void attention_row_ref(const float* q, const float* keys, const float* values, int64_t n,
                       int64_t row_stride, int64_t H, int64_t HKV, int64_t DH, float* out);

}  // namespace swiftkv
