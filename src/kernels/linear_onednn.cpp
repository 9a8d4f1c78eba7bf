#include "kernels/linear_onednn.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/linear_kernels.h"

namespace swiftkv {
namespace {

using dnnl::memory;
using DataType = memory::data_type;
using FormatTag = memory::format_tag;

dnnl::cpu_isa onednn_isa(CpuLevel level) {
  switch (level) {
    case CpuLevel::kAmx: return dnnl::cpu_isa::avx512_core_amx;
    case CpuLevel::kAvx512: return dnnl::cpu_isa::avx512_core_bf16;
    case CpuLevel::kAvx2: return dnnl::cpu_isa::avx2;
    case CpuLevel::kScalar: return dnnl::cpu_isa::sse41;
  }
  return dnnl::cpu_isa::sse41;
}

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Threads share the primitives but each runs them on its own stream.
dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

}  // namespace

void init_onednn_isa(CpuLevel level) {
  static std::once_flag once;
  std::call_once(once, [level] {
    try {
      dnnl::set_max_cpu_isa(onednn_isa(level));
      SKV_LOG_DEBUG("linear", "oneDNN maximum ISA set for CPU level %s", cpu_level_name(level));
    } catch (const dnnl::error& e) {
      // Happens when oneDNN was used before this call (or DNNL_MAX_CPU_ISA is set).
      SKV_LOG_WARN("linear", "could not set the oneDNN maximum ISA for level %s: %s", cpu_level_name(level),
                   e.what());
    }
  });
}

bool onednn_bf16_supported(CpuLevel level) {
  return static_cast<int>(level) >= static_cast<int>(CpuLevel::kAvx512);
}

OnednnBf16Matmul::OnednnBf16Matmul(const uint16_t* W, const float* bias, int64_t N, int64_t K,
                                   CpuLevel level)
    : N_(N), K_(K), has_bias_(bias != nullptr) {
  SKV_ASSERT(onednn_bf16_supported(level));
  init_onednn_isa(level);
  const dnnl::engine& engine = cpu_engine();

  // W[N, K] row-major is W^T[K, N] in the "ba" layout. Let oneDNN choose the
  // weight layout for the largest bucket and reorder once; the smaller buckets
  // are created with that same layout.
  const memory::desc any_md({K, N}, DataType::bf16, FormatTag::any);
  weights_md_ = make_desc(kMaxRows, any_md).weights_desc();
  memory plain({{K, N}, DataType::bf16, FormatTag::ba}, engine, const_cast<uint16_t*>(W));
  weights_ = memory(weights_md_, engine);
  dnnl::reorder(plain, weights_).execute(thread_stream(), plain, weights_);
  thread_stream().wait();

  if (has_bias_) {
    bias_ = memory({{1, N}, DataType::f32, FormatTag::ab}, engine);
    std::memcpy(bias_.get_data_handle(), bias, N * sizeof(float));
  }
}

dnnl::matmul::primitive_desc OnednnBf16Matmul::make_desc(int64_t rows, const memory::desc& weights_md) const {
  const memory::desc src_md({rows, K_}, DataType::bf16, FormatTag::ab);
  const memory::desc dst_md({rows, N_}, DataType::f32, FormatTag::ab);
  if (has_bias_) {
    const memory::desc bias_md({1, N_}, DataType::f32, FormatTag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, weights_md, bias_md, dst_md), cpu_engine());
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, weights_md, dst_md), cpu_engine());
}

const dnnl::matmul& OnednnBf16Matmul::primitive_for(int64_t rows) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = primitives_.find(rows);
  if (it == primitives_.end()) {
    const dnnl::matmul::primitive_desc desc = make_desc(rows, weights_md_);
    SKV_LOG_DEBUG("linear", "oneDNN matmul [%lld x %lld] x [%lld x %lld]: %s", static_cast<long long>(rows),
                  static_cast<long long>(K_), static_cast<long long>(K_), static_cast<long long>(N_),
                  desc.impl_info_str());
    it = primitives_.emplace(rows, dnnl::matmul(desc)).first;
  }
  return it->second;
}

void OnednnBf16Matmul::forward(const uint16_t* x, int64_t T, float* out) const {
  const dnnl::engine& engine = cpu_engine();
  dnnl::stream& stream = thread_stream();
  thread_local std::vector<float> padded_out;

  for (int64_t t0 = 0; t0 < T; t0 += kMaxRows) {
    const int64_t rows = T - t0 < kMaxRows ? T - t0 : kMaxRows;
    const int64_t bucket = rows_padded(rows);
    const dnnl::matmul& matmul = primitive_for(bucket);

    // Padded rows are computed into a scratch buffer and dropped.
    float* dst_data = out + t0 * N_;
    if (bucket != rows) {
      padded_out.resize(bucket * N_);
      dst_data = padded_out.data();
    }
    const memory src({{bucket, K_}, DataType::bf16, FormatTag::ab}, engine,
                     const_cast<uint16_t*>(x + t0 * K_));
    const memory dst({{bucket, N_}, DataType::f32, FormatTag::ab}, engine, dst_data);
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
    if (has_bias_) args.emplace(DNNL_ARG_BIAS, bias_);
    matmul.execute(stream, args);
    stream.wait();

    if (bucket != rows) std::memcpy(out + t0 * N_, padded_out.data(), rows * N_ * sizeof(float));
  }
}

void OnednnBf16Matmul::forward_f32(const float* x, int64_t T, float* out) const {
  // Rows past T stay zero: the primitive computes whole buckets of rows.
  thread_local std::vector<uint16_t> x_bf16;
  const int64_t rows = rows_padded(T);
  x_bf16.resize(rows * K_);
  std::fill(x_bf16.begin() + T * K_, x_bf16.begin() + rows * K_, 0);
  uint16_t* dst = x_bf16.data();
#pragma omp parallel for schedule(static) if (T * K_ >= (int64_t{1} << 16))
  for (int64_t t = 0; t < T; ++t) f32_to_bf16_avx512(x + t * K_, K_, dst + t * K_);
  forward(x_bf16.data(), T, out);
}

std::unique_ptr<OnednnBf16Matmul> make_prompt_copy(const LinearWeight& layer, const float* bias, CpuLevel level) {
  if (!onednn_bf16_supported(level)) return nullptr;
  const int64_t N = layer.out_features(), K = layer.in_features();
  std::vector<float> values(N * K);
  layer.unpack_weights(values.data());
  std::vector<uint16_t> plain(N * K);
  for (int64_t i = 0; i < N * K; ++i) plain[i] = f32_to_bf16(values[i]);
  return std::make_unique<OnednnBf16Matmul>(plain.data(), bias, N, K, level);
}

}  // namespace swiftkv
