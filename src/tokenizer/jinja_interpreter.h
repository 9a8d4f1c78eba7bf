// Renders a parsed Jinja2 template with a set of global variables.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_ast.h"

namespace swiftkv::jinja {

// Most for-loop iterations in one render, over all loops. Chat templates
// loop once per message or tool, so this only stops runaway templates.
constexpr int64_t kMaxLoopIterations = 1'000'000;
// Most output bytes in one render, also the cap on `'x' * n` strings.
constexpr size_t kMaxOutputBytes = 64u << 20;

// Renders `body`. Throws swiftkv::Error with the line and column for runtime
// errors, and with the template's message for raise_exception().
std::string render_template(const Body& body, std::vector<std::pair<std::string, Value>> variables);

}  // namespace swiftkv::jinja
