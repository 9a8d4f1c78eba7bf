// Bad input given to the command line ends with one "error:" line that names
// the file or value, and with exit code 1 instead of a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_util.h"

namespace swiftkv {
namespace {

using testing::quote;
using testing::run_swiftkv;
using testing::stories_dir;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// Checks the failure shape and returns the error line.
std::string expect_one_line_error(const testing::CommandResult& result, const std::string& must_contain) {
  EXPECT_EQ(result.exit_code, 1) << result.err;
  std::istringstream lines(result.err);
  std::string line, error_line;
  int error_lines = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("error: ", 0) == 0) {
      ++error_lines;
      error_line = line;
    }
  }
  EXPECT_EQ(error_lines, 1) << result.err;
  EXPECT_NE(error_line.find(must_contain), std::string::npos) << "'" << must_contain << "' not in: " << error_line;
  return error_line;
}

class CliErrors : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::make_temp_dir("cli_errors_"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A converted stories260K directory whose files a test may damage.
  std::string stories_hf_dir() {
    const std::string out = dir_ + "/hf";
    const auto result = run_swiftkv("convert " + quote(stories_dir() + "/stories260Ktok512.gguf") + " " + quote(out));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return out;
  }

  std::string dir_;
};

TEST_F(CliErrors, MissingModelFile) {
  expect_one_line_error(run_swiftkv("generate -m /nonexistent/model.gguf -p hi"), "/nonexistent/model.gguf");
}

TEST_F(CliErrors, TruncatedGguf) {
  const std::string bytes = read_bytes(stories_dir() + "/stories260Ktok512.gguf");
  for (size_t cut : {size_t{3}, size_t{40}, size_t{5000}, bytes.size() / 2, bytes.size() - 1}) {
    const std::string path = dir_ + "/cut" + std::to_string(cut) + ".gguf";
    write_bytes(path, bytes.substr(0, cut));
    expect_one_line_error(run_swiftkv("generate -m " + quote(path) + " -p hi -n 1"), path);
  }
}

TEST_F(CliErrors, TruncatedLlama2cCheckpoint) {
  const std::string path = dir_ + "/short.bin";
  write_bytes(path, read_bytes(stories_dir() + "/stories260K.bin").substr(0, 100000));
  expect_one_line_error(
      run_swiftkv("generate -m " + quote(path) + " --tokenizer " + quote(stories_dir() + "/tok512.bin") + " -p hi"),
      path);
}

TEST_F(CliErrors, SafetensorsHeaderClaimsMoreData) {
  const std::string model = stories_hf_dir();
  const std::string path = model + "/model.safetensors";
  std::string bytes = read_bytes(path);
  write_bytes(path, bytes.substr(0, bytes.size() - 1000));
  expect_one_line_error(run_swiftkv("generate -m " + quote(model) + " -p hi -n 1"), "model.safetensors");
}

TEST_F(CliErrors, UnknownModelType) {
  const std::string model = stories_hf_dir();
  std::string config = read_bytes(model + "/config.json");
  const size_t at = config.find("\"llama\"");
  ASSERT_NE(at, std::string::npos);
  config.replace(at, 7, "\"gpt_neox\"");
  write_bytes(model + "/config.json", config);
  const std::string line = expect_one_line_error(run_swiftkv("generate -m " + quote(model) + " -p hi"), "gpt_neox");
  EXPECT_NE(line.find("config.json"), std::string::npos) << line;
}

TEST_F(CliErrors, ShapeMismatch) {
  const std::string model = stories_hf_dir();
  std::string config = read_bytes(model + "/config.json");
  const size_t at = config.find("\"intermediate_size\": 172");
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, 24, "\"intermediate_size\": 176");
  write_bytes(model + "/config.json", config);
  expect_one_line_error(run_swiftkv("generate -m " + quote(model) + " -p hi"), "shape");
}

TEST_F(CliErrors, KvCacheSmallerThanOneBlock) {
  // 1e-12 of the RAM is a few bytes, far below one block of 16 tokens.
  const auto result = run_swiftkv("serve -m " + quote(stories_dir() + "/stories260Ktok512.gguf") +
                                  " --port 0 --kv-cache-memory 1e-12");
  const std::string line = expect_one_line_error(result, "--kv-cache-memory");
  EXPECT_NE(line.find("less than one block"), std::string::npos) << line;
}

TEST_F(CliErrors, PromptLongerThanContext) {
  std::string prompt;
  for (int i = 0; i < 40; ++i) prompt += "Once upon a time there was a cat. ";
  const auto result = run_swiftkv("generate -m " + quote(stories_dir() + "/stories260Ktok512.gguf") +
                                  " --ctx-size 64 -p " + quote(prompt));
  const std::string line = expect_one_line_error(result, "context");
  EXPECT_NE(line.find("64"), std::string::npos) << line;
}

TEST_F(CliErrors, OutOfRangeSamplingValue) {
  const auto result = run_swiftkv("generate -m " + quote(stories_dir() + "/stories260Ktok512.gguf") +
                                  " --top-p 1.5 -p hi");
  expect_one_line_error(result, "1.5");
}

TEST_F(CliErrors, InvalidSwiftKVLayers) {
  const std::pair<const char*, const char*> cases[] = {
      {"--num-key-value-layers 5", "invalid"},
      {"--num-key-value-layers -1", "invalid"},
      {"--num-key-value-layers 2 --key-value-group-size 2", "invalid"},
      {"", "needs --num-key-value-layers"},
  };
  for (const auto& [flags, message] : cases) {
    const auto result = run_swiftkv("convert " + quote(stories_dir() + "/stories260Ktok512.gguf") + " " +
                                    quote(dir_ + "/out") + " --swiftkv " + flags);
    expect_one_line_error(result, message);
  }
}

TEST_F(CliErrors, NoSwiftKVOnOrdinaryModelIsHarmless) {
  const auto result = run_swiftkv("generate -m " + quote(stories_dir() + "/stories260Ktok512.gguf") +
                                  " --no-swiftkv -p hi -n 2");
  EXPECT_EQ(result.exit_code, 0) << result.err;
}

}  // namespace
}  // namespace swiftkv
