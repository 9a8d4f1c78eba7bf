// `swiftkv eval`: compares a model with a teacher on held-out conversations
// (KL, top-1 agreement, perplexity, greedy agreement) and scores
// multiple-choice tasks.
#include <cmath>
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "cli/progress.h"
#include "core/error.h"
#include "core/log.h"
#include "engine/generator.h"
#include "train/conversation.h"
#include "train/evaluation.h"
#include "train/multiple_choice.h"

namespace swiftkv {
namespace {

struct EvalOptions {
  ModelOptions model;
  std::string teacher_path;
  std::string teacher_tokenizer_path;
  bool teacher_swiftkv = false;
  std::string data_path;
  std::string task_path;
  int64_t max_length = 0;
  int64_t greedy_tokens = 32;
  int64_t limit = 0;
  int64_t max_num_seqs = 8;
  bool json = false;
};

struct EvalResults {
  TokenMetrics tokens;
  int64_t num_conversations = 0;
  int64_t num_skipped = 0;  // invalid lines and conversations that failed to tokenize
  double greedy_sum = 0.0;
  int64_t greedy_count = 0;
  std::optional<MultipleChoiceScore> task;
  std::optional<MultipleChoiceScore> teacher_task;
  bool has_teacher = false;
};

LoadedModel load_teacher(const EvalOptions& options) {
  ModelOptions teacher = options.model;
  teacher.model_path = options.teacher_path;
  teacher.tokenizer_path = options.teacher_tokenizer_path;
  teacher.tokenizer_option = "--teacher-tokenizer";
  teacher.no_swiftkv = !options.teacher_swiftkv;
  return load_model(teacher);
}

// The prompt of the greedy comparison: the messages before the first
// assistant message, or all of them when there is none.
std::vector<ChatMessage> greedy_prompt_messages(const Conversation& conversation) {
  std::vector<ChatMessage> messages;
  for (const ChatMessage& message : conversation.messages) {
    if (message.role == "assistant") break;
    messages.push_back(message);
  }
  return messages;
}

// Adds the greedy prompt of `conversation` to `prompts` when it fits the
// context with --greedy-tokens new tokens.
void add_greedy_prompt(const EvalOptions& options, const LoadedModel& model, const Conversation& conversation,
                       std::vector<std::vector<int32_t>>& prompts) {
  const std::vector<ChatMessage> messages = greedy_prompt_messages(conversation);
  if (messages.empty()) return;
  std::vector<int32_t> prompt = tokenize_prompt(*model.tokenizer, messages);
  const int64_t context = resolve_context_size(model.model->config(), options.model.context_size);
  if (static_cast<int64_t>(prompt.size()) + options.greedy_tokens > context) {
    SKV_LOG_WARN("eval", "greedy comparison skipped: the prompt has %zu tokens, too many for %lld new tokens "
                 "in a context of %lld", prompt.size(), static_cast<long long>(options.greedy_tokens),
                 static_cast<long long>(context));
    return;
  }
  prompts.push_back(std::move(prompt));
}

// Generates the greedy continuations of teacher and model, each batched
// through the engine, and averages their agreement.
void add_greedy_agreement(const EvalOptions& options, const LoadedModel& model, const LoadedModel& teacher,
                          const std::vector<std::vector<int32_t>>& prompts, EvalResults& results) {
  if (prompts.empty()) return;
  SKV_LOG_INFO("eval", "generating %zu greedy continuations of %lld tokens with the teacher and the model",
               prompts.size(), static_cast<long long>(options.greedy_tokens));
  const std::vector<GreedyContinuation> from_teacher = greedy_continuations(
      *teacher.model, *teacher.tokenizer, prompts, options.greedy_tokens, options.max_num_seqs);
  const std::vector<GreedyContinuation> from_model = greedy_continuations(
      *model.model, *model.tokenizer, prompts, options.greedy_tokens, options.max_num_seqs);
  for (size_t i = 0; i < prompts.size(); ++i) {
    results.greedy_sum += greedy_agreement(from_teacher[i], from_model[i], options.greedy_tokens);
  }
  results.greedy_count = static_cast<int64_t>(prompts.size());
}

void evaluate_conversations(const EvalOptions& options, const LoadedModel& model, const LoadedModel* teacher,
                            ConversationFile file, EvalResults& results) {
  results.num_skipped += static_cast<int64_t>(file.skipped.size());
  if (options.limit > 0 && static_cast<int64_t>(file.conversations.size()) > options.limit) {
    file.conversations.resize(static_cast<size_t>(options.limit));
  }
  const int64_t max_length = options.max_length > 0 ? options.max_length
                                                    : resolve_context_size(model.model->config(), 0);
  std::vector<std::vector<int32_t>> greedy_prompts;
  ProgressBar progress(static_cast<int64_t>(file.conversations.size()), "conversations");
  for (size_t i = 0; i < file.conversations.size(); ++i) {
    const Conversation& conversation = file.conversations[i];
    try {
      TokenizedConversation tokenized = tokenize_conversation(*model.tokenizer, conversation);
      if (static_cast<int64_t>(tokenized.tokens.size()) > max_length) {
        tokenized.tokens.resize(static_cast<size_t>(max_length));
        tokenized.assistant_mask.resize(static_cast<size_t>(max_length));
      }
      score_conversation(*model.model, teacher ? teacher->model.get() : nullptr, tokenized, results.tokens);
      if (teacher != nullptr && options.greedy_tokens > 0) add_greedy_prompt(options, model, conversation, greedy_prompts);
      results.num_conversations += 1;
    } catch (const Error& error) {
      SKV_LOG_WARN("eval", "skipped %s:%lld: %s", options.data_path.c_str(),
                   static_cast<long long>(file.line_numbers[i]), error.what());
      results.num_skipped += 1;
    }
    progress.update(static_cast<int64_t>(i + 1), results.tokens.num_tokens);
  }
  progress.finish();
  if (teacher != nullptr) add_greedy_agreement(options, model, *teacher, greedy_prompts, results);
}

// A metric for JSON: null when it was not computed (NaN).
nlohmann::ordered_json json_number(double value) {
  return std::isnan(value) ? nlohmann::ordered_json() : nlohmann::ordered_json(value);
}

double task_accuracy(const std::optional<MultipleChoiceScore>& score, bool normalized) {
  if (!score) return std::nan("");
  return normalized ? score->accuracy_norm() : score->accuracy();
}

double greedy_mean(const EvalResults& results) {
  return results.greedy_count > 0 ? results.greedy_sum / static_cast<double>(results.greedy_count) : std::nan("");
}

void print_json(const EvalResults& results) {
  const TokenMetrics& tokens = results.tokens;
  const double nan = std::nan("");
  nlohmann::ordered_json out;
  out["kl"] = json_number(results.has_teacher ? tokens.kl() : nan);
  out["top1_agreement"] = json_number(results.has_teacher ? tokens.top1_agreement() : nan);
  out["perplexity"] = json_number(tokens.perplexity());
  out["greedy_agreement"] = json_number(greedy_mean(results));
  out["task_accuracy"] = json_number(task_accuracy(results.task, false));
  out["task_accuracy_norm"] = json_number(task_accuracy(results.task, true));
  out["teacher_perplexity"] = json_number(results.has_teacher ? tokens.teacher_perplexity() : nan);
  out["teacher_task_accuracy"] = json_number(task_accuracy(results.teacher_task, false));
  out["num_conversations"] = results.num_conversations;
  out["num_tokens"] = tokens.num_tokens;
  out["num_skipped"] = results.num_skipped;
  out["num_greedy_prompts"] = results.greedy_count;
  out["task_num_questions"] = results.task ? results.task->num_questions : 0;
  std::printf("%s\n", out.dump(2).c_str());
}

std::string cell(double value) { return std::isnan(value) ? "-" : strprintf("%.4f", value); }

void print_row(const char* name, double model, double teacher) {
  std::printf("%-28s %12s %12s\n", name, cell(model).c_str(), cell(teacher).c_str());
}

void print_table(const EvalOptions& options, const EvalResults& results) {
  const TokenMetrics& tokens = results.tokens;
  const double nan = std::nan("");
  std::printf("conversations: %lld (%lld skipped), assistant tokens: %lld\n",
              static_cast<long long>(results.num_conversations), static_cast<long long>(results.num_skipped),
              static_cast<long long>(tokens.num_tokens));
  std::printf("%-28s %12s %12s\n", "metric", "model", "teacher");
  print_row("KL(teacher || model)", results.has_teacher ? tokens.kl() : nan, nan);
  print_row("top-1 agreement", results.has_teacher ? tokens.top1_agreement() : nan, nan);
  print_row("perplexity", tokens.perplexity(), results.has_teacher ? tokens.teacher_perplexity() : nan);
  const std::string greedy = strprintf("greedy agreement (%lld tokens)", static_cast<long long>(options.greedy_tokens));
  print_row(greedy.c_str(), greedy_mean(results), nan);
  print_row("task accuracy", task_accuracy(results.task, false), task_accuracy(results.teacher_task, false));
  print_row("task accuracy (normalized)", task_accuracy(results.task, true), task_accuracy(results.teacher_task, true));
}

void run_eval(EvalOptions& options) {
  if (options.data_path.empty() && options.task_path.empty()) {
    fail("nothing to evaluate; give held-out conversations with -d/--data, a task with --task, or both");
  }
  std::optional<ConversationFile> conversations;
  if (!options.data_path.empty()) conversations = read_conversations_jsonl(options.data_path);
  std::optional<MultipleChoiceFile> task;
  if (!options.task_path.empty()) task = read_multiple_choice_jsonl(options.task_path);
  if (conversations && conversations->conversations.empty()) {
    fail("%s has no valid conversation to evaluate; lines must be {\"messages\": [...]} with an assistant reply",
         options.data_path.c_str());
  }
  if (task && task->questions.empty()) {
    fail("%s has no valid question; lines must be {\"context\", \"choices\", \"gold\"}", options.task_path.c_str());
  }

  const LoadedModel model = load_model(options.model);
  std::optional<LoadedModel> teacher;
  if (!options.teacher_path.empty()) {
    teacher = load_teacher(options);
    const int64_t teacher_vocab = teacher->model->config().vocab_size;
    const int64_t model_vocab = model.model->config().vocab_size;
    if (teacher_vocab != model_vocab) {
      fail("the teacher '%s' has a vocabulary of %lld tokens but the model has %lld; use a teacher with the "
           "model's tokenizer", options.teacher_path.c_str(), static_cast<long long>(teacher_vocab),
           static_cast<long long>(model_vocab));
    }
  }

  EvalResults results;
  results.has_teacher = teacher.has_value();
  if (conversations) {
    evaluate_conversations(options, model, teacher ? &*teacher : nullptr, std::move(*conversations), results);
  }
  if (task) {
    results.num_skipped += static_cast<int64_t>(task->skipped.size());
    results.task = score_multiple_choice(*model.model, *model.tokenizer, task->questions);
    if (teacher) results.teacher_task = score_multiple_choice(*teacher->model, *teacher->tokenizer, task->questions);
  }
  if (options.json) {
    print_json(results);
  } else {
    print_table(options, results);
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto options = std::make_shared<EvalOptions>();
  CLI::App* command = app.add_subcommand(
      "eval", "Compare a model with a teacher on held-out conversations and score multiple-choice tasks");
  add_model_options(*command, options->model);
  command->add_option("-d,--data", options->data_path,
                      "Held-out conversations, JSONL ({\"messages\": [...]} per line); metrics cover the "
                      "assistant tokens");
  command->add_option("--teacher", options->teacher_path,
                      "Teacher model for KL, top-1 and greedy agreement. It runs with SwiftKV off, so a SwiftKV "
                      "checkpoint is its own original model (give the -m path again); see --teacher-swiftkv");
  command->add_option("--teacher-tokenizer", options->teacher_tokenizer_path,
                      "llama2.c tokenizer file of the teacher; required for llama2.c teacher checkpoints only");
  command->add_flag("--teacher-swiftkv", options->teacher_swiftkv, "Run a SwiftKV teacher checkpoint with SwiftKV on");
  command->add_option("--task", options->task_path,
                      "Multiple-choice task, JSONL ({\"context\": ..., \"choices\": [...], \"gold\": index} per "
                      "line), scored by the log-likelihood of each choice");
  command->add_option("--max-length", options->max_length,
                      "Tokens per conversation; longer ones are cut to their first N tokens. 0 uses the model's "
                      "maximum context")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  command->add_option("--greedy-tokens", options->greedy_tokens,
                      "Tokens generated greedily by model and teacher for the greedy agreement; 0 skips it")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  command->add_option("--max-num-seqs", options->max_num_seqs,
                      "Greedy continuations generated at once (batch size of the engine)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  command->add_option("--limit", options->limit, "Evaluate only the first N conversations; 0 evaluates all")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  command->add_flag("--json", options->json,
                    "Print one JSON object instead of the table (keys kl, top1_agreement, perplexity, "
                    "greedy_agreement, task_accuracy, num_conversations, num_tokens, ...; null when not computed)");
  command->footer(
      "The -m model runs with SwiftKV on when it is a SwiftKV checkpoint (unless --no-swiftkv), and the\n"
      "teacher with SwiftKV off, so '-m CKPT --teacher CKPT' compares a SwiftKV student with its original.\n\n"
      "Metrics, over the assistant tokens of every conversation (each predicted from the logits of the "
      "previous position):\n"
      "  kl               mean KL(p_teacher || p_model) per token at temperature 1, in nats\n"
      "  top1_agreement   share of tokens where the model's and the teacher's most likely token agree\n"
      "  perplexity       exp(mean negative log-likelihood of the tokens under the model)\n"
      "  greedy_agreement per conversation, both models greedily continue the messages before the first\n"
      "                   assistant message; the score is the length of the common prefix of the first\n"
      "                   --greedy-tokens tokens divided by --greedy-tokens (both stopping at the same\n"
      "                   place counts as agreeing to the end), averaged over conversations\n"
      "  task_accuracy    share of questions whose highest log-likelihood choice is the gold one\n"
      "                   (task_accuracy_norm divides each log-likelihood by the choice's length in bytes)");
  command->callback([options]() { run_eval(*options); });
}

}  // namespace swiftkv
