#include "kernels/linear_bench.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/linear_kernels.h"
#include "kernels/linear_onednn.h"

namespace swiftkv {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs `body` once to warm up, then repeatedly for at least `min_seconds`,
// and returns the fastest call in seconds.
template <typename Body>
double best_seconds(Body&& body, double min_seconds = 0.5) {
  body();
  double best = 1e30;
  const double start = now_seconds();
  int calls = 0;
  while (calls < 3 || now_seconds() - start < min_seconds) {
    const double t0 = now_seconds();
    body();
    best = std::min(best, now_seconds() - t0);
    ++calls;
  }
  return best;
}

std::vector<float> random_floats(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

}  // namespace

double measure_bf16_matmul_ceiling_flops(int64_t size) {
  const CpuLevel level = active_cpu_level();
  if (!onednn_bf16_supported(level)) return 0.0;

  const std::vector<float> values = random_floats(size * size, /*seed=*/1);
  std::vector<uint16_t> bf16(values.size());
  for (size_t i = 0; i < values.size(); ++i) bf16[i] = f32_to_bf16(values[i]);
  std::vector<float> out(size * size);

  // Weights and activations share one random matrix: values do not change the speed.
  const OnednnBf16Matmul matmul(bf16.data(), /*bias=*/nullptr, size, size, level);
  std::vector<uint16_t> x(OnednnBf16Matmul::rows_padded(size) * size, 0);
  std::copy(bf16.begin(), bf16.end(), x.begin());
  const double seconds = best_seconds([&] { matmul.forward(x.data(), size, out.data()); });
  return 2.0 * size * size * size / seconds;
}

double measure_memory_read_bandwidth() {
  const int64_t bytes = int64_t{256} << 20;
  std::vector<uint64_t> buffer(bytes / sizeof(uint64_t));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < static_cast<int64_t>(buffer.size()); ++i) buffer[i] = static_cast<uint64_t>(i);
  const bool avx512 = static_cast<int>(active_cpu_level()) >= static_cast<int>(CpuLevel::kAvx512);

  uint64_t checksum = 0;
  const double seconds = best_seconds([&] {
    uint64_t total = 0;
#pragma omp parallel reduction(^ : total)
    {
      // One contiguous chunk per thread, a multiple of 256 bytes.
      const int64_t threads = omp_get_num_threads();
      const int64_t chunk = bytes / threads / 256 * 256;
      const int64_t begin = omp_get_thread_num() * chunk;
      const auto* data = reinterpret_cast<const uint8_t*>(buffer.data()) + begin;
      if (avx512) {
        total ^= xor_lines_avx512(data, chunk);
      } else {
        const auto* words = reinterpret_cast<const uint64_t*>(data);
        for (int64_t i = 0; i < chunk / 8; i += 4) total ^= words[i] ^ words[i + 1] ^ words[i + 2] ^ words[i + 3];
      }
    }
    checksum += total;
  });
  // The checksum keeps the compiler from dropping the loads.
  if (checksum == 1) return 0.0;
  const int64_t threads = omp_get_max_threads();
  return static_cast<double>(bytes / threads / 256 * 256 * threads) / seconds;
}

double measure_linear_seconds(const LinearWeight& layer, int64_t T) {
  const std::vector<float> x = random_floats(T * layer.in_features(), /*seed=*/2);
  std::vector<float> out(T * layer.out_features());
  return best_seconds([&] { layer.forward(x.data(), T, out.data()); }, /*min_seconds=*/0.3);
}

}  // namespace swiftkv
