// Compares our tokenizers with Hugging Face `tokenizers` on the goldens of
// scripts/reference/gen_tokenizer_goldens.py.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/gguf_checkpoint.h"
#include "formats/llama2c.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {
namespace {

const std::string kSourceDir = SWIFTKV_SOURCE_DIR;
const std::string kGoldenDir = kSourceDir + "/tests/golden/tokenizer/";
const std::string kStoriesDir = "/work/shared/models/stories260K/";
const std::string kSmolGguf = kSourceDir + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

nlohmann::json load_cases(const std::string& name) {
  return nlohmann::json::parse(read_text(kGoldenDir + name))["cases"];
}

// Checks encode (with and without special tokens) and decode on every case.
void expect_matches_golden(const Tokenizer& tokenizer, const nlohmann::json& cases, bool check_decode) {
  int failures = 0;
  for (const nlohmann::json& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> ids = tokenizer.encode(text, /*add_special=*/false);
    EXPECT_EQ(ids, expected) << "encode of '" << text << "'";
    if (c.contains("ids_with_special")) {
      EXPECT_EQ(tokenizer.encode(text, /*add_special=*/true), c["ids_with_special"].get<std::vector<int32_t>>())
          << "encode with special tokens of '" << text << "'";
    }
    if (check_decode) {
      EXPECT_EQ(tokenizer.decode(expected, /*skip_special=*/false), c["decoded"].get<std::string>())
          << "decode of '" << text << "'";
      EXPECT_EQ(tokenizer.decode(expected, /*skip_special=*/true), c["decoded_skip_special"].get<std::string>())
          << "decode skipping special tokens of '" << text << "'";
    }
    if (ids != expected && ++failures > 20) FAIL() << "stopping after 20 mismatched strings";
  }
}

TEST(TokenizerGolden, StoriesFromHfJson) {
  VocabSpec spec;
  spec.tokenizer_json = read_text(kGoldenDir + "stories260k_tokenizer.json");
  expect_matches_golden(*make_tokenizer(spec), load_cases("stories260k.json"), /*check_decode=*/true);
}

TEST(TokenizerGolden, StoriesFromGgufTables) {
  const GgufFile gguf(kStoriesDir + "stories260Ktok512.gguf");
  expect_matches_golden(*make_tokenizer(gguf_vocab_spec(gguf)), load_cases("stories260k.json"),
                        /*check_decode=*/true);
}

TEST(TokenizerGolden, StoriesFromExportedJson) {
  const GgufFile gguf(kStoriesDir + "stories260Ktok512.gguf");
  VocabSpec spec;
  spec.tokenizer_json = tokenizer_json_from_vocab(gguf_vocab_spec(gguf)).dump();
  spec.tokenizer_config_json = tokenizer_config_from_vocab(gguf_vocab_spec(gguf)).dump();
  expect_matches_golden(*make_tokenizer(spec), load_cases("stories260k.json"), /*check_decode=*/true);
}

TEST(TokenizerGolden, StoriesFromLlama2cFile) {
  // run.c does not parse special-token text, but ours does, so only
  // strings without "<" are compared.
  const auto tokenizer = make_tokenizer(read_llama2c_tokenizer(kStoriesDir + "tok512.bin", 512));
  nlohmann::json plain = nlohmann::json::array();
  for (const nlohmann::json& c : load_cases("stories260k.json")) {
    if (c["text"].get<std::string>().find('<') == std::string::npos) plain.push_back(c);
  }
  expect_matches_golden(*tokenizer, plain, /*check_decode=*/true);
}

TEST(TokenizerGolden, SmolLM2FromGgufTables) {
  if (!std::filesystem::exists(kSmolGguf)) GTEST_SKIP() << kSmolGguf << " is not present";
  const GgufFile gguf(kSmolGguf);
  expect_matches_golden(*make_tokenizer(gguf_vocab_spec(gguf)), load_cases("smollm2.json"), /*check_decode=*/true);
}

TEST(TokenizerGolden, SmolLM2FromExportedJson) {
  if (!std::filesystem::exists(kSmolGguf)) GTEST_SKIP() << kSmolGguf << " is not present";
  const GgufFile gguf(kSmolGguf);
  VocabSpec spec;
  spec.tokenizer_json = tokenizer_json_from_vocab(gguf_vocab_spec(gguf)).dump();
  spec.tokenizer_config_json = tokenizer_config_from_vocab(gguf_vocab_spec(gguf)).dump();
  expect_matches_golden(*make_tokenizer(spec), load_cases("smollm2.json"), /*check_decode=*/true);
}

}  // namespace
}  // namespace swiftkv
