// `swiftkv batch`: runs an OpenAI batch input file (JSON lines) through one
// engine and writes the results as JSON lines, with a progress bar on stderr.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/log.h"
#include "engine/llm_engine.h"
#include "server/batch_runner.h"

namespace swiftkv {
namespace {

struct BatchCommandOptions {
  ModelOptions model;
  SchedulerConfig scheduler;
  CacheConfig cache;
  std::string input_path;
  std::string output_path;
  std::string model_name;
};

int64_t count_request_lines(const std::string& path) {
  std::ifstream input(path);
  if (!input) fail("cannot open the batch input file '%s'; check the path", path.c_str());
  int64_t count = 0;
  std::string line;
  while (std::getline(input, line)) count += line.find_first_not_of(" \t\r") != std::string::npos;
  return count;
}

// Draws "[=====>    ] 12/100 requests, 3.4 requests/s, 250.1 tokens/s, ETA 25 s"
// on one stderr line, at most five times a second unless the run is done.
class ProgressBar {
 public:
  explicit ProgressBar(int64_t total) : total_(total), interactive_(isatty(STDERR_FILENO) != 0) {}

  void draw(const BatchProgress& progress) {
    const bool done = progress.num_finished == total_;
    if (done ? drew_done_ : progress.elapsed - last_draw_ < 0.2) return;
    drew_done_ = done;
    last_draw_ = progress.elapsed;
    constexpr int kWidth = 30;
    const double fraction = total_ > 0 ? static_cast<double>(progress.num_finished) / static_cast<double>(total_) : 1;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), ' ');
    const double seconds = std::max(progress.elapsed, 1e-6);
    const double rate = static_cast<double>(progress.num_finished) / seconds;
    const std::string eta = rate > 0 && !done ? strprintf(", ETA %.0f s", static_cast<double>(total_ - progress.num_finished) / rate) : "";
    std::fprintf(stderr, "%s[%s] %lld/%lld requests, %.2f requests/s, %.1f tokens/s%s%s", interactive_ ? "\r" : "",
                 bar.c_str(), static_cast<long long>(progress.num_finished), static_cast<long long>(total_), rate,
                 static_cast<double>(progress.generated_tokens) / seconds, eta.c_str(),
                 interactive_ ? "\033[K" : "\n");
    if (done && interactive_) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  int64_t total_;
  bool interactive_;  // stderr is a terminal, so the bar redraws in place
  double last_draw_ = -1.0;
  bool drew_done_ = false;
};

void run_batch_command(const BatchCommandOptions& options) {
  check_output_is_not_input(options.input_path, options.output_path);
  const int64_t total = count_request_lines(options.input_path);
  std::ifstream input(options.input_path);
  if (!input) fail("cannot open the batch input file '%s'; check the path", options.input_path.c_str());
  std::ofstream output(options.output_path, std::ios::trunc);
  if (!output) fail("cannot create the batch output file '%s'; check that its folder exists", options.output_path.c_str());

  LoadedModel loaded = load_model(options.model);
  EngineConfig engine_config;
  engine_config.scheduler = options.scheduler;
  engine_config.cache = options.cache;
  engine_config.context_size = options.model.context_size;
  LLMEngine engine(std::shared_ptr<const Model>(std::move(loaded.model)),
                   std::shared_ptr<const Tokenizer>(std::move(loaded.tokenizer)), engine_config);
  engine.start();
  const GenerationFrontend frontend(engine, options.model_name.empty() ? options.model.model_path : options.model_name);

  SKV_LOG_INFO("batch", "running %lld requests from %s", static_cast<long long>(total), options.input_path.c_str());
  ProgressBar bar(total);
  BatchOptions batch_options;
  batch_options.max_in_flight = std::max<int64_t>(16, 4 * options.scheduler.max_num_seqs);
  batch_options.on_progress = [&bar](const BatchProgress& progress) { bar.draw(progress); };
  const BatchProgress result = run_batch(frontend, input, output, batch_options);
  engine.shutdown(std::chrono::milliseconds(0));
  SKV_LOG_INFO("batch", "wrote %lld results to %s (%lld failed) in %.1f s, %lld tokens generated",
               static_cast<long long>(result.num_finished), options.output_path.c_str(),
               static_cast<long long>(result.num_failed), result.elapsed,
               static_cast<long long>(result.generated_tokens));
}

}  // namespace

void add_batch_command(CLI::App& app) {
  auto options = std::make_shared<BatchCommandOptions>();
  CLI::App* command = app.add_subcommand("batch", "Run an OpenAI batch file (JSON lines) through the engine");
  add_model_options(*command, options->model);
  command->add_option("-i,--input", options->input_path,
                      "Batch input: one {\"custom_id\", \"method\", \"url\", \"body\"} JSON object per line")
      ->required();
  command->add_option("-o,--output", options->output_path,
                      "Results, one JSON object per line in the order the requests finish")
      ->required();
  command->add_option("--served-model-name", options->model_name,
                      "Model id that request bodies may name (default: the -m path)");
  add_scheduler_options(*command, options->scheduler, "Requests running at once; more requests wait");
  add_cache_options(*command, options->cache);
  command->callback([options]() { run_batch_command(*options); });
}

}  // namespace swiftkv
