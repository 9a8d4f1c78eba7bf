#include "train/student.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "kernels/ops_ref.h"
#include "model/model.h"
#include "train/gemm.h"
#include "train/grad_ops.h"

namespace swiftkv {

namespace {

using Buffer = std::vector<float>;

int64_t rows_of(const Weight& w) { return w.shape[0]; }
int64_t cols_of(const Weight& w) { return w.shape[1]; }

// y[T, N] = x[T, K] W[N, K]^T + bias.
Buffer linear(const float* x, const Weight& W, const Weight& bias, int64_t T) {
  Buffer y(static_cast<size_t>(T * rows_of(W)));
  linear_forward(x, W.data(), bias.data(), T, rows_of(W), cols_of(W), y.data());
  return y;
}

// dx[T, K] = dy[T, N] W[N, K], added to dx when `accumulate`.
void linear_input_grad(const float* dy, const Weight& W, int64_t T, float* dx, bool accumulate) {
  linear_backward_input(dy, W.data(), T, rows_of(W), cols_of(W), dx, accumulate);
}

void add_to(Buffer& a, const Buffer& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
}

}  // namespace

struct DistillStudent::TeacherOutputs {
  Buffer h_k;     // residual stream entering layer K
  Buffer h_last;  // residual stream entering layer L-1
  Buffer logits;  // [T, V]
};

// Activations of one student layer kept for its backward pass.
struct StudentLayerState {
  Buffer h_in, inv_rms_in, x, q, attn, lse, h_mid, inv_rms_mid, gate, up;
};

struct DistillStudent::StudentState {
  const Buffer* h_k = nullptr;         // the teacher's h_K
  Buffer s, inv_rms_s;                 // norm_swiftkv(h_K)
  std::map<int64_t, Buffer> k, v;      // per group leader; k rotated
  std::vector<StudentLayerState> layers;  // layers K..L-1
  Buffer h_final, inv_rms_final;
  Buffer logits;       // [T, V]; contains d(loss)/d(logits) after compute_loss
  Buffer d_h_last;     // MSE gradient for the hidden state entering layer L-1
};

DistillStudent::DistillStudent(const ModelConfig& config, ModelWeights& weights)
    : config_(config), weights_(weights) {
  if (!config.swiftkv) {
    fail("distillation needs a SwiftKV checkpoint (model_type %s is not one); create one with "
         "`swiftkv convert --swiftkv --num-key-value-layers K`",
         config.model_type.c_str());
  }
  inv_freq_ = rope_inv_freq(config.head_dim, config.rope_theta, rope_scaling_params(config));
  add_param("model.norm_swiftkv.weight", weights_.norm_swiftkv);
  for (int64_t i = config.num_key_value_layers; i < config.num_hidden_layers; ++i) {
    LayerWeights& lw = weights_.layers[static_cast<size_t>(i)];
    const std::string prefix = strprintf("model.layers.%lld.self_attn.", static_cast<long long>(i));
    add_param(prefix + "q_proj_swiftkv.weight", lw.q_proj_swiftkv);
    if (!lw.q_bias_swiftkv.empty()) add_param(prefix + "q_proj_swiftkv.bias", lw.q_bias_swiftkv);
    if (swiftkv_leader(config, i) != i) continue;
    add_param(prefix + "k_proj_swiftkv.weight", lw.k_proj_swiftkv);
    if (!lw.k_bias_swiftkv.empty()) add_param(prefix + "k_proj_swiftkv.bias", lw.k_bias_swiftkv);
    add_param(prefix + "v_proj_swiftkv.weight", lw.v_proj_swiftkv);
    if (!lw.v_bias_swiftkv.empty()) add_param(prefix + "v_proj_swiftkv.bias", lw.v_bias_swiftkv);
  }
}

void DistillStudent::add_param(const std::string& name, Weight& weight) {
  SKV_ASSERT(!weight.empty());
  params_.push_back(TrainableParam{name, &weight, Buffer(weight.values.size(), 0.0f)});
}

std::vector<float>& DistillStudent::grad_of(const Weight& weight) {
  for (TrainableParam& p : params_) {
    if (p.weight == &weight) return p.grad;
  }
  fail("internal error: a SwiftKV tensor has no gradient buffer");
}

void DistillStudent::zero_grad() {
  for (TrainableParam& p : params_) std::fill(p.grad.begin(), p.grad.end(), 0.0f);
}

namespace {

struct Dims {
  int64_t T, D, H, HKV, DH, F, V;
};

Dims dims_of(const ModelConfig& c, int64_t T) {
  return {T, c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.intermediate_size,
          c.vocab_size};
}

Buffer embed(const ModelWeights& w, const PackedBatch& batch, const Dims& d) {
  Buffer h(static_cast<size_t>(d.T * d.D));
  for (int64_t t = 0; t < d.T; ++t) {
    const int32_t id = batch.tokens[static_cast<size_t>(t)];
    if (id < 0 || id >= d.V) {
      fail("token id %d at row %lld is outside the vocabulary [0, %lld)", id, static_cast<long long>(t),
           static_cast<long long>(d.V));
    }
    std::copy_n(w.embed_tokens.values.begin() + id * d.D, d.D, h.begin() + t * d.D);
  }
  return h;
}

// h += mlp(rmsnorm(h, post_attention_layernorm)); saves into `state` when given.
void mlp_block(const LayerWeights& lw, const Dims& d, float eps, Buffer& h, StudentLayerState* state) {
  Buffer y(h.size()), inv_rms(static_cast<size_t>(d.T));
  rmsnorm_forward(h.data(), lw.post_attn_norm.data(), d.T, d.D, eps, y.data(), inv_rms.data());
  Buffer gate = linear(y.data(), lw.gate_proj, Weight{}, d.T);
  Buffer up = linear(y.data(), lw.up_proj, Weight{}, d.T);
  Buffer m(gate.size());
  silu_mul_forward(gate.data(), up.data(), static_cast<int64_t>(m.size()), m.data());
  if (state != nullptr) {
    state->h_mid = h;
    state->inv_rms_mid = std::move(inv_rms);
    state->gate = std::move(gate);
    state->up = std::move(up);
  }
  gemm<float>({false, true, d.T, d.D, d.F}, 1.0f, m.data(), lw.down_proj.data(), 1.0f, h.data());
}

}  // namespace

DistillStudent::TeacherOutputs DistillStudent::run_teacher(const PackedBatch& batch) const {
  const Dims d = dims_of(config_, batch.rows());
  const float eps = config_.rms_norm_eps;
  const AttentionShape shape{d.T, d.H, d.HKV, d.DH};
  TeacherOutputs out;
  Buffer h = embed(weights_, batch, d);
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    if (i == config_.num_key_value_layers) out.h_k = h;
    if (i == config_.num_hidden_layers - 1) out.h_last = h;
    const LayerWeights& lw = weights_.layers[static_cast<size_t>(i)];
    Buffer x(h.size()), inv_rms(static_cast<size_t>(d.T));
    rmsnorm_forward(h.data(), lw.input_norm.data(), d.T, d.D, eps, x.data(), inv_rms.data());
    Buffer q = linear(x.data(), lw.q_proj, lw.q_bias, d.T);
    Buffer k = linear(x.data(), lw.k_proj, lw.k_bias, d.T);
    Buffer v = linear(x.data(), lw.v_proj, lw.v_bias, d.T);
    rope_rotate(q.data(), batch.positions.data(), d.T, d.H, d.DH, inv_freq_, false);
    rope_rotate(k.data(), batch.positions.data(), d.T, d.HKV, d.DH, inv_freq_, false);
    Buffer attn(q.size()), lse(static_cast<size_t>(d.T * d.H));
    attention_forward(shape, batch.seq_start.data(), q.data(), k.data(), v.data(), attn.data(), lse.data());
    gemm<float>({false, true, d.T, d.D, d.H * d.DH}, 1.0f, attn.data(), lw.o_proj.data(), 1.0f, h.data());
    mlp_block(lw, d, eps, h, nullptr);
  }
  Buffer normed(h.size()), inv_rms(static_cast<size_t>(d.T));
  rmsnorm_forward(h.data(), weights_.final_norm.data(), d.T, d.D, eps, normed.data(), inv_rms.data());
  out.logits = linear(normed.data(), weights_.output_weight(), Weight{}, d.T);
  return out;
}

void DistillStudent::run_student(const PackedBatch& batch, const TeacherOutputs& teacher,
                                 StudentState& state) const {
  const Dims d = dims_of(config_, batch.rows());
  const float eps = config_.rms_norm_eps;
  const AttentionShape shape{d.T, d.H, d.HKV, d.DH};
  const int64_t K = config_.num_key_value_layers, L = config_.num_hidden_layers;
  state.s.resize(teacher.h_k.size());
  state.inv_rms_s.resize(static_cast<size_t>(d.T));
  rmsnorm_forward(teacher.h_k.data(), weights_.norm_swiftkv.data(), d.T, d.D, eps, state.s.data(),
                  state.inv_rms_s.data());
  state.h_k = &teacher.h_k;
  Buffer h = teacher.h_k;
  state.layers.resize(static_cast<size_t>(L - K));
  for (int64_t i = K; i < L; ++i) {
    const LayerWeights& lw = weights_.layers[static_cast<size_t>(i)];
    const int64_t leader = swiftkv_leader(config_, i);
    if (leader == i) {
      state.k[i] = linear(state.s.data(), lw.k_proj_swiftkv, lw.k_bias_swiftkv, d.T);
      state.v[i] = linear(state.s.data(), lw.v_proj_swiftkv, lw.v_bias_swiftkv, d.T);
      rope_rotate(state.k[i].data(), batch.positions.data(), d.T, d.HKV, d.DH, inv_freq_, false);
    }
    StudentLayerState& ls = state.layers[static_cast<size_t>(i - K)];
    ls.h_in = h;
    ls.x.resize(h.size());
    ls.inv_rms_in.resize(static_cast<size_t>(d.T));
    rmsnorm_forward(h.data(), lw.input_norm.data(), d.T, d.D, eps, ls.x.data(), ls.inv_rms_in.data());
    ls.q = linear(ls.x.data(), lw.q_proj_swiftkv, lw.q_bias_swiftkv, d.T);
    rope_rotate(ls.q.data(), batch.positions.data(), d.T, d.H, d.DH, inv_freq_, false);
    ls.attn.resize(ls.q.size());
    ls.lse.resize(static_cast<size_t>(d.T * d.H));
    attention_forward(shape, batch.seq_start.data(), ls.q.data(), state.k[leader].data(), state.v[leader].data(),
                      ls.attn.data(), ls.lse.data());
    gemm<float>({false, true, d.T, d.D, d.H * d.DH}, 1.0f, ls.attn.data(), lw.o_proj.data(), 1.0f, h.data());
    mlp_block(lw, d, eps, h, &ls);
  }
  state.h_final = h;
  Buffer normed(h.size());
  state.inv_rms_final.resize(static_cast<size_t>(d.T));
  rmsnorm_forward(h.data(), weights_.final_norm.data(), d.T, d.D, eps, normed.data(), state.inv_rms_final.data());
  state.logits = linear(normed.data(), weights_.output_weight(), Weight{}, d.T);
}

LossParts DistillStudent::compute_loss(const PackedBatch& batch, const DistillLossConfig& loss,
                                       const TeacherOutputs& teacher, StudentState& state, float grad_scale) const {
  const Dims d = dims_of(config_, batch.rows());
  LossParts parts;
  parts.rows = d.T;
  const uint8_t* mask = loss.mask_inputs ? batch.loss_mask.data() : nullptr;
  const double kl_sum = kl_divergence_loss(teacher.logits.data(), state.logits.data(), mask, d.T, d.V,
                                           loss.temperature, grad_scale / static_cast<float>(d.T),
                                           state.logits.data());
  parts.kl = kl_sum / static_cast<double>(d.T);
  state.d_h_last.resize(teacher.h_last.size());
  parts.mse = mse_loss(state.layers.back().h_in.data(), teacher.h_last.data(), d.T * d.D,
                       grad_scale * loss.hidden_loss_mult, state.d_h_last.data());
  parts.total = parts.kl + loss.hidden_loss_mult * parts.mse;
  return parts;
}

// Gradients of the shared SwiftKV keys and values, per group leader.
struct DistillStudent::KVGrads {
  std::map<int64_t, Buffer> dk, dv;
};

void DistillStudent::backward(const PackedBatch& batch, StudentState& state) {
  const Dims d = dims_of(config_, batch.rows());
  const int64_t K = config_.num_key_value_layers, L = config_.num_hidden_layers;
  // The LM head and the final norm are frozen, so only input gradients flow.
  Buffer dnormed(static_cast<size_t>(d.T * d.D));
  linear_input_grad(state.logits.data(), weights_.output_weight(), d.T, dnormed.data(), false);
  state.logits = Buffer();
  Buffer dh(dnormed.size());
  rmsnorm_backward(state.h_final.data(), weights_.final_norm.data(), state.inv_rms_final.data(), dnormed.data(),
                   d.T, d.D, dh.data(), static_cast<float*>(nullptr));
  KVGrads kv_grads;
  for (const auto& [leader, k] : state.k) {
    kv_grads.dk[leader].assign(k.size(), 0.0f);
    kv_grads.dv[leader].assign(k.size(), 0.0f);
  }
  for (int64_t i = L - 1; i >= K; --i) {
    backward_mlp(i, batch, state, dh);
    backward_attention(i, batch, state, kv_grads, dh);
    if (i == L - 1) add_to(dh, state.d_h_last);
    state.layers[static_cast<size_t>(i - K)] = StudentLayerState();
  }
  backward_swiftkv_kv(batch, state, kv_grads);
}

// Turns dh = d(loss)/d(h_out) into d(loss)/d(h_mid), where
// h_out = h_mid + down(silu(gate(y)) * up(y)) and y = rmsnorm(h_mid).
void DistillStudent::backward_mlp(int64_t layer, const PackedBatch& batch, StudentState& state, Buffer& dh) const {
  const Dims d = dims_of(config_, batch.rows());
  const LayerWeights& lw = weights_.layers[static_cast<size_t>(layer)];
  const StudentLayerState& ls = state.layers[static_cast<size_t>(layer - config_.num_key_value_layers)];
  Buffer dm(static_cast<size_t>(d.T * d.F)), dgate(dm.size()), dup(dm.size()), dy(dh.size()), dres(dh.size());
  linear_input_grad(dh.data(), lw.down_proj, d.T, dm.data(), false);
  silu_mul_backward(ls.gate.data(), ls.up.data(), dm.data(), static_cast<int64_t>(dm.size()), dgate.data(),
                    dup.data());
  linear_input_grad(dgate.data(), lw.gate_proj, d.T, dy.data(), false);
  linear_input_grad(dup.data(), lw.up_proj, d.T, dy.data(), true);
  rmsnorm_backward(ls.h_mid.data(), lw.post_attn_norm.data(), ls.inv_rms_mid.data(), dy.data(), d.T, d.D,
                   dres.data(), static_cast<float*>(nullptr));
  add_to(dh, dres);
}

// Turns dh = d(loss)/d(h_mid) into d(loss)/d(h_in), where h_mid = h_in +
// o_proj(attention(q, k_leader, v_leader)); adds the q_proj_swiftkv
// gradients and the leader's K/V gradients.
void DistillStudent::backward_attention(int64_t layer, const PackedBatch& batch, StudentState& state,
                                        KVGrads& kv_grads, Buffer& dh) {
  const Dims d = dims_of(config_, batch.rows());
  const AttentionShape shape{d.T, d.H, d.HKV, d.DH};
  const LayerWeights& lw = weights_.layers[static_cast<size_t>(layer)];
  const StudentLayerState& ls = state.layers[static_cast<size_t>(layer - config_.num_key_value_layers)];
  const int64_t leader = swiftkv_leader(config_, layer);
  Buffer da(static_cast<size_t>(d.T * d.H * d.DH)), dq(da.size()), dx(dh.size()), dres(dh.size());
  linear_input_grad(dh.data(), lw.o_proj, d.T, da.data(), false);
  attention_backward(shape, batch.seq_start.data(), ls.q.data(), state.k[leader].data(), state.v[leader].data(),
                     ls.attn.data(), ls.lse.data(), da.data(), dq.data(), kv_grads.dk[leader].data(),
                     kv_grads.dv[leader].data());
  rope_rotate(dq.data(), batch.positions.data(), d.T, d.H, d.DH, inv_freq_, true);
  linear_backward_weight(dq.data(), ls.x.data(), d.T, d.H * d.DH, d.D, grad_of(lw.q_proj_swiftkv).data(),
                         lw.q_bias_swiftkv.empty() ? nullptr : grad_of(lw.q_bias_swiftkv).data());
  linear_input_grad(dq.data(), lw.q_proj_swiftkv, d.T, dx.data(), false);
  rmsnorm_backward(ls.h_in.data(), lw.input_norm.data(), ls.inv_rms_in.data(), dx.data(), d.T, d.D, dres.data(),
                   static_cast<float*>(nullptr));
  add_to(dh, dres);
}

// The SwiftKV fan-out: every leader's k/v come from s = norm_swiftkv(h_K).
// h_K comes from the frozen layers, so norm_swiftkv gets a weight gradient only.
void DistillStudent::backward_swiftkv_kv(const PackedBatch& batch, StudentState& state, KVGrads& kv_grads) {
  const Dims d = dims_of(config_, batch.rows());
  const int64_t N = d.HKV * d.DH;
  Buffer ds(static_cast<size_t>(d.T * d.D), 0.0f);
  for (auto& [leader, dk] : kv_grads.dk) {
    const LayerWeights& lw = weights_.layers[static_cast<size_t>(leader)];
    Buffer& dv = kv_grads.dv[leader];
    rope_rotate(dk.data(), batch.positions.data(), d.T, d.HKV, d.DH, inv_freq_, true);
    linear_backward_weight(dk.data(), state.s.data(), d.T, N, d.D, grad_of(lw.k_proj_swiftkv).data(),
                           lw.k_bias_swiftkv.empty() ? nullptr : grad_of(lw.k_bias_swiftkv).data());
    linear_backward_weight(dv.data(), state.s.data(), d.T, N, d.D, grad_of(lw.v_proj_swiftkv).data(),
                           lw.v_bias_swiftkv.empty() ? nullptr : grad_of(lw.v_bias_swiftkv).data());
    linear_input_grad(dk.data(), lw.k_proj_swiftkv, d.T, ds.data(), true);
    linear_input_grad(dv.data(), lw.v_proj_swiftkv, d.T, ds.data(), true);
  }
  rmsnorm_backward(state.h_k->data(), weights_.norm_swiftkv.data(), state.inv_rms_s.data(), ds.data(), d.T, d.D,
                   static_cast<float*>(nullptr), grad_of(weights_.norm_swiftkv).data());
}

namespace {

int64_t buffer_bytes(const std::vector<float>& b) { return static_cast<int64_t>(b.size() * sizeof(float)); }

}  // namespace

LossParts DistillStudent::forward_backward(const PackedBatch& batch, const DistillLossConfig& loss,
                                           float grad_scale) {
  if (batch.rows() == 0) fail("distillation micro-batch has no tokens");
  const TeacherOutputs teacher = run_teacher(batch);
  StudentState state;
  run_student(batch, teacher, state);
  const LossParts parts = compute_loss(batch, loss, teacher, state, grad_scale);
  activation_bytes_ = buffer_bytes(teacher.h_k) + buffer_bytes(teacher.h_last) + buffer_bytes(teacher.logits) +
                      buffer_bytes(state.s) + buffer_bytes(state.h_final) + buffer_bytes(state.logits);
  for (const auto& [leader, k] : state.k) activation_bytes_ += 2 * buffer_bytes(k);
  for (const StudentLayerState& ls : state.layers) {
    for (const Buffer* b : {&ls.h_in, &ls.x, &ls.q, &ls.attn, &ls.lse, &ls.h_mid, &ls.gate, &ls.up}) {
      activation_bytes_ += buffer_bytes(*b);
    }
  }
  if (!std::isfinite(parts.total)) return parts;  // the caller reports it; no gradient is added
  backward(batch, state);
  return parts;
}

LossParts DistillStudent::loss(const PackedBatch& batch, const DistillLossConfig& loss_config) {
  if (batch.rows() == 0) fail("distillation micro-batch has no tokens");
  const TeacherOutputs teacher = run_teacher(batch);
  StudentState state;
  run_student(batch, teacher, state);
  return compute_loss(batch, loss_config, teacher, state, 0.0f);
}

}  // namespace swiftkv
