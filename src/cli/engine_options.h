// Options shared by the commands that generate text: sampling, and for the
// serving engine (serve, batch, gen-data) the scheduler's limits and the
// paged KV cache.
#pragma once

#include <CLI/CLI.hpp>

#include "engine/llm_engine.h"
#include "engine/sampler.h"

namespace swiftkv {

// Registers --max-num-seqs (described by `max_num_seqs_help`) and
// --max-num-batched-tokens.
void add_scheduler_options(CLI::App& command, SchedulerConfig& scheduler, const std::string& max_num_seqs_help);

// Throws Error when `output` names the same file as `input`, since opening
// the output would erase the input before it is read.
void check_output_is_not_input(const std::string& input, const std::string& output);

// Registers --temperature (described by `temperature_help`), --top-k,
// --top-p and --min-p.
void add_temperature_options(CLI::App& command, SamplingParams& sampling, const std::string& temperature_help);

// Registers --block-size, --kv-cache-memory, --num-gpu-blocks-override and
// --enable-prefix-caching / --no-enable-prefix-caching.
void add_cache_options(CLI::App& command, CacheConfig& cache);

}  // namespace swiftkv
