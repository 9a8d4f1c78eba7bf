// Prefill and decode speed measurements of a Model, with the machine ceilings
// (bf16 matmul FLOP/s, memory read bandwidth) measured in the same run so
// utilisation compares against this machine rather than a datasheet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/linear.h"
#include "model/model.h"

namespace swiftkv {

struct MachineCeilings {
  int64_t matmul_size = 0;               // M = N = K of the bf16 matmul measured
  double bf16_matmul_flops = 0.0;        // FLOP/s; 0 below the avx512 CPU level
  double memory_read_bytes_per_s = 0.0;  // bytes/s
};

// Measures both ceilings; `matmul_size` is the side of the square bf16 matmul.
MachineCeilings measure_machine_ceilings(int64_t matmul_size);

struct BenchSettings {
  std::vector<int64_t> prompt_lengths = {128, 512, 2048};
  std::vector<int64_t> prefill_batch_sizes = {1, 4};  // sequences in one prefill forward
  std::vector<int64_t> decode_batch_sizes = {1, 4, 16};
  std::vector<int64_t> contexts = {512, 2048};  // cached positions before decoding
  int64_t decode_steps = 8;  // decode steps in one timed run
  int warmup = 1;            // untimed runs before the timed ones, per measurement
  int repeat = 3;            // timed runs; the median is reported
};

// One prefill measurement: `batch` sequences of `prompt_length` tokens in one
// forward, logits for the last token of each.
struct PrefillResult {
  bool swiftkv = false;
  int64_t prompt_length = 0;
  int64_t batch = 0;
  double seconds = 0.0;  // median of the timed runs
  double tokens_per_s = 0.0;
  FlopCount flops;              // counted by one forward
  double flops_per_s = 0.0;     // flops.total() / seconds
  double mfu = 0.0;             // flops_per_s / bf16 matmul ceiling; NaN without a ceiling
};

// One decode measurement: `batch` sequences with `context` cached positions
// each, one new token per sequence per step.
struct DecodeResult {
  bool swiftkv = false;
  int64_t context = 0;
  int64_t batch = 0;
  double step_seconds = 0.0;  // median over timed runs of (run time / steps)
  double tokens_per_s = 0.0;  // batch / step_seconds
  double weight_bytes = 0.0;  // linear weight bytes one step streams
  double kv_bytes = 0.0;      // KV cache bytes one step reads (all sequences)
  double weight_bandwidth_utilisation = 0.0;  // weight_bytes / step_seconds / ceiling
  double total_bandwidth_utilisation = 0.0;   // (weight_bytes + kv_bytes) / step_seconds / ceiling
};

// SwiftKV on against off for one prefill shape.
struct SwiftKVPrefillRatio {
  int64_t prompt_length = 0;
  int64_t batch = 0;
  double on_tokens_per_s = 0.0;
  double off_tokens_per_s = 0.0;
  double speedup = 0.0;          // on / off tokens/s
  double flop_ratio_bound = 0.0; // off / on prefill FLOPs (prefill_flops)
  double share_of_bound = 0.0;   // speedup / flop_ratio_bound
};

// Times prefill for every prompt length and prefill batch size.
std::vector<PrefillResult> bench_prefill(const Model& model, const BenchSettings& settings,
                                         const MachineCeilings& ceilings);

// Times decode for every context and decode batch size. The cache is filled
// by a real prefill of one sequence of `context` tokens whose K/V rows are
// copied to the other sequences, so only `context` prefill tokens are spent.
std::vector<DecodeResult> bench_decode(const Model& model, const BenchSettings& settings,
                                       const MachineCeilings& ceilings);

// Pairs SwiftKV-on and -off prefill results of the same shape.
std::vector<SwiftKVPrefillRatio> swiftkv_prefill_ratios(const ModelConfig& config,
                                                        const std::vector<PrefillResult>& results);

// "model name" of the first processor in /proc/cpuinfo, or "unknown".
std::string cpu_model_name();

// The share of all CPUs' time that was busy over the next `seconds` (from
// /proc/stat), while this process sleeps: other jobs' share of the machine.
// Returns -1 where /proc/stat is unreadable.
double busy_cpu_share(double seconds = 0.3);

}  // namespace swiftkv
