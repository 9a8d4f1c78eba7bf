#include "train/gemm.h"

#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"

namespace swiftkv {

template <typename T>
void gemm_ref(const GemmShape& shape, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta,
              T* C, int64_t ldc) {
  const auto a_at = [&](int64_t m, int64_t k) { return shape.trans_a ? A[k * lda + m] : A[m * lda + k]; };
  const auto b_at = [&](int64_t k, int64_t n) { return shape.trans_b ? B[n * ldb + k] : B[k * ldb + n]; };
  const bool large = shape.M * shape.N * shape.K > 65536;  // small products stay on one thread
#pragma omp parallel for schedule(static) if (large)
  for (int64_t m = 0; m < shape.M; ++m) {
    for (int64_t n = 0; n < shape.N; ++n) {
      T sum = 0;
      for (int64_t k = 0; k < shape.K; ++k) sum += a_at(m, k) * b_at(k, n);
      T& out = C[m * ldc + n];
      out = alpha * sum + (beta == T(0) ? T(0) : beta * out);
    }
  }
}

template void gemm_ref<float>(const GemmShape&, float, const float*, int64_t, const float*, int64_t, float,
                              float*, int64_t);
template void gemm_ref<double>(const GemmShape&, double, const double*, int64_t, const double*, int64_t,
                               double, double*, int64_t);

void gemm_fast(const GemmShape& shape, float alpha, const float* A, int64_t lda, const float* B,
               int64_t ldb, float beta, float* C, int64_t ldc) {
  if (shape.M == 0 || shape.N == 0) return;
  if (shape.K == 0) {
    for (int64_t m = 0; m < shape.M; ++m) {
      for (int64_t n = 0; n < shape.N; ++n) C[m * ldc + n] = beta == 0.0f ? 0.0f : beta * C[m * ldc + n];
    }
    return;
  }
  const dnnl_status_t status =
      dnnl_sgemm(shape.trans_a ? 'T' : 'N', shape.trans_b ? 'T' : 'N', shape.M, shape.N, shape.K, alpha, A,
                 lda, B, ldb, beta, C, ldc);
  if (status != dnnl_success) {
    fail("oneDNN sgemm failed with status %d for M=%lld N=%lld K=%lld", static_cast<int>(status),
         static_cast<long long>(shape.M), static_cast<long long>(shape.N), static_cast<long long>(shape.K));
  }
}

}  // namespace swiftkv
