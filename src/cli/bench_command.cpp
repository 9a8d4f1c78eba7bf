// `swiftkv bench`: prefill and decode tokens/s of a checkpoint, with FLOP and
// bandwidth utilisation against ceilings measured in the same run.
#include <omp.h>

#include <fstream>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/log.h"
#include "engine/bench_report.h"
#include "formats/checkpoint.h"

namespace swiftkv {
namespace {

struct BenchCommandOptions {
  std::string model_path;
  std::string tokenizer_path;
  bool prefill = false;
  bool decode = false;
  bool swiftkv_compare = false;
  std::string weights = "auto";
  int threads = 0;
  int64_t ceiling_matmul_size = 2048;
  std::string json_path;
  std::string chart_path;
  BenchSettings settings;
};

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) fail("cannot write '%s'; check that the directory exists and is writable", path.c_str());
}

// SwiftKV modes to measure: on for a SwiftKV checkpoint (and off as well
// with --swiftkv-compare), off for an ordinary one.
std::vector<bool> swiftkv_modes(const BenchCommandOptions& options, const Checkpoint& checkpoint) {
  if (!checkpoint.config.swiftkv) {
    if (options.swiftkv_compare) {
      fail("--swiftkv-compare needs a SwiftKV checkpoint but '%s' has model_type '%s'; create one with "
           "'swiftkv convert IN OUT --swiftkv --num-key-value-layers K'",
           options.model_path.c_str(), checkpoint.config.model_type.c_str());
    }
    return {false};
  }
  if (options.swiftkv_compare) return {true, false};
  return {true};
}

void run_bench(const BenchCommandOptions& options) {
  if (options.threads > 0) omp_set_num_threads(options.threads);
  const bool run_prefill = options.prefill || !options.decode;
  const bool run_decode = options.decode || !options.prefill;
  const WeightFormat format = parse_weight_format(options.weights);

  const Checkpoint checkpoint = load_checkpoint(options.model_path, options.tokenizer_path);
  const std::vector<bool> modes = swiftkv_modes(options, checkpoint);

  BenchReport report;
  report.model_path = options.model_path;
  report.config = checkpoint.config;
  report.weight_format = weight_format_name(format);
  report.cpu_name = cpu_model_name();
  report.threads = omp_get_max_threads();
  // Other processes share the cores the kernels spin on, and OpenMP threads
  // then wait for each other: the figures read low, by up to 100 times.
  report.busy_cpu_share = busy_cpu_share();
  if (report.busy_cpu_share >= 0.2) {
    SKV_LOG_WARN("bench", "other jobs kept %.0f%% of the CPU time busy just before this run; the figures will "
                 "read low, so measure with no other job running", 100.0 * report.busy_cpu_share);
  }
  report.settings = options.settings;
  report.ceilings = measure_machine_ceilings(options.ceiling_matmul_size);

  for (bool use_swiftkv : modes) {
    // One model at a time, so a large checkpoint is never packed twice in memory.
    const std::unique_ptr<Model> model = make_model(checkpoint, use_swiftkv, format);
    report.cpu_level = cpu_level_name(model->cpu_level());
    report.layer_formats = model->layer_format_summary();
    SKV_LOG_INFO("bench", "SwiftKV %s, %s weights on %s kernels", use_swiftkv ? "on" : "off",
                 report.weight_format.c_str(), report.cpu_level.c_str());
    if (run_prefill) {
      for (const PrefillResult& result : bench_prefill(*model, options.settings, report.ceilings)) {
        report.prefill.push_back(result);
      }
    }
    if (run_decode) {
      for (const DecodeResult& result : bench_decode(*model, options.settings, report.ceilings)) {
        report.decode.push_back(result);
      }
    }
  }
  report.swiftkv_ratios = swiftkv_prefill_ratios(checkpoint.config, report.prefill);

  print_bench_tables(stdout, report);
  if (!options.json_path.empty()) write_text_file(options.json_path, bench_report_json(report).dump(2) + "\n");
  if (!options.chart_path.empty()) write_text_file(options.chart_path, bench_chart_svg(report));
}

void add_size_list_option(CLI::App& command, const std::string& name, std::vector<int64_t>& values,
                          const std::string& help) {
  command.add_option(name, values, help)->delimiter(',')->check(CLI::Range(1, 1 << 30))->capture_default_str();
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchCommandOptions>();
  BenchSettings& settings = options->settings;
  CLI::App* command = app.add_subcommand(
      "bench", "Measure prefill and decode tokens/s, FLOP utilisation and memory bandwidth utilisation");
  command->add_option("-m,--model", options->model_path, "Checkpoint: Hugging Face directory, .gguf or .bin")
      ->required();
  command->add_option("--tokenizer", options->tokenizer_path, "llama2.c tokenizer file, for llama2.c input");
  command->add_flag("--prefill", options->prefill, "Measure prefill (both prefill and decode when neither is given)");
  command->add_flag("--decode", options->decode, "Measure decode (both prefill and decode when neither is given)");

  add_size_list_option(*command, "--prompt-lengths", settings.prompt_lengths, "Prefill prompt lengths in tokens");
  add_size_list_option(*command, "--prefill-batch-sizes", settings.prefill_batch_sizes,
                       "Sequences run together in one prefill forward");
  add_size_list_option(*command, "--batch-sizes", settings.decode_batch_sizes,
                       "Decode batch sizes (sequences advanced one token per step)");
  add_size_list_option(*command, "--contexts", settings.contexts, "Cached tokens per sequence before decoding");
  command->add_option("--decode-steps", settings.decode_steps, "Decode steps in one timed run")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();

  add_weights_option(*command, options->weights);
  command->add_option("--repeat", settings.repeat, "Timed runs per measurement; the median is reported")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  command->add_option("--warmup", settings.warmup, "Untimed runs before the timed ones, per measurement")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  command->add_flag("--swiftkv-compare", options->swiftkv_compare,
                    "Run a SwiftKV checkpoint with SwiftKV on and off and print the prefill speedup");
  command->add_option("-t,--threads", options->threads, "CPU threads; 0 uses all cores")
      ->check(CLI::Range(0, 1 << 30));
  command->add_option("--ceiling-matmul-size", options->ceiling_matmul_size,
                      "Side of the square bf16 matmul that measures the FLOP/s ceiling")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();

  command->add_option("--json", options->json_path, "Write all results as one JSON document to this file");
  command->add_option("--chart", options->chart_path, "Write an SVG bar chart of tokens/s to this file");
  command->callback([options]() { run_bench(*options); });
}

}  // namespace swiftkv
