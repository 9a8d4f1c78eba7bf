// Chat prompts rendered from the model's own Jinja2 chat template (Hugging
// Face tokenizer_config.json "chat_template" or GGUF tokenizer.chat_template),
// with the semantics of transformers' apply_chat_template: trim_blocks and
// lstrip_blocks on, raise_exception() and strftime_now() defined, and a
// tojson filter that keeps dict key order and non-ASCII text.
//
// The interpreter covers the Jinja2 subset that the Llama-3.x, Qwen2.5,
// Mistral v0.3, SmolLM2 and Zephyr/TinyLlama templates use. NOTE: macros,
// call blocks, `{% raw %}`, `{% filter %}`, recursive loops and the `%`
// string-format operator are not implemented; a template that uses them
// fails to parse or render with an Error that names the construct.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace swiftkv {

namespace jinja {
struct Node;
}

struct ChatMessage {
  std::string role;
  std::string content;
};

struct ChatTemplateInputs {
  std::vector<ChatMessage> messages;
  bool add_generation_prompt = true;
  std::string bos_token, eos_token;
  // Further template variables, for example date_string or tools. Key order
  // is kept because `tojson` writes dicts in insertion order, as Python does.
  // transformers always passes `tools` (None when absent), so callers that
  // want identical output pass "tools": null here too.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  // Parses `source`. Throws swiftkv::Error with the line and column for
  // syntax errors and for unknown tags, filters and tests.
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders the prompt. Throws swiftkv::Error carrying the template's message
  // when it calls raise_exception(), and with the line and column for runtime
  // errors (undefined names used as objects, type errors, loop and output
  // limits).
  std::string render(const ChatTemplateInputs& inputs) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::unique_ptr<std::vector<std::unique_ptr<jinja::Node>>> body_;
};

}  // namespace swiftkv
