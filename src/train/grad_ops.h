// Forward and backward kernels of the operations the distillation student
// trains through. Each is a template instantiated for float (training) and
// double (the finite-difference gradient checks). Backward functions write
// input gradients (overwriting) and add weight gradients (accumulating), so
// gradients of several micro-batches or several uses sum up.
#pragma once

#include <cstdint>
#include <vector>

namespace swiftkv {

// y[rows, N] = x[rows, K] W[N, K]^T (+ bias[N] when not null).
template <typename T>
void linear_forward(const T* x, const T* W, const T* bias, int64_t rows, int64_t N, int64_t K, T* y);

// dx[rows, K] = dy[rows, N] W[N, K]; added to dx instead when `accumulate`.
template <typename T>
void linear_backward_input(const T* dy, const T* W, int64_t rows, int64_t N, int64_t K, T* dx, bool accumulate);

// dW[N, K] += dy^T x; dbias[N] (may be null) += column sums of dy.
template <typename T>
void linear_backward_weight(const T* dy, const T* x, int64_t rows, int64_t N, int64_t K, T* dW, T* dbias);

// y[rows, D] = x * r * w with r = 1 / sqrt(mean(x^2) + eps); saves r per row.
template <typename T>
void rmsnorm_forward(const T* x, const T* w, int64_t rows, int64_t D, T eps, T* y, T* inv_rms);

// dx (set, may be null) and dw (added to, may be null) from dy.
template <typename T>
void rmsnorm_backward(const T* x, const T* w, const T* inv_rms, const T* dy, int64_t rows, int64_t D, T* dx,
                      T* dw);

// out = silu(gate) * up over `count` values.
template <typename T>
void silu_mul_forward(const T* gate, const T* up, int64_t count, T* out);

// dgate and dup (set) from dout.
template <typename T>
void silu_mul_backward(const T* gate, const T* up, const T* dout, int64_t count, T* dgate, T* dup);

// Rotary embedding in the rotate-half layout on x[rows, NH, DH], in place:
// the pair (x[j], x[j + DH/2]) turns by positions[t] * inv_freq[j].
// `inverse` turns the other way, which is the backward pass of a rotation.
template <typename T>
void rope_rotate(T* x, const int32_t* positions, int64_t rows, int64_t NH, int64_t DH,
                 const std::vector<float>& inv_freq, bool inverse);

// Causal GQA attention over packed sequences. Row t attends to rows
// [seq_start[t], t], so attention never crosses a sequence boundary.
// q[rows, H*DH] and k, v[rows, HKV*DH] are rotated already; out[rows, H*DH];
// lse[rows, H] is the log-sum-exp of the scaled scores, kept for backward.
struct AttentionShape {
  int64_t rows = 0, H = 0, HKV = 0, DH = 0;
};
template <typename T>
void attention_forward(const AttentionShape& shape, const int32_t* seq_start, const T* q, const T* k,
                       const T* v, T* out, T* lse);

// dq (set), dk and dv (added to: several layers share one SwiftKV K/V).
template <typename T>
void attention_backward(const AttentionShape& shape, const int32_t* seq_start, const T* q, const T* k,
                        const T* v, const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv);

// Sum over rows with mask[t] != 0 (all rows when mask is null) of
// temp^2 * KL(softmax(teacher_t / temp) || softmax(student_t / temp)).
// Writes scale * d(sum)/d(student) to dstudent, which may alias student and
// is zero on masked-out rows. Logits are [rows, V].
template <typename T>
double kl_divergence_loss(const T* teacher, const T* student, const uint8_t* mask, int64_t rows, int64_t V,
                          T temp, T scale, T* dstudent);

// mean((a - b)^2) over n values; da (set, may be null) = scale * d(mean)/da.
template <typename T>
double mse_loss(const T* a, const T* b, int64_t n, T scale, T* da);

}  // namespace swiftkv
