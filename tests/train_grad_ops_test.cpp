// Gradient checks: every backward kernel of the trainer against central
// finite differences in float64 on small random inputs, and the fast float
// matrix product against its reference.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/ops_ref.h"
#include "numeric_util.h"
#include "train/gemm.h"
#include "train/grad_ops.h"

namespace swiftkv {
namespace {

using Vec = std::vector<double>;

Vec random_vec(size_t n, std::mt19937& rng, double scale = 1.0) {
  std::uniform_real_distribution<double> dist(-scale, scale);
  Vec v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

double weighted_sum(const Vec& y, const Vec& weights) {
  double s = 0.0;
  for (size_t i = 0; i < y.size(); ++i) s += y[i] * weights[i];
  return s;
}

// Central differences of `loss` with respect to every element of `x`.
Vec numeric_grad(Vec& x, const std::function<double()>& loss) {
  const double h = 1e-6;
  Vec grad(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

double rel_error(const Vec& a, const Vec& b) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff / norm);
}

constexpr double kTolerance = 1e-7;

TEST(TrainGradOps, LinearInputWeightAndBiasGradients) {
  std::mt19937 rng(1);
  const int64_t T = 3, N = 5, K = 7;
  Vec x = random_vec(T * K, rng), W = random_vec(N * K, rng), b = random_vec(N, rng);
  const Vec dy = random_vec(T * N, rng);
  const auto loss = [&] {
    Vec y(T * N);
    linear_forward(x.data(), W.data(), b.data(), T, N, K, y.data());
    return weighted_sum(y, dy);
  };
  Vec dx(T * K, 0.0), dW(N * K, 0.0), db(N, 0.0);
  linear_backward_input(dy.data(), W.data(), T, N, K, dx.data(), false);
  linear_backward_weight(dy.data(), x.data(), T, N, K, dW.data(), db.data());
  EXPECT_LT(rel_error(dx, numeric_grad(x, loss)), kTolerance);
  EXPECT_LT(rel_error(dW, numeric_grad(W, loss)), kTolerance);
  EXPECT_LT(rel_error(db, numeric_grad(b, loss)), kTolerance);
}

TEST(TrainGradOps, RmsnormInputAndWeightGradients) {
  std::mt19937 rng(2);
  const int64_t T = 4, D = 9;
  Vec x = random_vec(T * D, rng), w = random_vec(D, rng);
  const Vec dy = random_vec(T * D, rng);
  const auto loss = [&] {
    Vec y(T * D), r(T);
    rmsnorm_forward(x.data(), w.data(), T, D, 1e-5, y.data(), r.data());
    return weighted_sum(y, dy);
  };
  Vec y(T * D), r(T), dx(T * D), dw(D, 0.0);
  rmsnorm_forward(x.data(), w.data(), T, D, 1e-5, y.data(), r.data());
  rmsnorm_backward(x.data(), w.data(), r.data(), dy.data(), T, D, dx.data(), dw.data());
  EXPECT_LT(rel_error(dx, numeric_grad(x, loss)), kTolerance);
  EXPECT_LT(rel_error(dw, numeric_grad(w, loss)), kTolerance);
}

TEST(TrainGradOps, SiluMulGradients) {
  std::mt19937 rng(3);
  const int64_t n = 23;
  Vec gate = random_vec(n, rng, 4.0), up = random_vec(n, rng);
  const Vec dy = random_vec(n, rng);
  const auto loss = [&] {
    Vec y(n);
    silu_mul_forward(gate.data(), up.data(), n, y.data());
    return weighted_sum(y, dy);
  };
  Vec dgate(n), dup(n);
  silu_mul_backward(gate.data(), up.data(), dy.data(), n, dgate.data(), dup.data());
  EXPECT_LT(rel_error(dgate, numeric_grad(gate, loss)), kTolerance);
  EXPECT_LT(rel_error(dup, numeric_grad(up, loss)), kTolerance);
}

TEST(TrainGradOps, RopeInverseRotationIsItsBackward) {
  std::mt19937 rng(4);
  const int64_t T = 5, NH = 3, DH = 8;
  const std::vector<float> inv_freq = rope_inv_freq(DH, 10000.0f, RopeScalingParams{});
  const std::vector<int32_t> positions = {0, 1, 2, 7, 100};
  Vec x = random_vec(T * NH * DH, rng);
  const Vec dy = random_vec(x.size(), rng);
  const auto loss = [&] {
    Vec y = x;
    rope_rotate(y.data(), positions.data(), T, NH, DH, inv_freq, false);
    return weighted_sum(y, dy);
  };
  Vec dx = dy;
  rope_rotate(dx.data(), positions.data(), T, NH, DH, inv_freq, true);
  EXPECT_LT(rel_error(dx, numeric_grad(x, loss)), kTolerance);
}

TEST(TrainGradOps, RopeMatchesTheInferenceReference) {
  std::mt19937 rng(5);
  const int64_t T = 4, NH = 2, DH = 16;
  const std::vector<float> inv_freq = rope_inv_freq(DH, 500000.0f, RopeScalingParams{});
  const std::vector<int32_t> positions = {3, 0, 511, 40};
  std::vector<float> a = testing::random_floats(T * NH * DH, rng, 1.0f), b = a;
  rope_rotate(a.data(), positions.data(), T, NH, DH, inv_freq, false);
  rope_ref(b.data(), positions.data(), T, NH, DH, inv_freq);
  EXPECT_LT(testing::relative_error(a, b), 1e-6);
}

TEST(TrainGradOps, PackedGqaAttentionGradients) {
  std::mt19937 rng(6);
  // Two packed sequences of 3 and 4 rows; 4 query heads share 2 kv heads.
  const AttentionShape shape{7, 4, 2, 4};
  const std::vector<int32_t> seq_start = {0, 0, 0, 3, 3, 3, 3};
  Vec q = random_vec(shape.rows * shape.H * shape.DH, rng), k = random_vec(shape.rows * shape.HKV * shape.DH, rng);
  Vec v = random_vec(k.size(), rng);
  const Vec dout = random_vec(q.size(), rng);
  Vec out(q.size()), lse(shape.rows * shape.H);
  const auto loss = [&] {
    Vec o(q.size()), l(lse.size());
    attention_forward(shape, seq_start.data(), q.data(), k.data(), v.data(), o.data(), l.data());
    return weighted_sum(o, dout);
  };
  attention_forward(shape, seq_start.data(), q.data(), k.data(), v.data(), out.data(), lse.data());
  Vec dq(q.size()), dk(k.size(), 0.0), dv(v.size(), 0.0);
  attention_backward(shape, seq_start.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), dout.data(),
                     dq.data(), dk.data(), dv.data());
  EXPECT_LT(rel_error(dq, numeric_grad(q, loss)), kTolerance);
  EXPECT_LT(rel_error(dk, numeric_grad(k, loss)), kTolerance);
  EXPECT_LT(rel_error(dv, numeric_grad(v, loss)), kTolerance);
}

TEST(TrainGradOps, AttentionDoesNotCrossSequences) {
  std::mt19937 rng(7);
  const AttentionShape one{2, 2, 1, 4}, both{5, 2, 1, 4};
  const std::vector<int32_t> starts_one = {0, 0}, starts_both = {0, 0, 2, 2, 2};
  Vec q = random_vec(5 * 2 * 4, rng), k = random_vec(5 * 4, rng), v = random_vec(5 * 4, rng);
  Vec out_both(q.size()), lse_both(10), out_one(16), lse_one(4);
  attention_forward(both, starts_both.data(), q.data(), k.data(), v.data(), out_both.data(), lse_both.data());
  attention_forward(one, starts_one.data(), q.data(), k.data(), v.data(), out_one.data(), lse_one.data());
  for (size_t i = 0; i < out_one.size(); ++i) EXPECT_DOUBLE_EQ(out_one[i], out_both[i]);
  const std::vector<int32_t> bad = {0, 1, 0, 2, 2};
  EXPECT_THROW(attention_forward(both, bad.data(), q.data(), k.data(), v.data(), out_both.data(), lse_both.data()),
               Error);
}

TEST(TrainGradOps, KlDivergenceWithTemperatureAndMask) {
  std::mt19937 rng(8);
  const int64_t T = 3, V = 11;
  const Vec teacher = random_vec(T * V, rng, 3.0);
  Vec student = random_vec(T * V, rng, 3.0);
  const std::vector<uint8_t> mask = {1, 0, 1};
  const double temp = 2.0, scale = 0.7;
  const auto loss = [&] {
    Vec scratch(student.size());
    return scale * kl_divergence_loss(teacher.data(), student.data(), mask.data(), T, V, temp, 0.0, scratch.data());
  };
  Vec grad(student.size());
  const double value = kl_divergence_loss(teacher.data(), student.data(), mask.data(), T, V, temp, scale, grad.data());
  EXPECT_GT(value, 0.0);
  EXPECT_LT(rel_error(grad, numeric_grad(student, loss)), kTolerance);
  // Identical distributions give zero loss.
  Vec same = teacher, zero(teacher.size());
  EXPECT_NEAR(kl_divergence_loss(teacher.data(), same.data(), nullptr, T, V, temp, 1.0, zero.data()), 0.0, 1e-12);
}

TEST(TrainGradOps, MseGradient) {
  std::mt19937 rng(9);
  Vec a = random_vec(13, rng);
  const Vec b = random_vec(13, rng);
  const auto loss = [&] { return 1.5 * mse_loss(a.data(), b.data(), 13, 0.0, static_cast<double*>(nullptr)); };
  Vec grad(13);
  mse_loss(a.data(), b.data(), 13, 1.5, grad.data());
  EXPECT_LT(rel_error(grad, numeric_grad(a, loss)), kTolerance);
}

TEST(TrainGemm, FastMatchesReferenceOddSizes) {
  std::mt19937 rng(10);
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      for (const auto& [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 13, 5}, {33, 65, 129}}) {
        const GemmShape shape{ta, tb, M, N, K};
        const auto A = testing::random_floats(static_cast<size_t>(M * K), rng, 1.0f);
        const auto B = testing::random_floats(static_cast<size_t>(K * N), rng, 1.0f);
        auto fast = testing::random_floats(static_cast<size_t>(M * N), rng, 1.0f);
        auto ref = fast;
        gemm<float>(shape, 0.5f, A.data(), B.data(), 2.0f, fast.data());
        gemm_ref<float>(shape, 0.5f, A.data(), ta ? M : K, B.data(), tb ? K : N, 2.0f, ref.data(), N);
        EXPECT_LT(testing::relative_error(fast, ref), 1e-6) << "ta=" << ta << " tb=" << tb << " M=" << M;
      }
    }
  }
}

}  // namespace
}  // namespace swiftkv
