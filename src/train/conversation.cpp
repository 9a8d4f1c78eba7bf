#include "train/conversation.h"

#include "train/jsonl_reader.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "core/error.h"
#include "core/log.h"

namespace swiftkv {
namespace {

// Skipped lines logged one by one; the rest only appear in the count.

bool is_known_role(const std::string& role) { return role == "system" || role == "user" || role == "assistant"; }

std::optional<std::string> parse_message(const nlohmann::json& message, size_t index, ChatMessage& out) {
  if (!message.is_object()) return strprintf("messages[%zu] is not an object", index);
  const auto role = message.find("role");
  if (role == message.end() || !role->is_string()) return strprintf("messages[%zu] has no string 'role'", index);
  out.role = role->get<std::string>();
  if (!is_known_role(out.role)) {
    return strprintf("messages[%zu] has role '%s'; use system, user or assistant", index, out.role.c_str());
  }
  const auto content = message.find("content");
  if (content == message.end() || !content->is_string()) {
    return strprintf("messages[%zu] has no string 'content'", index);
  }
  out.content = content->get<std::string>();
  return std::nullopt;
}

std::string special_text(const Tokenizer& tokenizer, int32_t id) {
  return id >= 0 ? tokenizer.token_text(id) : std::string();
}

std::string render(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages, bool generation_prompt) {
  ChatTemplate chat_template(tokenizer.chat_template());
  ChatTemplateInputs inputs;
  inputs.messages = messages;
  inputs.add_generation_prompt = generation_prompt;
  inputs.bos_token = special_text(tokenizer, tokenizer.bos_id());
  inputs.eos_token = special_text(tokenizer, tokenizer.eos_id());
  return chat_template.render(inputs);
}

// Tokens of messages[0, count), as tokenize_conversation and tokenize_prompt define them.
std::vector<int32_t> encode_prefix(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages,
                                   size_t count, bool generation_prompt) {
  const std::vector<ChatMessage> prefix(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(count));
  if (tokenizer.chat_template().empty()) {
    std::string text;
    for (const ChatMessage& message : prefix) text += message.content;
    return tokenizer.encode(text, /*add_special=*/true);
  }
  return tokenizer.encode(render(tokenizer, prefix, generation_prompt), /*add_special=*/false);
}

size_t common_prefix_length(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

std::optional<std::string> parse_conversation(const nlohmann::json& line, Conversation& out) {
  out.messages.clear();
  if (!line.is_object()) return "the line is not a JSON object";
  const auto messages = line.find("messages");
  if (messages != line.end()) {
    if (!messages->is_array()) return "'messages' is not an array";
    if (messages->empty()) return "'messages' is empty";
    for (size_t i = 0; i < messages->size(); ++i) {
      ChatMessage message;
      if (auto reason = parse_message((*messages)[i], i, message)) return reason;
      out.messages.push_back(std::move(message));
    }
    return std::nullopt;
  }
  const auto prompt = line.find("prompt");
  if (prompt != line.end()) {
    if (!prompt->is_string()) return "'prompt' is not a string";
    if (prompt->get_ref<const std::string&>().empty()) return "'prompt' is empty";
    out.messages.push_back({"user", prompt->get<std::string>()});
    return std::nullopt;
  }
  return "the line has neither 'messages' nor 'prompt'";
}

ConversationFile read_conversations_jsonl(const std::string& path) {
  ConversationFile file;
  const JsonlLineParser parse_line = [&file](const nlohmann::json& line, int64_t line_number) {
    Conversation conversation;
    std::optional<std::string> reason = parse_conversation(line, conversation);
    if (!reason) {
      file.conversations.push_back(std::move(conversation));
      file.line_numbers.push_back(line_number);
    }
    return reason;
  };
  read_jsonl(path, "conversation file", parse_line, file.skipped);
  if (!file.skipped.empty()) {
    SKV_LOG_WARN("data", "%s: read %zu conversations, skipped %zu invalid lines", path.c_str(),
                 file.conversations.size(), file.skipped.size());
  }
  return file;
}

std::string conversation_to_json(const Conversation& conversation) {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (const ChatMessage& message : conversation.messages) {
    messages.push_back({{"role", message.role}, {"content", message.content}});
  }
  const nlohmann::ordered_json line = {{"messages", std::move(messages)}};
  // Invalid UTF-8 (from a truncated generation) becomes U+FFFD instead of throwing.
  return line.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

TokenizedConversation tokenize_conversation(const Tokenizer& tokenizer, const Conversation& conversation) {
  const std::vector<ChatMessage>& messages = conversation.messages;
  TokenizedConversation out;
  out.tokens = encode_prefix(tokenizer, messages, messages.size(), /*generation_prompt=*/false);
  out.assistant_mask.assign(out.tokens.size(), 0);

  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role != "assistant") continue;
    const std::vector<int32_t> before = encode_prefix(tokenizer, messages, i, /*generation_prompt=*/true);
    const std::vector<int32_t> through = encode_prefix(tokenizer, messages, i + 1, /*generation_prompt=*/false);
    const size_t begin = common_prefix_length(before, out.tokens);
    size_t end = common_prefix_length(through, out.tokens);
    if (end < through.size() && end < out.tokens.size()) ++end;  // the differing boundary token
    if (begin != before.size() || end != through.size()) {
      SKV_LOG_DEBUG("data", "assistant message %zu: prefix tokens differ from the whole conversation's; "
                    "the mask boundary falls on the first differing token", i);
    }

    // Keep the response and its end-of-turn token, not the separator after it.
    size_t last_special = end;
    for (size_t t = begin; t < end; ++t) {
      if (tokenizer.is_special(out.tokens[t])) last_special = t;
    }
    if (last_special != end) end = last_special + 1;
    for (size_t t = begin; t < end; ++t) out.assistant_mask[t] = 1;
  }
  return out;
}

std::vector<int32_t> tokenize_prompt(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages) {
  return encode_prefix(tokenizer, messages, messages.size(), /*generation_prompt=*/true);
}

}  // namespace swiftkv
