// The default model through the command line: a chat-formatted question gets
// a coherent answer, chat mode reads turns from stdin, and SwiftKV reports.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace swiftkv {
namespace {

using testing::quote;
using testing::run_swiftkv;

TEST(CliGenerate, SmolLM2AnswersChatQuestion) {
  if (!testing::file_exists(testing::smollm2_gguf())) GTEST_SKIP() << "run scripts/fetch_model.sh first";
  const auto result = run_swiftkv("generate -m " + quote(testing::smollm2_gguf()) +
                                  " --chat -p 'What is the capital of France? Answer in one sentence.' -n 32");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Paris"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("tokens/s"), std::string::npos) << result.err;
}

TEST(CliGenerate, SmolLM2ChatReadsTurnsFromStdin) {
  if (!testing::file_exists(testing::smollm2_gguf())) GTEST_SKIP() << "run scripts/fetch_model.sh first";
  const auto result = run_swiftkv("chat -m " + quote(testing::smollm2_gguf()) + " --temperature 0 -n 24",
                                  "What is the capital of France?\nAnd of Italy?\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Paris"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("Rome"), std::string::npos) << result.out;
}

TEST(CliGenerate, SeedReproducesSampledText) {
  const std::string args = "generate -m " + quote(testing::stories_dir() + "/stories260Ktok512.gguf") +
                           " -p 'Once upon a time' -n 40 --temperature 0.9 --top-p 0.95 --seed ";
  const auto first = run_swiftkv(args + "7");
  const auto again = run_swiftkv(args + "7");
  const auto other = run_swiftkv(args + "8");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, again.out);
  EXPECT_NE(first.out, other.out);
}

TEST(CliGenerate, StopStringEndsOutput) {
  const auto result = run_swiftkv("generate -m " + quote(testing::stories_dir() + "/stories260Ktok512.gguf") +
                                  " -p 'Once upon a time' -n 100 --stop Lily");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Greedy output is ", there was a little girl named Lily. ..." (see the goldens).
  EXPECT_EQ(result.out, ", there was a little girl named \n");
  EXPECT_NE(result.err.find("finish reason: stop"), std::string::npos) << result.err;
}

TEST(CliGenerate, SwiftKVReportsFlopsAndCache) {
  const std::string dir = testing::make_temp_dir("cli_swiftkv_");
  const auto converted = run_swiftkv("convert " + quote(testing::stories_dir() + "/stories260Ktok512.gguf") + " " +
                                     quote(dir + "/m") + " --swiftkv --num-key-value-layers 3 --key-value-group-size 2");
  ASSERT_EQ(converted.exit_code, 0) << converted.err;
  const auto on = run_swiftkv("generate -m " + quote(dir + "/m") + " -p 'Once upon a time' -n 4");
  ASSERT_EQ(on.exit_code, 0) << on.err;
  EXPECT_NE(on.err.find("SwiftKV on, counted"), std::string::npos) << on.err;
  EXPECT_NE(on.err.find("SwiftKV off, from the same shapes"), std::string::npos) << on.err;
  // K + (L - K) / G = 3 + 2 / 2 slots, keys and values of HKV * DH = 32 floats.
  EXPECT_NE(on.err.find("KV cache: 1024 bytes per token (4 slots for 5 layers"), std::string::npos) << on.err;

  const auto off = run_swiftkv("generate -m " + quote(dir + "/m") + " --no-swiftkv -p 'Once upon a time' -n 4");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_NE(off.err.find("KV cache: 1280 bytes per token (5 slots for 5 layers"), std::string::npos) << off.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace swiftkv
