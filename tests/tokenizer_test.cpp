// Unit tests of the tokenizer: streaming decode, special tokens, edge cases.
#include <gtest/gtest.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_checkpoint.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {
namespace {

const std::string kStoriesGguf = "/work/shared/models/stories260K/stories260Ktok512.gguf";

// A small SentencePiece-style vocabulary: <unk>, <s>, </s>, 256 byte tokens,
// then a few merged tokens with scores.
VocabSpec tiny_spm_spec() {
  VocabSpec spec;
  spec.model = "llama";
  spec.tokens = {"<unk>", "<s>", "</s>"};
  spec.token_types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  char name[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    spec.tokens.push_back(name);
    spec.token_types.push_back(TokenType::kByte);
  }
  for (const char* token : {"\xE2\x96\x81", "h", "i", "\xE2\x96\x81h", "\xE2\x96\x81hi", "\xE4\xB8\xAD"}) {
    spec.tokens.push_back(token);
    spec.token_types.push_back(TokenType::kNormal);
  }
  spec.scores.assign(spec.tokens.size(), 0.0f);
  spec.scores[spec.tokens.size() - 3] = -1.0f;  // "▁h"
  spec.scores[spec.tokens.size() - 2] = -2.0f;  // "▁hi"
  spec.bos_id = 1;
  spec.eos_id = 2;
  spec.unk_id = 0;
  return spec;
}

int32_t byte_id(uint8_t byte) { return 3 + byte; }

std::string stream_all(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special,
                       std::vector<std::string>* pieces = nullptr) {
  StreamDecoder decoder(tokenizer, skip_special);
  std::string out;
  for (int32_t id : ids) {
    const std::string piece = decoder.push(id);
    if (pieces != nullptr) pieces->push_back(piece);
    out += piece;
  }
  return out + decoder.flush();
}

TEST(Tokenizer, SpmMergesAndDummyPrefix) {
  const auto tokenizer = make_tokenizer(tiny_spm_spec());
  const int32_t hi = tokenizer->token_id("\xE2\x96\x81hi");
  ASSERT_GE(hi, 0);
  EXPECT_EQ(tokenizer->encode("hi", /*add_special=*/false), (std::vector<int32_t>{hi}));
  EXPECT_EQ(tokenizer->encode("hi", /*add_special=*/true), (std::vector<int32_t>{1, hi}));
  EXPECT_EQ(tokenizer->decode({1, hi, 2}, /*skip_special=*/true), "hi");
  EXPECT_EQ(tokenizer->decode({1, hi, 2}, /*skip_special=*/false), "<s> hi</s>");
}

TEST(Tokenizer, EmptyInput) {
  const auto tokenizer = make_tokenizer(tiny_spm_spec());
  EXPECT_TRUE(tokenizer->encode("", /*add_special=*/false).empty());
  EXPECT_EQ(tokenizer->encode("", /*add_special=*/true), (std::vector<int32_t>{1}));
  EXPECT_EQ(tokenizer->decode({}, /*skip_special=*/false), "");
  StreamDecoder decoder(*tokenizer, /*skip_special=*/true);
  EXPECT_EQ(decoder.flush(), "");
}

TEST(Tokenizer, ByteFallbackForUnknownChars) {
  const auto tokenizer = make_tokenizer(tiny_spm_spec());
  // "é" is not in the vocabulary, so it becomes its two UTF-8 bytes.
  const std::vector<int32_t> ids = tokenizer->encode("\xC3\xA9", /*add_special=*/false);
  const int32_t space = tokenizer->token_id("\xE2\x96\x81");
  EXPECT_EQ(ids, (std::vector<int32_t>{space, byte_id(0xC3), byte_id(0xA9)}));
  EXPECT_EQ(tokenizer->token_bytes(byte_id(0xC3)), "\xC3");
  EXPECT_EQ(tokenizer->decode(ids, /*skip_special=*/false), "\xC3\xA9");
}

TEST(Tokenizer, SpecialTokensParsedInText) {
  const auto tokenizer = make_tokenizer(tiny_spm_spec());
  const std::vector<int32_t> ids = tokenizer->encode("<s>hi</s>", /*add_special=*/false);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
  EXPECT_TRUE(tokenizer->is_special(1));
  EXPECT_FALSE(tokenizer->is_special(ids[1]));
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
}

TEST(Tokenizer, TokenIdOutOfRangeThrows) {
  const auto tokenizer = make_tokenizer(tiny_spm_spec());
  EXPECT_THROW(tokenizer->token_bytes(-1), Error);
  EXPECT_THROW(tokenizer->token_bytes(tokenizer->vocab_size()), Error);
}

TEST(StreamDecoder, HoldsSplitEmojiUntilComplete) {
  const auto tokenizer = make_tokenizer(tiny_spm_spec());
  // U+1F642 "🙂" is F0 9F 99 82, one byte token each.
  std::vector<std::string> pieces;
  const std::string text = stream_all(*tokenizer,
                                      {byte_id(0xF0), byte_id(0x9F), byte_id(0x99), byte_id(0x82)},
                                      /*skip_special=*/false, &pieces);
  EXPECT_EQ(pieces, (std::vector<std::string>{"", "", "", "\xF0\x9F\x99\x82"}));
  EXPECT_EQ(text, "\xF0\x9F\x99\x82");
}

TEST(StreamDecoder, SplitCjkAfterText) {
  const auto tokenizer = make_tokenizer(tiny_spm_spec());
  // "▁hi" then "中" (E4 B8 AD) as byte tokens: the space is stripped once.
  const int32_t hi = tokenizer->token_id("\xE2\x96\x81hi");
  std::vector<std::string> pieces;
  const std::string text = stream_all(*tokenizer, {1, hi, byte_id(0xE4), byte_id(0xB8), byte_id(0xAD), hi},
                                      /*skip_special=*/true, &pieces);
  EXPECT_EQ(pieces, (std::vector<std::string>{"", "hi", "", "", "\xE4\xB8\xAD", " hi"}));
  EXPECT_EQ(text, tokenizer->decode({1, hi, byte_id(0xE4), byte_id(0xB8), byte_id(0xAD), hi}, true));
}

TEST(StreamDecoder, IncompleteBytesBecomeReplacementAtFlush) {
  const auto tokenizer = make_tokenizer(tiny_spm_spec());
  StreamDecoder decoder(*tokenizer, /*skip_special=*/false);
  EXPECT_EQ(decoder.push(byte_id(0xE4)), "");
  EXPECT_EQ(decoder.push(byte_id(0xB8)), "");
  EXPECT_EQ(decoder.flush(), "\xEF\xBF\xBD");
}

TEST(StreamDecoder, ClearlyInvalidByteIsReplacedAtOnce) {
  const auto tokenizer = make_tokenizer(tiny_spm_spec());
  StreamDecoder decoder(*tokenizer, /*skip_special=*/false);
  EXPECT_EQ(decoder.push(byte_id(0xFF)), "\xEF\xBF\xBD");
  // A lead byte followed by a non-continuation byte is invalid as soon as
  // the second byte arrives.
  EXPECT_EQ(decoder.push(byte_id(0xE4)), "");
  EXPECT_EQ(decoder.push(byte_id('A')), "\xEF\xBF\xBD" "A");
  EXPECT_EQ(decoder.flush(), "");
}

TEST(StreamDecoder, MatchesDecodeOnStories) {
  const auto tokenizer = make_tokenizer(gguf_vocab_spec(GgufFile(kStoriesGguf)));
  const std::string text = "Once upon a time, 日本語 🙂 <s> was here.";
  const std::vector<int32_t> ids = tokenizer->encode(text, /*add_special=*/true);
  EXPECT_EQ(stream_all(*tokenizer, ids, /*skip_special=*/true), tokenizer->decode(ids, true));
  EXPECT_EQ(stream_all(*tokenizer, ids, /*skip_special=*/false), tokenizer->decode(ids, false));
}

TEST(Tokenizer, ByteLevelTokenBytes) {
  VocabSpec spec;
  spec.model = "gpt2";
  spec.pre = "gpt2";
  spec.tokens = {"<|endoftext|>", "\xC4\xA0" "a", "a", "\xC4\xA0", "\xC4\x8A"};  // "Ġa", "a", "Ġ", "Ċ"
  spec.token_types = {TokenType::kControl, TokenType::kNormal, TokenType::kNormal, TokenType::kNormal,
                      TokenType::kNormal};
  spec.merges = {{"\xC4\xA0", "a"}};
  spec.add_bos = false;
  const auto tokenizer = make_tokenizer(spec);
  EXPECT_EQ(tokenizer->token_bytes(1), " a");
  EXPECT_EQ(tokenizer->token_bytes(4), "\n");
  EXPECT_EQ(tokenizer->encode("a a\n<|endoftext|>", /*add_special=*/true), (std::vector<int32_t>{2, 1, 4, 0}));
  EXPECT_EQ(tokenizer->decode({2, 1, 4, 0}, /*skip_special=*/true), "a a\n");
}

TEST(Tokenizer, UnsupportedModelThrows) {
  VocabSpec spec;
  spec.model = "bert";
  spec.tokens = {"a"};
  EXPECT_THROW(make_tokenizer(spec), Error);
  spec.model = "gpt2";
  spec.pre = "no-such-pre";
  EXPECT_THROW(make_tokenizer(spec), Error);
}

}  // namespace
}  // namespace swiftkv
