// Rendering conversations with the model's own chat template.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {

// Renders `messages` with the tokenizer's chat template and the generation
// prompt appended. Throws Error when the model has no chat template.
std::string render_conversation(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages);

// One user turn, preceded by a system message when `system_prompt` is set.
std::string render_single_turn(const Tokenizer& tokenizer, const std::string& system_prompt,
                               const std::string& user_text);

}  // namespace swiftkv
