// Chat conversations as training and evaluation data: reading the JSONL chat
// format, rendering with the model's chat template, and tokenizing with a mask
// that marks the assistant's tokens.
//
// File format, one JSON object per line:
//   {"messages": [{"role": "system" | "user" | "assistant", "content": "..."}, ...]}
//   {"prompt": "..."}   (one user message)
// Blank lines are ignored. Other keys on a line are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "train/jsonl_reader.h"

namespace swiftkv {

struct Conversation {
  std::vector<ChatMessage> messages;
};

struct ConversationFile {
  std::vector<Conversation> conversations;
  // "path:line: reason" for every line that was not read.
  std::vector<std::string> skipped;
  // 1-based line number of each conversation, parallel to `conversations`.
  std::vector<int64_t> line_numbers;
};

// Parses one line's JSON object into `out`. Returns the reason the line is
// invalid (missing or empty messages, an unknown role, non-string content),
// or nullopt when it is valid.
std::optional<std::string> parse_conversation(const nlohmann::json& line, Conversation& out);

// Reads every line of a JSONL conversation file. Invalid lines are skipped,
// listed in `skipped` and logged as warnings. Throws Error when the file
// cannot be opened.
ConversationFile read_conversations_jsonl(const std::string& path);

// Writes `conversation` as one JSON object, {"messages": [...]}, without a
// trailing newline.
std::string conversation_to_json(const Conversation& conversation);

struct TokenizedConversation {
  std::vector<int32_t> tokens;          // [T] the whole conversation
  std::vector<uint8_t> assistant_mask;  // [T] 1 where tokens[t] is part of an assistant response
};

// Renders `conversation` with the tokenizer's chat template (no generation
// prompt) and tokenizes it as Hugging Face apply_chat_template does: the
// template writes any BOS itself, so encode() adds no special tokens.
//
// The mask of each assistant message covers the tokens between the rendering
// of the messages before it (with the generation prompt) and the rendering
// that includes it, minus any text after its last special token (the
// newline after SmolLM2's <|im_end|>), so it is the response plus its
// end-of-turn token. When a prefix's tokens are not a prefix of the whole
// conversation's tokens (a token merges across the boundary), the span starts
// or ends at the first token that differs, so a boundary token counts as the
// assistant's.
//
// A tokenizer without a chat template: the messages' contents are joined
// with nothing between them and encoded with BOS (as the tokenizer adds it),
// so a user prompt is followed directly by its answer. No end-of-turn token is
// added. Throws Error when the template fails to render.
TokenizedConversation tokenize_conversation(const Tokenizer& tokenizer, const Conversation& conversation);

// The prompt tokens a model continues to answer `messages`: the chat template
// with the generation prompt, or without a template, the joined contents with
// BOS. Throws Error when the template fails to render.
std::vector<int32_t> tokenize_prompt(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages);

}  // namespace swiftkv
