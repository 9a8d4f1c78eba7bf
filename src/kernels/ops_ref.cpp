#include "kernels/ops_ref.h"

#include <cmath>
#include <limits>

namespace swiftkv {

void rmsnorm_ref(const float* x, const float* weight, int64_t T, int64_t D, float eps, float* out) {
  for (int64_t t = 0; t < T; ++t) {
    const float* row = x + t * D;
    double sum_sq = 0.0;
    for (int64_t i = 0; i < D; ++i) sum_sq += static_cast<double>(row[i]) * row[i];
    const float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(D)) + eps);
    for (int64_t i = 0; i < D; ++i) out[t * D + i] = row[i] * scale * weight[i];
  }
}

namespace {

// Dot product with eight independent partial sums, so the compiler can keep
// them in vector registers without reassociating floating-point additions.
float dot(const float* a, const float* b, int64_t n) {
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int lane = 0; lane < 8; ++lane) partial[lane] += a[i + lane] * b[i + lane];
  }
  float sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
              ((partial[4] + partial[5]) + (partial[6] + partial[7]));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace

void linear_ref(const float* x, const float* W, const float* bias, int64_t T, int64_t K, int64_t N,
                float* out) {
  // Blocks of output features keep a slice of W in cache across token rows.
  constexpr int64_t kBlock = 64;
  // Small products run on one thread: waking a team costs more than they do.
  const bool parallel = T * K * N >= (int64_t{1} << 18);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t n0 = 0; n0 < N; n0 += kBlock) {
    const int64_t n1 = n0 + kBlock < N ? n0 + kBlock : N;
    for (int64_t t = 0; t < T; ++t) {
      const float* row = x + t * K;
      for (int64_t n = n0; n < n1; ++n) {
        float value = dot(row, W + n * K, K);
        if (bias != nullptr) value += bias[n];
        out[t * N + n] = value;
      }
    }
  }
}

void silu_mul_ref(const float* gate, const float* up, int64_t count, float* out) {
  for (int64_t i = 0; i < count; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

std::vector<float> rope_inv_freq(int64_t DH, float theta, const RopeScalingParams& scaling) {
  std::vector<float> inv_freq(static_cast<size_t>(DH / 2));
  for (int64_t j = 0; j < DH / 2; ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(DH);
    inv_freq[j] = 1.0f / std::pow(theta, exponent);
  }
  if (!scaling.llama3) return inv_freq;

  // Llama 3.1 rule: long wavelengths are divided by `factor`, short ones
  // kept, and the band between them interpolated smoothly.
  const float old_context = static_cast<float>(scaling.original_max_position_embeddings);
  const float low_freq_wavelen = old_context / scaling.low_freq_factor;
  const float high_freq_wavelen = old_context / scaling.high_freq_factor;
  for (float& freq : inv_freq) {
    const float wavelen = 2.0f * static_cast<float>(M_PI) / freq;
    if (wavelen < high_freq_wavelen) continue;
    if (wavelen > low_freq_wavelen) {
      freq = freq / scaling.factor;
      continue;
    }
    const float smooth = (old_context / wavelen - scaling.low_freq_factor) /
                         (scaling.high_freq_factor - scaling.low_freq_factor);
    freq = (1.0f - smooth) * freq / scaling.factor + smooth * freq;
  }
  return inv_freq;
}

void rope_ref(float* x, const int32_t* positions, int64_t T, int64_t NH, int64_t DH,
              const std::vector<float>& inv_freq) {
  const int64_t half = DH / 2;
  std::vector<float> cos_table(static_cast<size_t>(half)), sin_table(static_cast<size_t>(half));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < half; ++j) {
      const float angle = static_cast<float>(positions[t]) * inv_freq[j];
      cos_table[j] = std::cos(angle);
      sin_table[j] = std::sin(angle);
    }
    for (int64_t h = 0; h < NH; ++h) {
      float* head = x + (t * NH + h) * DH;
      for (int64_t j = 0; j < half; ++j) {
        const float x1 = head[j];
        const float x2 = head[j + half];
        head[j] = x1 * cos_table[j] - x2 * sin_table[j];
        head[j + half] = x2 * cos_table[j] + x1 * sin_table[j];
      }
    }
  }
}

void attention_row_ref(const float* q, const float* keys, const float* values, int64_t n,
                       int64_t row_stride, int64_t H, int64_t HKV, int64_t DH, float* out) {
  const int64_t group = H / HKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(DH));
  std::vector<float> scores(static_cast<size_t>(n));
  for (int64_t h = 0; h < H; ++h) {
    const int64_t kv_head = h / group;
    const float* qh = q + h * DH;

    // Scaled dot-product scores, then a numerically stable softmax.
    float max_score = -std::numeric_limits<float>::infinity();
    for (int64_t p = 0; p < n; ++p) {
      scores[p] = dot(qh, keys + p * row_stride + kv_head * DH, DH) * scale;
      if (scores[p] > max_score) max_score = scores[p];
    }
    double total = 0.0;
    for (int64_t p = 0; p < n; ++p) {
      scores[p] = std::exp(scores[p] - max_score);
      total += scores[p];
    }
    const float inv_total = static_cast<float>(1.0 / total);

    float* oh = out + h * DH;
    for (int64_t d = 0; d < DH; ++d) oh[d] = 0.0f;
    for (int64_t p = 0; p < n; ++p) {
      const float weight = scores[p] * inv_total;
      const float* vh = values + p * row_stride + kv_head * DH;
      for (int64_t d = 0; d < DH; ++d) oh[d] += weight * vh[d];
    }
  }
}

}  // namespace swiftkv
