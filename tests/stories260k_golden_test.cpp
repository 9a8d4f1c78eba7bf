// stories260K greedy output must be byte-identical to what llama2.c run.c
// printed, for the llama2.c file, the GGUF file and our converted directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "formats/checkpoint.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {
namespace {

using testing::quote;
using testing::run_swiftkv;
using testing::stories_dir;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct GoldenCase {
  const char* file;
  const char* prompt;
  int steps;  // llama2.c positions, BOS included
};

const GoldenCase kCases[] = {
    {"once-upon-a-time.txt", "Once upon a time", 200},
    {"lily-and-tom.txt", "Lily and Tom went to the park", 200},
    {"empty-prompt.txt", "", 256},
};

// llama2.c runs one forward per position 0..steps-1 and prints the token
// each one yields. The first P - 1 of those are the forced prompt tokens.
int new_tokens_for(const GoldenCase& golden) {
  const Checkpoint checkpoint = load_checkpoint(stories_dir() + "/stories260K.bin", stories_dir() + "/tok512.bin");
  const auto tokenizer = make_tokenizer(checkpoint.vocab);
  const int prompt_tokens = static_cast<int>(tokenizer->encode(golden.prompt, /*add_special=*/true).size());
  return golden.steps - prompt_tokens + 1;
}

void expect_goldens(const std::string& model_args) {
  for (const GoldenCase& golden : kCases) {
    // The float32 reference path; bf16 rounding may flip a near-tie in 200 tokens.
    const std::string args = "generate " + model_args + " --weights f32 --echo --ctx-size 512 -n " +
                             std::to_string(new_tokens_for(golden)) + " -p " + quote(golden.prompt);
    const auto result = run_swiftkv(args);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, read_text(stories_dir() + "/golden/" + golden.file)) << golden.file;
  }
}

TEST(Stories260KGolden, Llama2cCheckpoint) {
  expect_goldens("-m " + quote(stories_dir() + "/stories260K.bin") + " --tokenizer " +
                 quote(stories_dir() + "/tok512.bin"));
}

TEST(Stories260KGolden, GgufFile) { expect_goldens("-m " + quote(stories_dir() + "/stories260Ktok512.gguf")); }

TEST(Stories260KGolden, ConvertedDirectories) {
  const std::string out = testing::make_temp_dir("stories_hf_");
  const auto from_bin = run_swiftkv("convert " + quote(stories_dir() + "/stories260K.bin") + " " +
                                    quote(out + "/from_bin") + " --tokenizer " + quote(stories_dir() + "/tok512.bin"));
  ASSERT_EQ(from_bin.exit_code, 0) << from_bin.err;
  expect_goldens("-m " + quote(out + "/from_bin"));

  const auto from_gguf =
      run_swiftkv("convert " + quote(stories_dir() + "/stories260Ktok512.gguf") + " " + quote(out + "/from_gguf"));
  ASSERT_EQ(from_gguf.exit_code, 0) << from_gguf.err;
  expect_goldens("-m " + quote(out + "/from_gguf"));
  std::filesystem::remove_all(out);
}

}  // namespace
}  // namespace swiftkv
