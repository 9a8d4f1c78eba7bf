#include "train/grad_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/error.h"
#include "train/gemm.h"

namespace swiftkv {

template <typename T>
void linear_forward(const T* x, const T* W, const T* bias, int64_t rows, int64_t N, int64_t K, T* y) {
  gemm<T>({false, true, rows, N, K}, T(1), x, W, T(0), y);
  if (bias == nullptr) return;
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t n = 0; n < N; ++n) y[t * N + n] += bias[n];
  }
}

template <typename T>
void linear_backward_input(const T* dy, const T* W, int64_t rows, int64_t N, int64_t K, T* dx, bool accumulate) {
  gemm<T>({false, false, rows, K, N}, T(1), dy, W, accumulate ? T(1) : T(0), dx);
}

template <typename T>
void linear_backward_weight(const T* dy, const T* x, int64_t rows, int64_t N, int64_t K, T* dW, T* dbias) {
  gemm<T>({true, false, N, K, rows}, T(1), dy, x, T(1), dW);
  if (dbias == nullptr) return;
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t n = 0; n < N; ++n) dbias[n] += dy[t * N + n];
  }
}

template <typename T>
void rmsnorm_forward(const T* x, const T* w, int64_t rows, int64_t D, T eps, T* y, T* inv_rms) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows; ++t) {
    const T* row = x + t * D;
    double sum_sq = 0.0;
    for (int64_t i = 0; i < D; ++i) sum_sq += static_cast<double>(row[i]) * static_cast<double>(row[i]);
    const T r = T(1) / std::sqrt(static_cast<T>(sum_sq / static_cast<double>(D)) + eps);
    inv_rms[t] = r;
    for (int64_t i = 0; i < D; ++i) y[t * D + i] = row[i] * r * w[i];
  }
}

template <typename T>
void rmsnorm_backward(const T* x, const T* w, const T* inv_rms, const T* dy, int64_t rows, int64_t D, T* dx,
                      T* dw) {
  const bool large = rows * D > 16384;  // small inputs stay on one thread
  if (dx != nullptr) {
#pragma omp parallel for schedule(static) if (large)
    for (int64_t t = 0; t < rows; ++t) {
      const T* xr = x + t * D;
      const T* g = dy + t * D;
      const T r = inv_rms[t];
      double dot = 0.0;
      for (int64_t i = 0; i < D; ++i) dot += static_cast<double>(g[i]) * w[i] * xr[i];
      const T coeff = static_cast<T>(dot) * r * r * r / static_cast<T>(D);
      for (int64_t i = 0; i < D; ++i) dx[t * D + i] = r * w[i] * g[i] - xr[i] * coeff;
    }
  }
  if (dw != nullptr) {
#pragma omp parallel for schedule(static) if (large)
    for (int64_t i = 0; i < D; ++i) {
      double sum = 0.0;
      for (int64_t t = 0; t < rows; ++t) sum += static_cast<double>(dy[t * D + i]) * x[t * D + i] * inv_rms[t];
      dw[i] += static_cast<T>(sum);
    }
  }
}

namespace {

template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

}  // namespace

template <typename T>
void silu_mul_forward(const T* gate, const T* up, int64_t count, T* out) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

template <typename T>
void silu_mul_backward(const T* gate, const T* up, const T* dout, int64_t count, T* dgate, T* dup) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    const T s = sigmoid(gate[i]);
    const T silu = gate[i] * s;
    dup[i] = dout[i] * silu;
    dgate[i] = dout[i] * up[i] * s * (T(1) + gate[i] * (T(1) - s));
  }
}

template <typename T>
void rope_rotate(T* x, const int32_t* positions, int64_t rows, int64_t NH, int64_t DH,
                 const std::vector<float>& inv_freq, bool inverse) {
  const int64_t half = DH / 2;
  SKV_ASSERT(static_cast<int64_t>(inv_freq.size()) == half);
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t j = 0; j < half; ++j) {
      // The angle is formed in float, as the inference kernels form it.
      const float angle = static_cast<float>(positions[t]) * inv_freq[static_cast<size_t>(j)];
      const T c = static_cast<T>(std::cos(angle));
      const T s = inverse ? -static_cast<T>(std::sin(angle)) : static_cast<T>(std::sin(angle));
      for (int64_t h = 0; h < NH; ++h) {
        T* head = x + (t * NH + h) * DH;
        const T x1 = head[j], x2 = head[j + half];
        head[j] = x1 * c - x2 * s;
        head[j + half] = x2 * c + x1 * s;
      }
    }
  }
}

namespace {

// [first, last) row ranges of the packed sequences, checked for order.
std::vector<std::pair<int64_t, int64_t>> sequence_ranges(const int32_t* seq_start, int64_t rows) {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (int64_t t = 0; t < rows; ++t) {
    if (seq_start[t] == t) {
      ranges.emplace_back(t, t + 1);
    } else if (t > 0 && seq_start[t] == seq_start[t - 1] && !ranges.empty()) {
      ranges.back().second = t + 1;
    } else {
      fail("packed attention: row %lld has sequence start %d; starts must be the row itself or the previous "
           "row's start", static_cast<long long>(t), seq_start[t]);
    }
  }
  return ranges;
}

}  // namespace

// Attention runs per (sequence, head) as matrix products on strided views:
// S = scale Q K^T, P = causal softmax(S), O = P V; the backward recomputes P
// from the saved log-sum-exp. The products run single-threaded inside the
// parallel loop over (sequence, head) tasks.
template <typename T>
void attention_forward(const AttentionShape& shape, const int32_t* seq_start, const T* q, const T* k,
                       const T* v, T* out, T* lse) {
  const int64_t H = shape.H, HKV = shape.HKV, DH = shape.DH, group = H / HKV;
  const T scale = T(1) / std::sqrt(static_cast<T>(DH));
  const auto ranges = sequence_ranges(seq_start, shape.rows);
  const int64_t tasks = static_cast<int64_t>(ranges.size()) * H;
#pragma omp parallel
  {
    std::vector<T> scores;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const auto [first, last] = ranges[static_cast<size_t>(task / H)];
      const int64_t h = task % H, g = h / group, n = last - first;
      scores.resize(static_cast<size_t>(n * n));
      const T* qh = q + (first * H + h) * DH;
      const T* kg = k + (first * HKV + g) * DH;
      const T* vg = v + (first * HKV + g) * DH;
      gemm_strided<T>({false, true, n, n, DH}, scale, qh, H * DH, kg, HKV * DH, T(0), scores.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        T* row = scores.data() + i * n;
        const T max_score = *std::max_element(row, row + i + 1);
        T sum = 0;
        for (int64_t j = 0; j <= i; ++j) sum += row[j] = std::exp(row[j] - max_score);
        for (int64_t j = 0; j <= i; ++j) row[j] /= sum;
        std::fill(row + i + 1, row + n, T(0));
        lse[(first + i) * H + h] = max_score + std::log(sum);
      }
      gemm_strided<T>({false, false, n, DH, n}, T(1), scores.data(), n, vg, HKV * DH, T(0), out + (first * H + h) * DH,
                      H * DH);
    }
  }
}

template <typename T>
void attention_backward(const AttentionShape& shape, const int32_t* seq_start, const T* q, const T* k,
                        const T* v, const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv) {
  const int64_t H = shape.H, HKV = shape.HKV, DH = shape.DH, group = H / HKV;
  const T scale = T(1) / std::sqrt(static_cast<T>(DH));
  const auto ranges = sequence_ranges(seq_start, shape.rows);
  // One task per (sequence, kv head): it owns the dk/dv rows it adds to.
  const int64_t tasks = static_cast<int64_t>(ranges.size()) * HKV;
#pragma omp parallel
  {
    std::vector<T> probs, dprobs;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const auto [first, last] = ranges[static_cast<size_t>(task / HKV)];
      const int64_t g = task % HKV, n = last - first;
      probs.resize(static_cast<size_t>(n * n));
      dprobs.resize(probs.size());
      const T* kg = k + (first * HKV + g) * DH;
      const T* vg = v + (first * HKV + g) * DH;
      T* dkg = dk + (first * HKV + g) * DH;
      T* dvg = dv + (first * HKV + g) * DH;
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const int64_t offset = (first * H + h) * DH;
        gemm_strided<T>({false, true, n, n, DH}, scale, q + offset, H * DH, kg, HKV * DH, T(0), probs.data(), n);
        gemm_strided<T>({false, true, n, n, DH}, T(1), dout + offset, H * DH, vg, HKV * DH, T(0), dprobs.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          T* p = probs.data() + i * n;
          T* dp = dprobs.data() + i * n;
          const T* o_row = out + offset + i * H * DH;
          const T* do_row = dout + offset + i * H * DH;
          T row_dot = 0;
          for (int64_t d = 0; d < DH; ++d) row_dot += o_row[d] * do_row[d];
          const T row_lse = lse[(first + i) * H + h];
          for (int64_t j = 0; j <= i; ++j) {
            p[j] = std::exp(p[j] - row_lse);
            dp[j] = p[j] * (dp[j] - row_dot) * scale;  // d(loss)/d(raw score q.k)
          }
          std::fill(p + i + 1, p + n, T(0));
          std::fill(dp + i + 1, dp + n, T(0));
        }
        gemm_strided<T>({true, false, n, DH, n}, T(1), probs.data(), n, dout + offset, H * DH, T(1), dvg, HKV * DH);
        gemm_strided<T>({false, false, n, DH, n}, T(1), dprobs.data(), n, kg, HKV * DH, T(0), dq + offset, H * DH);
        gemm_strided<T>({true, false, n, DH, n}, T(1), dprobs.data(), n, q + offset, H * DH, T(1), dkg, HKV * DH);
      }
    }
  }
}

template <typename T>
double kl_divergence_loss(const T* teacher, const T* student, const uint8_t* mask, int64_t rows, int64_t V,
                          T temp, T scale, T* dstudent) {
  double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (int64_t t = 0; t < rows; ++t) {
    const T* zt = teacher + t * V;
    const T* zs = student + t * V;
    T* grad = dstudent + t * V;
    if (mask != nullptr && mask[t] == 0) {
      std::fill(grad, grad + V, T(0));
      continue;
    }
    // log-sum-exp of both rows at temperature temp.
    T max_t = -std::numeric_limits<T>::infinity(), max_s = max_t;
    for (int64_t i = 0; i < V; ++i) {
      max_t = std::max(max_t, zt[i] / temp);
      max_s = std::max(max_s, zs[i] / temp);
    }
    double sum_t = 0.0, sum_s = 0.0;
    for (int64_t i = 0; i < V; ++i) {
      sum_t += std::exp(static_cast<double>(zt[i] / temp - max_t));
      sum_s += std::exp(static_cast<double>(zs[i] / temp - max_s));
    }
    const double lse_t = max_t + std::log(sum_t), lse_s = max_s + std::log(sum_s);
    double kl = 0.0;
    for (int64_t i = 0; i < V; ++i) {
      const double log_pt = zt[i] / temp - lse_t;
      const double log_ps = zs[i] / temp - lse_s;
      const double pt = std::exp(log_pt);
      kl += pt * (log_pt - log_ps);
      // d(temp^2 KL)/dz_s = temp * (p_s - p_t); computed after reading zs[i].
      grad[i] = static_cast<T>(static_cast<double>(scale) * temp * (std::exp(log_ps) - pt));
    }
    total += static_cast<double>(temp) * temp * kl;
  }
  return total;
}

template <typename T>
double mse_loss(const T* a, const T* b, int64_t n, T scale, T* da) {
  double sum = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    sum += d * d;
    if (da != nullptr) da[i] = static_cast<T>(static_cast<double>(scale) * 2.0 * d / static_cast<double>(n));
  }
  return n == 0 ? 0.0 : sum / static_cast<double>(n);
}

#define SWIFTKV_INSTANTIATE_GRAD_OPS(T)                                                                      \
  template void linear_forward<T>(const T*, const T*, const T*, int64_t, int64_t, int64_t, T*);            \
  template void linear_backward_input<T>(const T*, const T*, int64_t, int64_t, int64_t, T*, bool);         \
  template void linear_backward_weight<T>(const T*, const T*, int64_t, int64_t, int64_t, T*, T*);          \
  template void rmsnorm_forward<T>(const T*, const T*, int64_t, int64_t, T, T*, T*);                       \
  template void rmsnorm_backward<T>(const T*, const T*, const T*, const T*, int64_t, int64_t, T*, T*);     \
  template void silu_mul_forward<T>(const T*, const T*, int64_t, T*);                                      \
  template void silu_mul_backward<T>(const T*, const T*, const T*, int64_t, T*, T*);                       \
  template void rope_rotate<T>(T*, const int32_t*, int64_t, int64_t, int64_t, const std::vector<float>&,   \
                               bool);                                                                      \
  template void attention_forward<T>(const AttentionShape&, const int32_t*, const T*, const T*, const T*,  \
                                     T*, T*);                                                              \
  template void attention_backward<T>(const AttentionShape&, const int32_t*, const T*, const T*, const T*, \
                                      const T*, const T*, const T*, T*, T*, T*);                           \
  template double kl_divergence_loss<T>(const T*, const T*, const uint8_t*, int64_t, int64_t, T, T, T*);   \
  template double mse_loss<T>(const T*, const T*, int64_t, T, T*);

SWIFTKV_INSTANTIATE_GRAD_OPS(float)
SWIFTKV_INSTANTIATE_GRAD_OPS(double)

}  // namespace swiftkv
