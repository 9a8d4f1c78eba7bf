// `swiftkv gen-data`: answer every prompt of a JSONL file with the teacher
// model through the batching engine and write the conversations as JSONL.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/model_options.h"
#include "cli/progress.h"
#include "core/error.h"
#include "core/log.h"
#include "engine/generator.h"
#include "engine/llm_engine.h"
#include "train/conversation.h"

namespace swiftkv {
namespace {

struct GenDataOptions {
  ModelOptions model;
  std::string input_path;
  std::string output_path;
  SamplingParams sampling;
  int64_t max_tokens = 256;
  SchedulerConfig scheduler;
  CacheConfig cache;
};

// One input conversation and the assistant message generated for it, as it streams in.
struct Job {
  Conversation conversation;
  int64_t line = 0;
  std::vector<int32_t> prompt;
  std::string text;
  int64_t generated_tokens = 0;
  bool done = false;
  FinishReason finish_reason = FinishReason::kNone;
  std::string error;
};

struct GenDataCounts {
  int64_t written = 0;
  int64_t skipped = 0;
  int64_t truncated = 0;  // finished by max_tokens or the context
  int64_t tokens = 0;
};

void add_gen_data_sampling_options(CLI::App& command, SamplingParams& sampling) {
  add_temperature_options(
      command, sampling,
      "Sampling temperature; 1 samples the model's own distribution, 0 picks the most likely token (greedy)");
  command.add_option("--seed", sampling.seed,
                     "Random seed; the request of input line N samples with seed + N, so its draws do not "
                     "depend on the other requests")
      ->capture_default_str();
}

void report_skip(const std::string& path, int64_t line, const std::string& reason, GenDataCounts& counts) {
  SKV_LOG_WARN("gen-data", "skipped %s:%lld: %s", path.c_str(), static_cast<long long>(line), reason.c_str());
  counts.skipped += 1;
}

// Tokenizes each conversation's prompt; conversations that cannot be
// answered are reported and left out.
std::vector<Job> make_jobs(const GenDataOptions& options, const Tokenizer& tokenizer, ConversationFile file,
                           GenDataCounts& counts) {
  std::vector<Job> jobs;
  for (size_t i = 0; i < file.conversations.size(); ++i) {
    Job job;
    job.conversation = std::move(file.conversations[i]);
    job.line = file.line_numbers[i];
    const std::string& last_role = job.conversation.messages.back().role;
    if (last_role != "user") {
      report_skip(options.input_path, job.line,
                  "the last message is from '" + last_role + "'; end the conversation with a user message", counts);
      continue;
    }
    try {
      job.prompt = tokenize_prompt(tokenizer, job.conversation.messages);
    } catch (const Error& error) {
      report_skip(options.input_path, job.line, std::string("chat template failed: ") + error.what(), counts);
      continue;
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

// Positions per sequence: --ctx-size, or the longest prompt plus
// --max-tokens, capped at the model's maximum, so the KV cache stays small.
int64_t choose_context_size(const GenDataOptions& options, const ModelConfig& config, const std::vector<Job>& jobs) {
  if (options.model.context_size > 0) return options.model.context_size;
  size_t longest = 0;
  for (const Job& job : jobs) longest = std::max(longest, job.prompt.size());
  const int64_t model_max = resolve_context_size(config, 0);
  return std::min(model_max, static_cast<int64_t>(longest) + options.max_tokens);
}

Request make_request(const GenDataOptions& options, const Job& job, int64_t context_size, OutputQueue& queue) {
  Request request;
  request.prompt_tokens = job.prompt;
  request.sampling = options.sampling;
  request.sampling.seed = options.sampling.seed + static_cast<uint64_t>(job.line);
  request.max_tokens = std::min(options.max_tokens, context_size - static_cast<int64_t>(job.prompt.size()));
  request.on_output = queue.callback();
  return request;
}

// Writes the finished jobs at the front of the input order.
void write_ready(const GenDataOptions& options, std::vector<Job>& jobs, size_t& next, std::ofstream& out,
                 GenDataCounts& counts) {
  for (; next < jobs.size() && jobs[next].done; ++next) {
    Job& job = jobs[next];
    if (job.finish_reason == FinishReason::kError || job.finish_reason == FinishReason::kAbort) {
      report_skip(options.input_path, job.line, "generation failed: " + job.error, counts);
      continue;
    }
    job.conversation.messages.push_back({"assistant", job.text});
    out << conversation_to_json(job.conversation) << '\n';
    out.flush();
    if (!out) fail("cannot write to '%s'; check the disk space and permissions", options.output_path.c_str());
    counts.written += 1;
    if (job.finish_reason == FinishReason::kLength) counts.truncated += 1;
  }
}

// Submits every job, then collects the outputs, writing in input order.
void generate_all(const GenDataOptions& options, LLMEngine& engine, std::vector<Job>& jobs, std::ofstream& out,
                  GenDataCounts& counts) {
  OutputQueue queue;
  std::map<RequestId, size_t> job_of_request;
  size_t remaining = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (static_cast<int64_t>(jobs[i].prompt.size()) >= engine.context_size()) {
      jobs[i].done = true;
      jobs[i].finish_reason = FinishReason::kError;
      jobs[i].error = strprintf("the prompt has %zu tokens, which leaves no room in a context of %lld; raise --ctx-size",
                                jobs[i].prompt.size(), static_cast<long long>(engine.context_size()));
      continue;
    }
    job_of_request[engine.add_request(make_request(options, jobs[i], engine.context_size(), queue))] = i;
    ++remaining;
  }

  ProgressBar progress(static_cast<int64_t>(remaining), "requests");
  size_t next = 0;
  int64_t finished = 0;
  while (remaining > 0) {
    std::optional<RequestOutput> output = queue.pop(std::chrono::milliseconds(1000));
    if (!output) {
      progress.update(finished, counts.tokens);
      continue;
    }
    Job& job = jobs[job_of_request.at(output->id)];
    job.text += output->text;
    counts.tokens += static_cast<int64_t>(output->token_ids.size());
    if (output->finished) {
      job.done = true;
      job.finish_reason = output->finish_reason;
      job.error = output->error;
      --remaining;
      ++finished;
    }
    progress.update(finished, counts.tokens);
    write_ready(options, jobs, next, out, counts);
  }
  write_ready(options, jobs, next, out, counts);
  progress.finish();
}

void run_gen_data(GenDataOptions& options) {
  options.sampling.validate();  // fail before a slow model load
  options.scheduler.validate();
  check_output_is_not_input(options.input_path, options.output_path);
  ConversationFile file = read_conversations_jsonl(options.input_path);
  GenDataCounts counts;
  counts.skipped = static_cast<int64_t>(file.skipped.size());
  std::ofstream out(options.output_path, std::ios::binary | std::ios::trunc);
  if (!out) fail("cannot create output file '%s'; check that its directory exists", options.output_path.c_str());

  LoadedModel loaded = load_model(options.model);
  if (loaded.tokenizer->chat_template().empty()) {
    SKV_LOG_INFO("gen-data", "the model has no chat template; each answer continues the raw prompt text");
  }
  std::vector<Job> jobs = make_jobs(options, *loaded.tokenizer, std::move(file), counts);
  if (jobs.empty()) {
    fail("'%s' has no conversation to answer (%lld lines skipped); see the warnings above",
         options.input_path.c_str(), static_cast<long long>(counts.skipped));
  }

  EngineConfig engine_config;
  engine_config.scheduler = options.scheduler;
  engine_config.cache = options.cache;
  engine_config.context_size = choose_context_size(options, loaded.model->config(), jobs);
  LLMEngine engine(std::shared_ptr<const Model>(std::move(loaded.model)),
                   std::shared_ptr<const Tokenizer>(std::move(loaded.tokenizer)), engine_config);
  engine.start();
  generate_all(options, engine, jobs, out, counts);
  engine.shutdown(std::chrono::milliseconds(0));

  SKV_LOG_INFO("gen-data", "wrote %lld conversations to %s (%lld stopped at --max-tokens or the context), "
               "skipped %lld input lines, generated %lld tokens",
               static_cast<long long>(counts.written), options.output_path.c_str(),
               static_cast<long long>(counts.truncated), static_cast<long long>(counts.skipped),
               static_cast<long long>(counts.tokens));
}

}  // namespace

void add_gen_data_command(CLI::App& app) {
  auto options = std::make_shared<GenDataOptions>();
  CLI::App* command = app.add_subcommand(
      "gen-data", "Answer the prompts of a JSONL file with the model and write the conversations as JSONL");
  add_model_options(*command, options->model);
  command->add_option("-i,--input", options->input_path,
                      "Input JSONL: one {\"prompt\": \"...\"} or {\"messages\": [...]} per line, ending with a "
                      "user message; invalid lines are reported and skipped")
      ->required();
  command->add_option("-o,--output", options->output_path,
                      "Output JSONL: the input conversations with the generated assistant message, in input order")
      ->required();
  add_gen_data_sampling_options(*command, options->sampling);
  command->add_option("--max-tokens", options->max_tokens, "Maximum number of generated tokens per answer")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 30));
  add_scheduler_options(*command, options->scheduler, "Requests generated at once (batch size)");
  add_cache_options(*command, options->cache);
  command->callback([options]() { run_gen_data(*options); });
}

}  // namespace swiftkv
