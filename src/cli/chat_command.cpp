// `swiftkv chat`: an interactive conversation on stdin/stdout.
#include <cstdio>
#include <random>
#include <iostream>

#include "cli/chat_format.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "engine/generator.h"

namespace swiftkv {
namespace {

struct ChatCommandOptions {
  ModelOptions model;
  std::string system_prompt;
  GenerateOptions generate;
  int64_t seed = -1;
};

// Runs one assistant turn for the conversation so far and returns its text.
std::string answer(const LoadedModel& loaded, const std::vector<ChatMessage>& messages,
                   const GenerateOptions& options) {
  const std::string prompt_text = render_conversation(*loaded.tokenizer, messages);
  const std::vector<int32_t> prompt = loaded.tokenizer->encode(prompt_text, /*add_special=*/false);
  const GenerateResult result = generate(*loaded.model, *loaded.tokenizer, prompt, options,
                                         [](const std::string& text) {
                                           std::fwrite(text.data(), 1, text.size(), stdout);
                                           std::fflush(stdout);
                                         });
  std::fputc('\n', stdout);
  std::fprintf(stderr, "[%lld prompt tokens, %zu output tokens, %.1f tokens/s]\n",
               static_cast<long long>(result.prompt_tokens), result.output_tokens.size(),
               static_cast<double>(result.output_tokens.size()) / std::max(result.decode_seconds, 1e-9));
  return result.text;
}

void run_chat(ChatCommandOptions& options) {
  // As in llama.cpp, a chat without --seed draws a new seed each session.
  options.generate.sampling.seed = options.seed >= 0 ? static_cast<uint64_t>(options.seed) : std::random_device{}();
  options.generate.sampling.validate();  // fail before a slow model load
  LoadedModel loaded = load_model(options.model);
  if (loaded.tokenizer->chat_template().empty()) {
    fail("model '%s' has no chat template (tokenizer_config.json 'chat_template' or GGUF "
         "'tokenizer.chat_template'); use 'swiftkv generate' for plain completion", options.model.model_path.c_str());
  }
  options.generate.context_size = options.model.context_size;
  std::vector<ChatMessage> messages;
  if (!options.system_prompt.empty()) messages.push_back({"system", options.system_prompt});

  std::fprintf(stderr, "Type a message and press Enter; an empty line or end of input quits.\n");
  std::string line;
  while (true) {
    std::fputs("> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line) || line.empty()) break;
    messages.push_back({"user", line});
    messages.push_back({"assistant", answer(loaded, messages, options.generate)});
  }
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto options = std::make_shared<ChatCommandOptions>();
  CLI::App* command = app.add_subcommand("chat", "Interactive conversation using the model's chat template");
  add_model_options(*command, options->model);
  command->add_option("--system", options->system_prompt, "System message that starts the conversation");
  command->add_option("-n,--max-new-tokens", options->generate.max_new_tokens,
                      "Maximum number of tokens per answer")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  SamplingParams& sampling = options->generate.sampling;
  sampling.temperature = 0.7f;
  sampling.top_p = 0.9f;
  command->add_option("--temperature,--temp", sampling.temperature, "Sampling temperature; 0 is greedy")
      ->capture_default_str();
  command->add_option("--top-p", sampling.top_p, "Nucleus sampling mass, in (0, 1]")->capture_default_str();
  command->add_option("--top-k", sampling.top_k, "Sample among the k most likely tokens; 0 disables");
  command->add_option("--seed", options->seed, "Random seed for sampling; -1 draws a new one each session")
      ->capture_default_str();
  command->callback([options]() { run_chat(*options); });
}

}  // namespace swiftkv
