#include "cli/chat_format.h"

#include "core/error.h"

namespace swiftkv {
namespace {

std::string special_text(const Tokenizer& tokenizer, int32_t id) {
  return id >= 0 ? tokenizer.token_text(id) : std::string();
}

}  // namespace

std::string render_conversation(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages) {
  if (tokenizer.chat_template().empty()) {
    fail("this model has no chat template (tokenizer_config.json 'chat_template' or GGUF "
         "'tokenizer.chat_template'); use 'swiftkv generate' without --chat");
  }
  ChatTemplate chat_template(tokenizer.chat_template());
  ChatTemplateInputs inputs;
  inputs.messages = messages;
  inputs.add_generation_prompt = true;
  inputs.bos_token = special_text(tokenizer, tokenizer.bos_id());
  inputs.eos_token = special_text(tokenizer, tokenizer.eos_id());
  return chat_template.render(inputs);
}

std::string render_single_turn(const Tokenizer& tokenizer, const std::string& system_prompt,
                               const std::string& user_text) {
  std::vector<ChatMessage> messages;
  if (!system_prompt.empty()) messages.push_back({"system", system_prompt});
  messages.push_back({"user", user_text});
  return render_conversation(tokenizer, messages);
}

}  // namespace swiftkv
