// Conversation data: reading the JSONL chat format with bad-line reports, and
// the assistant mask on SmolLM2's chat template and on a model without one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "test_util.h"
#include "train/conversation.h"

namespace swiftkv {
namespace {

const Tokenizer& stories_tokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer =
      make_tokenizer(load_checkpoint(testing::stories_dir() + "/stories260Ktok512.gguf").vocab);
  return *tokenizer;
}

const Tokenizer& smollm2_tokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = make_tokenizer(load_checkpoint(testing::smollm2_gguf()).vocab);
  return *tokenizer;
}

class ConversationFileTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::make_temp_dir("conversation_"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& text) {
    const std::string path = dir_ + "/data.jsonl";
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  std::string dir_;
};

TEST_F(ConversationFileTest, ReadsMessagesAndPrompts) {
  const std::string path = write(
      R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, )"
      R"({"role": "assistant", "content": "Hello!"}]})"
      "\n\n"
      R"({"prompt": "Once upon a time", "id": 7})"
      "\n");
  const ConversationFile file = read_conversations_jsonl(path);
  EXPECT_TRUE(file.skipped.empty());
  ASSERT_EQ(file.conversations.size(), 2u);
  ASSERT_EQ(file.conversations[0].messages.size(), 3u);
  EXPECT_EQ(file.conversations[0].messages[2].role, "assistant");
  EXPECT_EQ(file.conversations[0].messages[2].content, "Hello!");
  ASSERT_EQ(file.conversations[1].messages.size(), 1u);
  EXPECT_EQ(file.conversations[1].messages[0].role, "user");
  EXPECT_EQ(file.conversations[1].messages[0].content, "Once upon a time");
  EXPECT_EQ(file.line_numbers, (std::vector<int64_t>{1, 3}));
}

TEST_F(ConversationFileTest, BadLinesAreReportedAndSkipped) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"messages": [)", "invalid JSON"},
      {R"({"messages": []})", "'messages' is empty"},
      {R"({"messages": {"role": "user"}})", "'messages' is not an array"},
      {R"({"messages": [{"role": "robot", "content": "x"}]})", "role 'robot'"},
      {R"({"messages": [{"role": "user", "content": 3}]})", "messages[0] has no string 'content'"},
      {R"({"messages": [{"content": "x"}]})", "messages[0] has no string 'role'"},
      {R"({"messages": ["hi"]})", "messages[0] is not an object"},
      {R"({"prompt": 5})", "'prompt' is not a string"},
      {R"({"prompt": ""})", "'prompt' is empty"},
      {R"({"text": "hi"})", "neither 'messages' nor 'prompt'"},
      {R"([1, 2])", "not a JSON object"},
      {"{\"prompt\": \"\xff\"}", "invalid JSON"},
  };
  std::string text = "{\"prompt\": \"good\"}\n";
  for (const auto& [line, reason] : cases) text += line + "\n";
  const std::string path = write(text);

  const ConversationFile file = read_conversations_jsonl(path);
  ASSERT_EQ(file.conversations.size(), 1u);
  ASSERT_EQ(file.skipped.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string location = path + ":" + std::to_string(i + 2) + ": ";
    EXPECT_EQ(file.skipped[i].rfind(location, 0), 0u) << file.skipped[i];
    EXPECT_NE(file.skipped[i].find(cases[i].second), std::string::npos) << file.skipped[i];
  }
}

TEST_F(ConversationFileTest, MissingFileNamesPath) {
  try {
    read_conversations_jsonl(dir_ + "/absent.jsonl");
    FAIL() << "no error for a missing file";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(dir_ + "/absent.jsonl"), std::string::npos) << error.what();
  }
}

TEST(Conversation, JsonRoundTrip) {
  const Conversation conversation{{{"user", "Say \"hi\"\n"}, {"assistant", "h\xc3\xa9llo"}}};
  Conversation parsed;
  ASSERT_EQ(parse_conversation(nlohmann::json::parse(conversation_to_json(conversation)), parsed), std::nullopt);
  ASSERT_EQ(parsed.messages.size(), 2u);
  EXPECT_EQ(parsed.messages[0].content, "Say \"hi\"\n");
  EXPECT_EQ(parsed.messages[1].role, "assistant");
  EXPECT_EQ(parsed.messages[1].content, "h\xc3\xa9llo");
}

// The masked tokens as runs of consecutive positions.
std::vector<std::vector<int32_t>> masked_runs(const TokenizedConversation& tokenized) {
  std::vector<std::vector<int32_t>> runs;
  for (size_t t = 0; t < tokenized.tokens.size(); ++t) {
    if (tokenized.assistant_mask[t] == 0) continue;
    if (t == 0 || tokenized.assistant_mask[t - 1] == 0) runs.emplace_back();
    runs.back().push_back(tokenized.tokens[t]);
  }
  return runs;
}

TEST(AssistantMask, SmolLM2TemplateCoversResponses) {
  if (!testing::file_exists(testing::smollm2_gguf())) GTEST_SKIP() << "run scripts/fetch_model.sh first";
  const Tokenizer& tokenizer = smollm2_tokenizer();
  const Conversation conversation{{{"user", "Name a fruit."},
                                   {"assistant", "An apple."},
                                   {"user", "And a vegetable?"},
                                   {"assistant", "A carrot,\nfor example."}}};
  const TokenizedConversation tokenized = tokenize_conversation(tokenizer, conversation);
  ASSERT_EQ(tokenized.assistant_mask.size(), tokenized.tokens.size());

  const std::vector<std::vector<int32_t>> runs = masked_runs(tokenized);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(tokenizer.decode(runs[0], /*skip_special=*/false), "An apple.<|im_end|>");
  EXPECT_EQ(tokenizer.decode(runs[1], /*skip_special=*/false), "A carrot,\nfor example.<|im_end|>");

  // The unmasked tokens hold the template and the user turns.
  std::vector<int32_t> unmasked;
  for (size_t t = 0; t < tokenized.tokens.size(); ++t) {
    if (tokenized.assistant_mask[t] == 0) unmasked.push_back(tokenized.tokens[t]);
  }
  const std::string rest = tokenizer.decode(unmasked, /*skip_special=*/false);
  EXPECT_NE(rest.find("<|im_start|>user\nName a fruit.<|im_end|>"), std::string::npos) << rest;
  EXPECT_EQ(rest.find("apple"), std::string::npos) << rest;
  EXPECT_EQ(rest.substr(rest.size() - 1), "\n");  // the newline after the last <|im_end|>
}

TEST(AssistantMask, SmolLM2PromptEndsWithGenerationPrompt) {
  if (!testing::file_exists(testing::smollm2_gguf())) GTEST_SKIP() << "run scripts/fetch_model.sh first";
  const Tokenizer& tokenizer = smollm2_tokenizer();
  const std::vector<int32_t> prompt = tokenize_prompt(tokenizer, {{"user", "Name a fruit."}});
  const std::string text = tokenizer.decode(prompt, /*skip_special=*/false);
  const std::string suffix = "Name a fruit.<|im_end|>\n<|im_start|>assistant\n";
  ASSERT_GE(text.size(), suffix.size());
  EXPECT_EQ(text.substr(text.size() - suffix.size()), suffix);
}

TEST(AssistantMask, NoTemplateJoinsUserAndAnswer) {
  const Tokenizer& tokenizer = stories_tokenizer();
  ASSERT_TRUE(tokenizer.chat_template().empty());
  const Conversation conversation{{{"user", "Once upon a time"}, {"assistant", ", there was a little girl."}}};
  const TokenizedConversation tokenized = tokenize_conversation(tokenizer, conversation);

  EXPECT_EQ(tokenized.tokens, tokenizer.encode("Once upon a time, there was a little girl.", true));
  const std::vector<int32_t> user = tokenizer.encode("Once upon a time", true);
  ASSERT_EQ(std::vector<int32_t>(tokenized.tokens.begin(), tokenized.tokens.begin() + user.size()), user);
  for (size_t t = 0; t < tokenized.tokens.size(); ++t) {
    EXPECT_EQ(tokenized.assistant_mask[t], t >= user.size() ? 1 : 0) << "position " << t;
  }
  EXPECT_EQ(tokenize_prompt(tokenizer, {{"user", "Once upon a time"}}), user);
}

TEST(AssistantMask, NoTemplateBoundaryTokenCountsAsAnswer) {
  const Tokenizer& tokenizer = stories_tokenizer();
  // "Once upon a ti" + "me there" tokenizes "time" as one token that
  // straddles the boundary, so the user tokens are not a prefix.
  const Conversation conversation{{{"user", "Once upon a ti"}, {"assistant", "me there was a dog."}}};
  const TokenizedConversation tokenized = tokenize_conversation(tokenizer, conversation);
  const std::vector<int32_t> user = tokenizer.encode("Once upon a ti", true);
  size_t common = 0;
  while (common < user.size() && user[common] == tokenized.tokens[common]) ++common;
  ASSERT_LT(common, user.size()) << "the test needs a token across the boundary";
  for (size_t t = 0; t < tokenized.tokens.size(); ++t) {
    EXPECT_EQ(tokenized.assistant_mask[t], t >= common ? 1 : 0) << "position " << t;
  }
}

}  // namespace
}  // namespace swiftkv
