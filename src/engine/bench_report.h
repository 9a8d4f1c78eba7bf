// A benchmark run's results and their three outputs: a text table, one JSON
// document and an SVG bar chart of prefill and decode tokens/s.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/bench.h"

namespace swiftkv {

struct BenchReport {
  std::string model_path;
  ModelConfig config;
  std::string weight_format;  // "auto", "f32", "bf16", "int8" or "q4"
  std::string layer_formats;  // Model::layer_format_summary(), e.g. "210 q4, 1 int8"
  std::string cpu_level;      // kernels the model ran ("scalar" for f32)
  std::string cpu_name;       // /proc/cpuinfo model name
  int threads = 0;
  double busy_cpu_share = -1.0;  // busy_cpu_share() before the run, -1 if unknown
  BenchSettings settings;
  MachineCeilings ceilings;
  std::vector<PrefillResult> prefill;
  std::vector<DecodeResult> decode;
  std::vector<SwiftKVPrefillRatio> swiftkv_ratios;
};

// Prints the prefill, SwiftKV ratio and decode tables.
void print_bench_tables(std::FILE* out, const BenchReport& report);

// Returns the whole report as JSON; the keys are listed in docs/benchmarks.md.
nlohmann::json bench_report_json(const BenchReport& report);

// Returns an SVG document with one horizontal bar per prefill and per
// decode measurement (tokens/s), each section scaled to its own maximum.
std::string bench_chart_svg(const BenchReport& report);

}  // namespace swiftkv
