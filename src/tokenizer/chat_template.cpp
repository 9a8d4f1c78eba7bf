#include "tokenizer/chat_template.h"

#include "tokenizer/jinja_ast.h"
#include "core/error.h"
#include "tokenizer/jinja_interpreter.h"

namespace swiftkv {

ChatTemplate::ChatTemplate(std::string source)
    : source_(std::move(source)), body_(std::make_unique<jinja::Body>(jinja::parse_template(source_))) {}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const ChatTemplateInputs& inputs) const {
  jinja::Json messages = jinja::Json::array();
  for (const ChatMessage& message : inputs.messages) {
    messages.push_back(jinja::Json{{"role", message.role}, {"content", message.content}});
  }
  // Same variables as transformers' render() call, extras last so they can
  // override the defaults.
  std::vector<std::pair<std::string, jinja::Value>> variables;
  variables.emplace_back("messages", jinja::Value(std::move(messages)));
  variables.emplace_back("add_generation_prompt", jinja::Value(jinja::Json(inputs.add_generation_prompt)));
  variables.emplace_back("bos_token", jinja::Value(jinja::Json(inputs.bos_token)));
  variables.emplace_back("eos_token", jinja::Value(jinja::Json(inputs.eos_token)));
  if (!inputs.extra.is_object()) fail("ChatTemplateInputs::extra must be a JSON object, got %s", inputs.extra.type_name());
  for (auto it = inputs.extra.begin(); it != inputs.extra.end(); ++it) variables.emplace_back(it.key(), jinja::Value(*it));
  return jinja::render_template(*body_, std::move(variables));
}

}  // namespace swiftkv
