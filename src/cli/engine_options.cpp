#include "cli/engine_options.h"

#include <climits>
#include <filesystem>

#include "core/error.h"

namespace swiftkv {

void check_output_is_not_input(const std::string& input, const std::string& output) {
  std::error_code error;
  if (input == output || std::filesystem::equivalent(input, output, error)) {
    fail("the output file '%s' is the input file; choose another output path", output.c_str());
  }
}

void add_temperature_options(CLI::App& command, SamplingParams& sampling, const std::string& temperature_help) {
  command.add_option("--temperature,--temp", sampling.temperature, temperature_help)->capture_default_str();
  command.add_option("--top-k", sampling.top_k, "Sample among the k most likely tokens; 0 disables")
      ->capture_default_str();
  command.add_option("--top-p", sampling.top_p, "Nucleus sampling: smallest token set with this probability mass, in (0, 1]")
      ->capture_default_str();
  command.add_option("--min-p", sampling.min_p,
                     "Drop tokens whose probability is below min-p times the top token's, in [0, 1]")
      ->capture_default_str();
}

void add_scheduler_options(CLI::App& command, SchedulerConfig& scheduler, const std::string& max_num_seqs_help) {
  command.add_option("--max-num-seqs", scheduler.max_num_seqs, max_num_seqs_help)
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 30));
  command.add_option("--max-num-batched-tokens", scheduler.max_num_batched_tokens,
                     "Token rows per forward pass; longer prompts are prefilled in chunks of this size")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 30));
}

void add_cache_options(CLI::App& command, CacheConfig& cache) {
  command.add_option("--block-size", cache.block_size, "Tokens per KV cache block")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  command.add_option("--kv-cache-memory", cache.kv_cache_memory,
                     "KV cache size: GiB when 1 or more (e.g. 2), else a fraction of the RAM (e.g. 0.25)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command.add_option("--num-gpu-blocks-override", cache.num_blocks,
                     "Number of KV cache blocks, replacing the --kv-cache-memory budget (vLLM's name; the "
                     "blocks are in RAM here)")
      ->check(CLI::Range(int64_t{1}, int64_t{INT32_MAX}));
  command.add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", cache.enable_prefix_caching,
                   "Reuse the KV cache blocks of prompt prefixes seen before (on by default)");
}

}  // namespace swiftkv
