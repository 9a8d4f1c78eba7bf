// Row-major general matrix products for the trainer:
// C[M, N] = alpha * op(A) op(B) + beta * C, where op(X) is X or X^T.
#pragma once

#include <cstdint>

namespace swiftkv {

struct GemmShape {
  bool trans_a = false;  // A is stored [K, M] and used as its transpose
  bool trans_b = false;  // B is stored [N, K] and used as its transpose
  int64_t M = 0, N = 0, K = 0;
};

// Plain loops (float or double); the reference the fast path is tested
// against, and the product used by the float64 gradient checks.
template <typename T>
void gemm_ref(const GemmShape& shape, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta,
              T* C, int64_t ldc);

// oneDNN's sgemm. Throws Error when oneDNN rejects the arguments.
void gemm_fast(const GemmShape& shape, float alpha, const float* A, int64_t lda, const float* B,
               int64_t ldb, float beta, float* C, int64_t ldc);

// gemm_fast for float, gemm_ref for double, with explicit leading dimensions.
template <typename T>
void gemm_strided(const GemmShape& shape, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
                  int64_t ldc) {
  if constexpr (sizeof(T) == sizeof(float)) {
    gemm_fast(shape, alpha, A, lda, B, ldb, beta, C, ldc);
  } else {
    gemm_ref(shape, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

// gemm_strided with the leading dimensions of dense row-major storage.
template <typename T>
void gemm(const GemmShape& shape, T alpha, const T* A, const T* B, T beta, T* C) {
  const int64_t lda = shape.trans_a ? shape.M : shape.K;
  const int64_t ldb = shape.trans_b ? shape.K : shape.N;
  gemm_strided(shape, alpha, A, lda, B, ldb, beta, C, shape.N);
}

}  // namespace swiftkv
