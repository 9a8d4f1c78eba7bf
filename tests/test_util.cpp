#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace swiftkv::testing {

std::string stories_dir() { return std::string(SWIFTKV_SOURCE_DIR) + "/../shared/models/stories260K"; }

std::string smollm2_gguf() { return std::string(SWIFTKV_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"; }

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

std::string make_temp_dir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + "XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  const char* made = mkdtemp(buffer.data());
  return made == nullptr ? std::string() : std::string(made);
}

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

CommandResult run_swiftkv(const std::string& args, const std::string& stdin_text) {
  const std::string dir = make_temp_dir("swiftkv_cmd_");
  {
    std::ofstream input(dir + "/in", std::ios::binary);
    input << stdin_text;
  }
  const std::string command = std::string(SWIFTKV_BINARY) + " " + args + " > " + dir + "/out 2> " + dir +
                              "/err < " + dir + "/in";
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(dir + "/out");
  result.err = read_file(dir + "/err");
  std::filesystem::remove_all(dir);
  return result;
}

}  // namespace swiftkv::testing
