// Helpers shared by the tests: paths of the models and running the CLI.
#pragma once

#include <string>

namespace swiftkv::testing {

// stories260K files shipped beside the repository.
std::string stories_dir();
// The default model, fetched by scripts/fetch_model.sh (may be absent).
std::string smollm2_gguf();
bool file_exists(const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the swiftkv executable with `args` (a shell-quoted string) and
// `stdin_text` on its standard input.
CommandResult run_swiftkv(const std::string& args, const std::string& stdin_text = "");

// A fresh directory under /tmp, removed by the caller if wanted.
std::string make_temp_dir(const std::string& prefix);

// Shell-quotes one argument.
std::string quote(const std::string& text);

}  // namespace swiftkv::testing
