#include "engine/bench.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "kernels/linear_bench.h"
#include "model/flops.h"


namespace swiftkv {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs `run` `warmup` times untimed, then `repeat` times timed; returns the
// median of the timed runs in seconds.
double median_seconds(int warmup, int repeat, const std::function<void()>& run) {
  for (int i = 0; i < warmup; ++i) run();
  std::vector<double> times;
  for (int i = 0; i < std::max(repeat, 1); ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(seconds_since(start));
  }
  std::sort(times.begin(), times.end());
  const size_t mid = times.size() / 2;
  return times.size() % 2 == 1 ? times[mid] : 0.5 * (times[mid - 1] + times[mid]);
}

// Token ids spread over the vocabulary; speed does not depend on which.
int32_t bench_token(const ModelConfig& config, int64_t seq, int64_t pos) {
  return static_cast<int32_t>((seq * 7919 + pos * 104729 + 1) % config.vocab_size);
}

std::vector<BatchRow> prompt_rows(const ModelConfig& config, int64_t batch, int64_t prompt_length) {
  std::vector<BatchRow> rows;
  rows.reserve(static_cast<size_t>(batch * prompt_length));
  for (int64_t seq = 0; seq < batch; ++seq) {
    for (int64_t pos = 0; pos < prompt_length; ++pos) {
      rows.push_back({bench_token(config, seq, pos), static_cast<int32_t>(pos), static_cast<int32_t>(seq),
                      /*need_logits=*/pos == prompt_length - 1});
    }
  }
  return rows;
}

// Copies positions [0, context) of sequence 0 into every other sequence.
void copy_first_sequence(KVCache& cache, int64_t context) {
  const size_t row_bytes = static_cast<size_t>(cache.row_floats()) * sizeof(float);
  for (int64_t seq = 1; seq < cache.num_sequences(); ++seq) {
    for (int64_t slot = 0; slot < cache.num_slots(); ++slot) {
      // Positions of one (sequence, slot) are contiguous in the cache layout,
      // but copying row by row keeps to the public accessors.
      for (int64_t pos = 0; pos < context; ++pos) {
        std::memcpy(cache.key(seq, slot, pos), cache.key(0, slot, pos), row_bytes);
        std::memcpy(cache.value(seq, slot, pos), cache.value(0, slot, pos), row_bytes);
      }
    }
  }
}

}  // namespace

MachineCeilings measure_machine_ceilings(int64_t matmul_size) {
  if (matmul_size < 16) fail("--ceiling-matmul-size %lld is too small; pass 16 or more", static_cast<long long>(matmul_size));
  MachineCeilings ceilings;
  ceilings.matmul_size = matmul_size;
  ceilings.bf16_matmul_flops = measure_bf16_matmul_ceiling_flops(matmul_size);
  if (ceilings.bf16_matmul_flops <= 0.0) {
    SKV_LOG_WARN("bench", "no bf16 matmul runs at CPU level %s, so MFU is left out",
                 cpu_level_name(active_cpu_level()));
  }
  ceilings.memory_read_bytes_per_s = measure_memory_read_bandwidth();
  SKV_LOG_INFO("bench", "ceilings: bf16 matmul %.0f GFLOP/s at %lld, memory read %.1f GB/s",
               ceilings.bf16_matmul_flops / 1e9, static_cast<long long>(matmul_size),
               ceilings.memory_read_bytes_per_s / 1e9);
  return ceilings;
}

std::vector<PrefillResult> bench_prefill(const Model& model, const BenchSettings& settings,
                                         const MachineCeilings& ceilings) {
  std::vector<PrefillResult> results;
  for (int64_t prompt_length : settings.prompt_lengths) {
    for (int64_t batch : settings.prefill_batch_sizes) {
      const std::vector<BatchRow> rows = prompt_rows(model.config(), batch, prompt_length);
      // The same positions are rewritten by every run, so one cache serves all.
      KVCache cache = model.make_cache(batch, prompt_length);

      PrefillResult result;
      result.swiftkv = model.uses_swiftkv();
      result.prompt_length = prompt_length;
      result.batch = batch;
      model.forward(rows, cache, &result.flops);
      result.seconds = median_seconds(settings.warmup, settings.repeat, [&]() { model.forward(rows, cache); });
      result.tokens_per_s = static_cast<double>(batch * prompt_length) / result.seconds;
      result.flops_per_s = result.flops.total() / result.seconds;
      result.mfu = ceilings.bf16_matmul_flops > 0.0 ? result.flops_per_s / ceilings.bf16_matmul_flops
                                                    : std::numeric_limits<double>::quiet_NaN();
      SKV_LOG_INFO("bench", "prefill SwiftKV %s, %lld tokens x %lld: %.1f tokens/s",
                   result.swiftkv ? "on" : "off", static_cast<long long>(prompt_length),
                   static_cast<long long>(batch), result.tokens_per_s);
      results.push_back(result);
    }
  }
  return results;
}

std::vector<DecodeResult> bench_decode(const Model& model, const BenchSettings& settings,
                                       const MachineCeilings& ceilings) {
  const ModelConfig& config = model.config();
  std::vector<DecodeResult> results;
  for (int64_t context : settings.contexts) {
    for (int64_t batch : settings.decode_batch_sizes) {
      KVCache cache = model.make_cache(batch, context + settings.decode_steps);
      model.forward(prompt_rows(config, 1, context), cache);
      copy_first_sequence(cache, context);

      // Each run decodes positions [context, context + steps) again; the
      // values written by earlier runs are overwritten before they are read.
      auto run_steps = [&]() {
        for (int64_t step = 0; step < settings.decode_steps; ++step) {
          std::vector<BatchRow> rows;
          for (int64_t seq = 0; seq < batch; ++seq) {
            const int64_t pos = context + step;
            rows.push_back({bench_token(config, seq, pos), static_cast<int32_t>(pos), static_cast<int32_t>(seq),
                            /*need_logits=*/true});
          }
          model.forward(rows, cache);
        }
      };

      DecodeResult result;
      result.swiftkv = model.uses_swiftkv();
      result.context = context;
      result.batch = batch;
      const double run_seconds = median_seconds(settings.warmup, settings.repeat, run_steps);
      result.step_seconds = run_seconds / static_cast<double>(settings.decode_steps);
      result.tokens_per_s = static_cast<double>(batch) / result.step_seconds;
      const double weight_bytes = static_cast<double>(model.decode_weight_bytes(batch));
      result.weight_bytes = weight_bytes;
      // Step s reads context + s + 1 positions of every slot of every
      // sequence, so the mean over the steps is context + (steps + 1) / 2.
      const double mean_positions = static_cast<double>(context) + 0.5 * static_cast<double>(settings.decode_steps + 1);
      result.kv_bytes = static_cast<double>(cache.bytes_per_token()) * static_cast<double>(batch) * mean_positions;
      const double ceiling = ceilings.memory_read_bytes_per_s;
      result.weight_bandwidth_utilisation = weight_bytes / result.step_seconds / ceiling;
      result.total_bandwidth_utilisation = (weight_bytes + result.kv_bytes) / result.step_seconds / ceiling;
      SKV_LOG_INFO("bench", "decode SwiftKV %s, context %lld x %lld: %.1f tokens/s",
                   result.swiftkv ? "on" : "off", static_cast<long long>(context), static_cast<long long>(batch),
                   result.tokens_per_s);
      results.push_back(result);
    }
  }
  return results;
}

std::vector<SwiftKVPrefillRatio> swiftkv_prefill_ratios(const ModelConfig& config,
                                                        const std::vector<PrefillResult>& results) {
  std::vector<SwiftKVPrefillRatio> ratios;
  for (const PrefillResult& on : results) {
    if (!on.swiftkv) continue;
    for (const PrefillResult& off : results) {
      if (off.swiftkv || off.prompt_length != on.prompt_length || off.batch != on.batch) continue;
      SwiftKVPrefillRatio ratio;
      ratio.prompt_length = on.prompt_length;
      ratio.batch = on.batch;
      ratio.on_tokens_per_s = on.tokens_per_s;
      ratio.off_tokens_per_s = off.tokens_per_s;
      ratio.speedup = on.tokens_per_s / off.tokens_per_s;
      ratio.flop_ratio_bound = prefill_flops(config, false, on.prompt_length).total() /
                               prefill_flops(config, true, on.prompt_length).total();
      ratio.share_of_bound = ratio.speedup / ratio.flop_ratio_bound;
      ratios.push_back(ratio);
    }
  }
  return ratios;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const size_t start = line.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? std::string("unknown") : line.substr(start);
  }
  return "unknown";
}

namespace {

// Busy and total jiffies of all CPUs from the first line of /proc/stat.
bool read_cpu_jiffies(double& busy, double& total) {
  std::ifstream in("/proc/stat");
  std::string label;
  if (!(in >> label) || label != "cpu") return false;
  busy = total = 0.0;
  double value = 0.0;
  // user nice system idle iowait irq softirq steal: idle and iowait are idle.
  for (int field = 0; field < 8 && (in >> value); ++field) {
    total += value;
    if (field != 3 && field != 4) busy += value;
  }
  return total > 0.0;
}

}  // namespace

double busy_cpu_share(double seconds) {
  double busy0 = 0.0, total0 = 0.0, busy1 = 0.0, total1 = 0.0;
  if (!read_cpu_jiffies(busy0, total0)) return -1.0;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  if (!read_cpu_jiffies(busy1, total1) || total1 <= total0) return -1.0;
  return (busy1 - busy0) / (total1 - total0);
}

}  // namespace swiftkv
